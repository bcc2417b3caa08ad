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
from ansible_collections.speechops.speech.plugins.filter.container import FilterModule, speech_config_files, speech_container_spec, speech_env_file

CONTAINER = {"name": "speech-lid-1", "service": "lid", "kind": "language-detection", "image": "r/lid:1", "host_port": 5100,
             "container_port": 5003, "cpus": 1.0, "memory_mb": 1024, "settings": {}, "labels": {"speechops.managed": "true"}}


def test_filters_are_exposed_and_documented():
    assert FilterModule().filters() == {"speech_container_spec": speech_container_spec, "speech_config_files": speech_config_files,
                                        "speech_env_file": speech_env_file}
    docs = yaml.safe_load((Path(container_filter.__file__).parent / "speech_container_spec.yml").read_text())
    assert docs["DOCUMENTATION"]["name"] == "speech_container_spec"
    assert set(docs["DOCUMENTATION"]["options"]) >= {"_input", "billing_endpoint", "http_proxy", "disconnected", "license_dir"}
    for name in ("speech_config_files", "speech_env_file"):
        docs = yaml.safe_load((Path(container_filter.__file__).parent / (name + ".yml")).read_text())
        assert docs["DOCUMENTATION"]["name"] == name and "secrets" in docs["DOCUMENTATION"]["options"]


def test_config_files_and_env_file_carry_the_secret_only_in_the_env_content():
    spec = speech_container_spec(CONTAINER, billing_endpoint="https://x.cognitiveservices.azure.com/")
    result = speech_config_files([spec], {"ApiKey": "k" * 32, "HTTP_PROXY_CREDS": ""})
    env = [item for item in result["files"] if item["path"].endswith("/env")]
    assert len(env) == 1 and "ApiKey=" + "k" * 32 in env[0]["content"]
    assert env[0]["content"] == speech_env_file(spec, {"ApiKey": "k" * 32})
    assert "k" * 32 not in repr(result["directories"]) + repr([item for item in result["files"] if item not in env])
    with pytest.raises(AnsibleFilterError, match="ApiKey"):
        speech_config_files([spec], {"ApiKey": ""})
    with pytest.raises(AnsibleFilterError, match="list of run specs"):
        speech_config_files(spec, {"ApiKey": "k"})


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
