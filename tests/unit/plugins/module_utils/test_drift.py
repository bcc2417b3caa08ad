# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The no-op path's drift checks: host_facts' trees read from a real folder, compared with what a role would write;
containers compared by their run hash, image, limits and state."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.speechops.speech.plugins.module_utils import drift
from ansible_collections.speechops.speech.plugins.module_utils import host_facts as hf
from ansible_collections.speechops.speech.plugins.module_utils.container_spec import RUN_HASH_LABEL, run_spec, with_run_hash

KEY = "0123456789abcdef0123456789abcdef"


def written(root, wanted):
    """Write ``wanted`` on disk as config_files would."""
    for item in wanted["directories"]:
        os.makedirs(item["path"], exist_ok=True)
        os.chmod(item["path"], int(item["mode"], 8))
    for item in wanted["files"]:
        with open(item["path"], "w", encoding="utf-8") as handle:
            handle.write(item["content"])
        os.chmod(item["path"], int(item["mode"], 8))


@pytest.fixture(name="tree")
def tree_fixture(tmp_path):
    root = str(tmp_path / "etc")
    wanted = {
        "directories": [{"path": root, "mode": "0755"}, {"path": root + "/certs.d/registry:5000", "mode": "0755"}],
        "files": [{"path": root + "/daemon.json", "mode": "0644", "content": '{"live-restore": true}\n'},
                  {"path": root + "/certs.d/registry:5000/ca.crt", "mode": "0600", "content": "-----BEGIN CERT-----\n"}],
        "absent": [root + "/proxy.conf"],
    }
    written(root, wanted)
    return root, wanted


def read(root, depth=3, checksums=True):
    return hf.tree_facts([{"path": root, "depth": depth, "checksums": checksums}])


def test_a_tree_written_as_wanted_has_no_drift(tree):
    root, wanted = tree
    facts = read(root)
    assert facts["file_trees"] == [{"path": root, "depth": 3, "checksums": True, "complete": True}]
    assert drift.files_drift(wanted, facts) == []


@pytest.mark.parametrize("change, expected", [
    ("content", "/daemon.json"),
    ("mode", "/certs.d/registry:5000/ca.crt"),
    ("missing", "/daemon.json"),
    ("directory_mode", "/certs.d/registry:5000"),
    ("absent_present", "/proxy.conf"),
])
def test_each_change_on_the_host_is_the_one_path_listed(tree, change, expected):
    root, wanted = tree
    if change == "content":
        with open(root + "/daemon.json", "a", encoding="utf-8") as handle:
            handle.write(" ")
    elif change == "mode":
        os.chmod(root + "/certs.d/registry:5000/ca.crt", 0o644)
    elif change == "missing":
        os.unlink(root + "/daemon.json")
    elif change == "directory_mode":
        os.chmod(root + "/certs.d/registry:5000", 0o700)
    else:
        with open(root + "/proxy.conf", "w", encoding="utf-8") as handle:
            handle.write("[Service]\n")
    assert drift.files_drift(wanted, read(root)) == [root + expected]


def test_an_owner_by_name_or_number_and_the_default_owner_are_compared(tree):
    root, wanted = tree
    facts = read(root)
    entry = facts["files"][root + "/daemon.json"]
    for owner, differs in ((entry["owner"], False), (str(entry["uid"]), False), (None, False),
                           ("nobody-" + entry["owner"], True), (str(entry["uid"] + 1), True)):
        item = dict(wanted["files"][0], owner=owner)
        assert drift.files_drift({"files": [item]}, facts) == ([item["path"]] if differs else [])
    other_user = dict(facts, file_user={"uid": entry["uid"] + 1, "gid": entry["gid"]})
    assert drift.files_drift({"files": [wanted["files"][0]]}, other_user) == [wanted["files"][0]["path"]]


def test_what_the_facts_cannot_vouch_for_is_listed(tree, monkeypatch):
    root, wanted = tree
    everything = [item["path"] for item in wanted["directories"] + wanted["files"]] + wanted["absent"]
    assert drift.files_drift(wanted, None) == everything
    # too shallow: the CA and its folder are not read
    assert drift.files_drift(wanted, read(root, depth=1)) == [root + "/certs.d/registry:5000", root + "/certs.d/registry:5000/ca.crt"]
    # no checksums: every file
    assert drift.files_drift(wanted, read(root, checksums=False)) == [item["path"] for item in wanted["files"]]
    # another tree
    assert drift.files_drift(wanted, read(root + "/certs.d")) == everything[:1] + everything[2:3] + everything[4:]
    monkeypatch.setattr(hf, "MAX_TREE_ENTRIES", 2)
    cut_short = read(root)
    assert cut_short["file_trees"][0]["complete"] is False
    assert drift.files_drift(wanted, cut_short) == everything


def test_a_symbolic_link_is_not_followed(tree):
    root, wanted = tree
    os.unlink(root + "/daemon.json")
    os.symlink(root + "/certs.d/registry:5000/ca.crt", root + "/daemon.json")
    facts = read(root)
    assert facts["files"][root + "/daemon.json"]["type"] == "other"
    assert root + "/daemon.json" in drift.files_drift(wanted, facts)


STT = {"name": "speech-stt-1", "service": "stt", "kind": "speech-to-text", "image": "registry:5000/stt:5.1.0-amd64-en-us",
       "host_port": 5100, "container_port": 5000, "cpus": 1.5, "memory_mb": 2048,
       "labels": {"speechops.managed": "true", "speechops.plan_hash": "abc"}}
OPTIONS = {"billing_endpoint": "https://contoso.cognitiveservices.azure.com/", "api_key_name": "primary"}
RUN_OPTIONS = {"restart_policy": "unless-stopped", "log_driver": "json-file"}
IMAGE_ID = "sha256:" + "1" * 64


def spec(key=KEY, container=None, run_options=None):
    return with_run_hash([run_spec(container or STT, OPTIONS)], {"ApiKey": key}, run_options or RUN_OPTIONS)[0]


def inspected(labelled, changes=None):
    """`docker inspect` of the container docker_container created from ``labelled``, then ``changes``
    ({"Section__Field" or "Section": value})."""
    inspect = {"Name": "/" + labelled["name"], "Image": IMAGE_ID, "State": {"Running": True},
               "Config": {"Labels": labelled["labels"]},
               "HostConfig": {"NanoCpus": int(labelled["cpus"] * 1e9), "Memory": 2048 * 1024 * 1024,
                              "RestartPolicy": {"Name": "unless-stopped"}}}
    for path, value in (changes or {}).items():
        section, field = path.split("__", 1) if "__" in path else (path, "")
        if field:
            inspect[section][field] = value
        else:
            inspect[section] = value
    return inspect


def container_facts(*inspects):
    facts = hf.container_facts(json.dumps(list(inspects)), [])
    facts["image_ids"] = {STT["image"]: IMAGE_ID}
    return facts


def test_a_container_created_from_its_spec_has_no_drift():
    labelled = spec()
    assert labelled["labels"][RUN_HASH_LABEL] == spec()["labels"][RUN_HASH_LABEL]  # the same inputs, the same hash
    assert drift.containers_drift([labelled], container_facts(inspected(labelled)), "unless-stopped") == []


@pytest.mark.parametrize("changes", [
    {"State__Running": False},
    {"Image": "sha256:" + "2" * 64},
    {"HostConfig__NanoCpus": 2000000000},
    {"HostConfig__Memory": 4096 * 1024 * 1024},
    {"HostConfig__RestartPolicy": {"Name": "always"}},
    {"Config__Labels": {"speechops.managed": "true"}},
], ids=["stopped", "other image", "cpus updated", "memory updated", "restart policy updated", "no run hash"])
def test_a_container_changed_since_it_was_created_is_listed(changes):
    labelled = spec()
    assert drift.containers_drift([labelled], container_facts(inspected(labelled, changes)), "unless-stopped") == ["speech-stt-1"]


@pytest.mark.parametrize("changed", ["key", "cpus", "image", "run options"])
def test_a_new_key_limit_image_or_run_option_changes_the_run_hash(changed):
    before = spec()
    after = {"key": lambda: spec(key=KEY[::-1]),
             "cpus": lambda: spec(container=dict(STT, cpus=2)),
             "image": lambda: spec(container=dict(STT, image="registry:5000/stt:5.2.0-amd64-en-us")),
             "run options": lambda: spec(run_options=dict(RUN_OPTIONS, restart_policy="always"))}[changed]()
    assert after["labels"][RUN_HASH_LABEL] != before["labels"][RUN_HASH_LABEL]
    assert drift.containers_drift([after], container_facts(inspected(before)), "unless-stopped") == ["speech-stt-1"]


def test_the_run_hash_holds_no_secret_and_a_missing_container_or_no_facts_is_listed():
    labelled = spec()
    assert KEY not in str(labelled)
    assert drift.containers_drift([labelled], container_facts(), "unless-stopped") == ["speech-stt-1"]
    assert drift.containers_drift([labelled], None, "unless-stopped") == ["speech-stt-1"]


def test_image_ids_come_with_each_reference():
    output = ("reg/stt\t5.1.0\tsha256:aaa\tsha256:111\n"
              "reg/tts\t<none>\t<none>\tsha256:222\n"
              "<none>\t<none>\t<none>\tsha256:333\n")
    assert hf.parse_image_ids(output) == {"reg/stt:5.1.0": "sha256:111", "reg/stt@sha256:aaa": "sha256:111"}
    assert hf.parse_image_list(output) == ["reg/stt:5.1.0", "reg/stt@sha256:aaa"]
    assert hf.parse_image_ids(None) is None
