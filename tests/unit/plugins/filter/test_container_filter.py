# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The container filters wrap module_utils/container_spec.py and have sidecar docs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.filter import container as container_filter
from ansible_collections.speechops.speech.plugins.filter.container import (
    FilterModule, speech_config_files, speech_container_spec, speech_run_hash)
from ansible_collections.speechops.speech.plugins.module_utils.container_spec import SECRET_SETTINGS, env_file_content

CONTAINER = {"name": "speech-lid-1", "service": "lid", "kind": "language-detection", "image": "r/lid:1", "host_port": 5100,
             "container_port": 5003, "cpus": 1.0, "memory_mb": 1024, "settings": {}, "labels": {"speechops.managed": "true"}}


def test_filters_are_exposed_and_documented():
    assert FilterModule().filters() == {"speech_container_spec": speech_container_spec, "speech_config_files": speech_config_files,
                                        "speech_run_hash": speech_run_hash}
    docs = yaml.safe_load((Path(container_filter.__file__).parent / "speech_container_spec.yml").read_text())
    assert docs["DOCUMENTATION"]["name"] == "speech_container_spec"
    assert set(docs["DOCUMENTATION"]["options"]) >= {"_input", "billing_endpoint", "http_proxy", "disconnected", "license_dir"}
    for name in ("speech_config_files", "speech_run_hash"):
        docs = yaml.safe_load((Path(container_filter.__file__).parent / (name + ".yml")).read_text())
        assert docs["DOCUMENTATION"]["name"] == name and "secrets" in docs["DOCUMENTATION"]["options"]


def test_config_files_and_env_file_carry_the_secret_only_in_the_env_content():
    spec = speech_container_spec(CONTAINER, billing_endpoint="https://x.cognitiveservices.azure.com/")
    result = speech_config_files([spec], {"ApiKey": "k" * 32, "HTTP_PROXY_CREDS": ""})
    env = [item for item in result["files"] if item["path"].endswith("/env")]
    assert len(env) == 1 and "ApiKey=" + "k" * 32 in env[0]["content"]
    assert env[0]["content"] == env_file_content(spec, {"ApiKey": "k" * 32})
    assert "k" * 32 not in repr(result["directories"]) + repr([item for item in result["files"] if item not in env])
    with pytest.raises(AnsibleFilterError, match="ApiKey"):
        speech_config_files([spec], {"ApiKey": ""})
    with pytest.raises(AnsibleFilterError, match="list of run specs"):
        speech_config_files(spec, {"ApiKey": "k"})


RUNS = [{"name": "license-speech-to-text", "image": "r/stt:1", "mounts": [{"type": "bind", "source": "/l", "target": "/license"}],
         "env": {"Eula": "accept", "Billing": "https://x.cognitiveservices.azure.com/", "DownloadLicense": "True"}},
        {"name": "diagnostics", "image": "r/diagnostic:latest", "env": {"Eula": "accept", "Billing": "https://x/"}}]


def test_one_shot_runs_get_a_root_only_folder_and_env_file_each_with_the_key():
    result = speech_config_files(RUNS, {"ApiKey": "k" * 32, "HTTP_PROXY_CREDS": "unused"}, config_dir="/etc/so")
    # what roles/speech_jobs/tasks/run_once.yml wrote for each run before, now in one call
    assert result["directories"] == [{"path": "/etc/so", "mode": "0700"}, {"path": "/etc/so/license-speech-to-text", "mode": "0700"},
                                     {"path": "/etc/so/diagnostics", "mode": "0700"}]
    assert [(item["path"], item["mode"]) for item in result["files"]] == [("/etc/so/license-speech-to-text/env", "0600"),
                                                                          ("/etc/so/diagnostics/env", "0600")]
    for run, item in zip(RUNS, result["files"]):
        assert item["content"] == env_file_content(dict(run, secret_settings=["ApiKey"]), {"ApiKey": "k" * 32})
        assert item["content"].endswith("\nApiKey=" + "k" * 32 + "\n") and "unused" not in item["content"]
        assert item["secrets"] == list(SECRET_SETTINGS)
    assert "/var/lib/speechops" not in repr(result)


PROXY = {"http_proxy": "http://proxy.corp:3128", "http_proxy_creds": True, "no_proxy": ["billing.internal"],
         "billing_endpoint": "https://x.cognitiveservices.azure.com/"}


def test_one_shot_runs_go_through_the_fleets_proxy_with_its_credentials_in_the_env_file():
    result = speech_config_files(RUNS, {"ApiKey": "k" * 32, "HTTP_PROXY_CREDS": "user:pw"}, options=PROXY)
    for item in result["files"]:
        lines = item["content"].splitlines()
        assert "HTTP_PROXY=http://proxy.corp:3128" in lines
        # the containers' own internal gRPC must not go to the proxy (contract 4.1)
        assert "NO_PROXY=localhost,127.0.0.1,billing.internal" in lines
        assert lines[-2:] == ["ApiKey=" + "k" * 32, "HTTP_PROXY_CREDS=user:pw"]
    with pytest.raises(AnsibleFilterError, match="needs HTTP_PROXY_CREDS, which is empty"):
        speech_config_files(RUNS, {"ApiKey": "k"}, options=PROXY)


def test_one_shot_runs_without_a_proxy_get_no_proxy_settings():
    result = speech_config_files(RUNS, {"ApiKey": "k", "HTTP_PROXY_CREDS": "user:pw"},
                                 options={"billing_endpoint": "https://x/", "http_proxy": None, "http_proxy_creds": False})
    assert all("PROXY" not in item["content"] for item in result["files"])


@pytest.mark.parametrize("specs, secrets, message", [
    (RUNS, {"ApiKey": ""}, "license-speech-to-text needs ApiKey, which is empty"),
    ([{"name": "x", "env": {"A": "1\n2"}}], {"ApiKey": "k"}, "a setting holds a line break: A"),
    ([{"name": "x"}], {"ApiKey": "k"}, "one-shot run 0 needs a name"),
])
def test_one_shot_runs_name_what_is_wrong(specs, secrets, message):
    with pytest.raises(AnsibleFilterError, match=message):
        speech_config_files(specs, secrets)


def test_run_specs_and_one_shot_runs_do_not_mix():
    spec = speech_container_spec(CONTAINER, billing_endpoint="https://x.cognitiveservices.azure.com/")
    with pytest.raises(AnsibleFilterError, match="either run specs .* or one-shot runs .*, not both: diagnostics has no env_file"):
        speech_config_files([spec, RUNS[1]], {"ApiKey": "k"})


def test_no_run_spec_still_gives_the_configuration_and_data_folders():
    assert [item["path"] for item in speech_config_files([], {"ApiKey": "k"})["directories"]] == ["/etc/speechops", "/var/lib/speechops"]


def test_truthy_secret_flags_become_booleans():
    spec = speech_container_spec(CONTAINER, billing_endpoint="https://x.cognitiveservices.azure.com/", http_proxy="http://p:3128",
                                 http_proxy_creds="yes-there-is-one")
    assert spec["secret_settings"] == ["ApiKey", "HTTP_PROXY_CREDS"] and "yes-there-is-one" not in repr(spec)


@pytest.mark.parametrize("container, options, message", [
    ("speech-lid-1", {}, "expects a planned container"),
    (CONTAINER, {}, "billing_endpoint is required"),
    ({"name": "x"}, {"billing_endpoint": "https://x/"}, "the planned container has no service"),
])
def test_errors_name_the_input(container, options, message):
    with pytest.raises(AnsibleFilterError, match=message):
        speech_container_spec(container, **options)


def test_run_hash_labels_each_spec_and_names_what_is_wrong():
    spec = speech_container_spec(CONTAINER, billing_endpoint="https://x.cognitiveservices.azure.com/")
    labelled = speech_run_hash([spec], {"ApiKey": "k" * 32}, {"restart_policy": "unless-stopped"})
    assert set(labelled[0]["labels"]) == set(spec["labels"]) | {"speechops.run_hash"} and "k" * 32 not in repr(labelled)
    with pytest.raises(AnsibleFilterError, match="ApiKey"):
        speech_run_hash([spec], {}, {})
    with pytest.raises(AnsibleFilterError, match="run specs"):
        speech_run_hash([{"name": "x"}], {"ApiKey": "k"}, {})
