# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech_preflight filter: wiring, argument errors, docs, and a real play with a vaulted key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.filter import preflight as preflight_filter
from ansible_collections.speechops.speech.plugins.filter.preflight import (
    FilterModule, speech_contract, speech_fleet_check, speech_preflight, speech_vip_check)

FILTER_DIR = Path(preflight_filter.__file__).resolve().parent
COLLECTIONS_DIR = Path(__file__).resolve().parents[3].parent / "collections"
SECRET_KEY = "Zq7RkT2mWx9LpV4cNs8HbJ3yFd6GaE1u"
FACTS = {"architecture": "x86_64", "avx2": True, "vcpus_usable": 16.0, "memory_usable_mb": 32768, "clock_mhz": 3000,
         "clock_source": "cpufreq", "docker_data_root": "/var/lib/docker", "disk_free_mb": 50000, "containers": []}
LID = {"name": "speech-lid-1", "service": "lid", "kind": "language-detection", "image": "lid:1", "host_port": 5100, "cpus": 1.0,
       "memory_mb": 1024, "settings": {}}


def test_filter_module_exposes_speech_preflight():
    assert FilterModule().filters() == {"speech_preflight": speech_preflight, "speech_fleet_check": speech_fleet_check,
                                        "speech_contract": speech_contract, "speech_vip_check": speech_vip_check}


def test_sidecar_docs_name_the_filter():
    docs = yaml.safe_load((FILTER_DIR / "speech_preflight.yml").read_text())
    assert docs["DOCUMENTATION"]["name"] == "speech_preflight"
    assert set(docs["DOCUMENTATION"]["options"]) >= {"_input", "containers", "clock_policy", "api_key", "allow_http_billing"}
    assert "_value" in docs["RETURN"] and docs["EXAMPLES"].strip()


def test_returns_the_report_with_its_text():
    report = speech_preflight(FACTS, [LID], host="h1")
    assert report["ok"] is True and report["text"] == "host h1: OK"
    assert report["demand"] == {"cpus": 1.0, "memory_mb": 1024, "model_memory_mb": 0, "disk_mb": 2000 + 2048}


@pytest.mark.parametrize("containers", [{"containers": [LID], "capacity": {}, "allocated": {}}, [LID], (LID,)])
def test_takes_the_plans_host_entry_or_its_container_list(containers):
    assert speech_preflight(FACTS, containers)["demand"]["cpus"] == 1.0


def test_none_means_nothing_planned_but_avx2_still_counts():
    report = speech_preflight(dict(FACTS, avx2=False), None, host="old-xeon")
    assert report["text"].startswith("host old-xeon: FAILED (1 failure, 0 warnings)\n  - [avx2] ")


ARGUMENT_ERRORS = [
    ("facts_none", None, [LID], {}, "speech_preflight: facts (the input): expected the speech_host fact"),
    ("facts_list", [FACTS], [LID], {}, "got list"),
    ("containers_string", FACTS, "speech-lid-1", {}, "speech_preflight: containers: expected the host's planned containers"),
    ("containers_number", FACTS, 3, {}, "containers: expected"),
    ("container_not_a_dict", FACTS, [LID, "x"], {}, "speech_preflight: containers[1]: expected a dict, got str"),
    ("unknown_option", FACTS, [LID], {"reserved_cpu": 1}, "speech_preflight: reserved_cpu: unknown option"),
    ("allow_http_billing_not_bool", FACTS, [LID], {"allow_http_billing": "maybe"}, "speech_preflight: allow_http_billing: 'maybe' is not a boolean"),
    ("reserved_cpus_string", FACTS, [LID], {"reserved_cpus": "2"}, "speech_preflight: reserved_cpus must be a number"),
    ("clock_policy", FACTS, [LID], {"clock_policy": "off"}, "speech_preflight: clock_policy must be one of fail, warn"),
    ("container_cpus", FACTS, [dict(LID, cpus="1")], {}, "speech_preflight: containers[0].cpus must be a number"),
]


@pytest.mark.parametrize("facts, containers, options, fragment", [case[1:] for case in ARGUMENT_ERRORS], ids=[case[0] for case in ARGUMENT_ERRORS])
def test_wrong_input_types_raise_a_filter_error_naming_the_argument(facts, containers, options, fragment):
    with pytest.raises(AnsibleFilterError) as raised:
        speech_preflight(facts, containers, **options)
    assert fragment in str(raised.value)


def test_fleet_inputs_are_checked_when_given():
    report = speech_preflight(FACTS, [LID], eula="accept", billing_endpoint="http://billing-stub:8080/", api_key=SECRET_KEY,
                              allow_http_billing="yes")
    assert report["ok"] and report["warnings"] == []
    report = speech_preflight(FACTS, [LID], eula="accept", billing_endpoint="http://billing-stub:8080/", api_key=SECRET_KEY)
    assert [entry["check"] for entry in report["failures"]] == ["billing_endpoint"]


def test_fleet_check_reports_every_bad_input_once_without_the_key():
    report = speech_fleet_check("yes", "ftp://" + SECRET_KEY.lower() + ".example/", EncryptedString("changeme"))
    assert [entry["check"] for entry in report["failures"]] == ["eula", "billing_endpoint", "api_key"]
    assert report["ok"] is False and report["text"].startswith("fleet inputs: FAILED (3 failures, 0 warnings)")
    report = speech_fleet_check("accept", "https://a.example/", EncryptedString(SECRET_KEY))
    assert report["ok"] is True and [entry["check"] for entry in report["warnings"]] == ["billing_endpoint"]
    assert SECRET_KEY not in repr(report)


def test_fleet_check_redacts_a_key_pasted_as_the_endpoint():
    report = speech_fleet_check("accept", "https://" + SECRET_KEY + ".example/", SECRET_KEY)
    assert SECRET_KEY.lower() not in repr(report).lower() and "<redacted>" in report["text"]


@pytest.mark.parametrize("allow", ["maybe", 2])
def test_fleet_check_names_a_bad_allow_http_billing(allow):
    with pytest.raises(AnsibleFilterError, match="allow_http_billing"):
        speech_fleet_check("accept", "http://10.0.0.1/", SECRET_KEY, allow_http_billing=allow)


class EncryptedString:
    """Stands in for ansible-core's vault value: not a str, decrypts on str()."""

    def __init__(self, plaintext):
        self._plaintext = plaintext

    def __str__(self):
        return self._plaintext

    def __repr__(self):
        return "EncryptedString(<ciphertext>)"


@pytest.mark.parametrize("api_key, failures", [(EncryptedString(SECRET_KEY), []), (EncryptedString("changeme"), ["api_key"])])
def test_vault_values_are_decrypted_before_the_key_check(api_key, failures):
    report = speech_preflight(FACTS, [LID], eula="accept", billing_endpoint="https://x.cognitiveservices.azure.com/", api_key=api_key)
    assert [entry["check"] for entry in report["failures"]] == failures
    assert SECRET_KEY not in repr(report)


def test_a_key_of_the_wrong_type_fails_the_check_without_showing_it():
    numeric_key = 98765432109876543210987654321098
    report = speech_preflight(FACTS, [LID], eula="accept", billing_endpoint="https://x.cognitiveservices.azure.com/", api_key=numeric_key)
    assert [entry["check"] for entry in report["failures"]] == ["api_key"]
    assert str(numeric_key) not in repr(report)


def test_filter_errors_never_carry_the_api_key():
    with pytest.raises(AnsibleFilterError) as raised:
        speech_preflight(FACTS, [LID], api_key=SECRET_KEY, disk_headroom_mb=-5)
    assert SECRET_KEY not in str(raised.value) and SECRET_KEY not in repr(raised.value)


def test_ansible_doc_renders_the_filter():
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    if not ansible_doc.exists():
        pytest.skip("ansible-doc is not installed next to this Python")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_DIR), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(ansible_doc), "-t", "filter", "speechops.speech.speech_preflight"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "clock_policy" in result.stdout and "AVX2" in result.stdout


PLAY = """
- hosts: all
  gather_facts: false
  vars:
    speech_api_key: "{{ vault_speech_api_key }}"
  tasks:
    - ansible.builtin.set_fact:
        report: >-
          {{ speech_host | speechops.speech.speech_preflight(plan_entry, host=inventory_hostname, eula='accept',
             billing_endpoint='https://' ~ speech_api_key ~ '.example/', api_key=speech_api_key) }}
    - ansible.builtin.debug:
        msg: "{{ report.text }}"
    - ansible.builtin.debug:
        var: report
"""


def test_a_vaulted_key_stays_hidden_in_a_real_play_at_vvv(tmp_path):
    """FQCN resolution, 2.19 templating of a !vault value, and the key absent from -vvv output."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "ansible-playbook").exists():
        pytest.skip("ansible-playbook is not installed next to this Python")
    password_file = tmp_path / "vault-pass"
    password_file.write_text("test-password\n")
    encrypted = subprocess.run([str(bin_dir / "ansible-vault"), "encrypt_string", "--vault-password-file", str(password_file),
                                "--name", "vault_speech_api_key", SECRET_KEY], capture_output=True, text=True, timeout=60, check=True).stdout
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(encrypted)
    host_vars = {"ansible_connection": "local", "speech_host": dict(FACTS, avx2=False), "plan_entry": {"containers": [LID]}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"h1": host_vars}}}))
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_DIR), ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    command = [str(bin_dir / "ansible-playbook"), "-vvv", "-i", str(tmp_path / "hosts.yml"), "--vault-password-file", str(password_file),
               str(tmp_path / "play.yml")]
    result = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "host h1: FAILED (1 failure, 1 warning)" in output  # avx2; the endpoint's host is not a Speech one
    assert "points at host <redacted>.example" in output  # the key pasted into the endpoint was scrubbed
    assert SECRET_KEY not in output and SECRET_KEY.lower() not in output
