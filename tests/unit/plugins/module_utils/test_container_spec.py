# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A planned container's run specification: settings, env file, mounts, folders, port, limits."""

from __future__ import annotations

import json

import pytest

from ansible_collections.speechops.speech.plugins.module_utils.container_spec import (
    SECRET_SETTINGS, SpecError, config_files, env_file_content, env_name, run_spec)
from ansible_collections.speechops.speech.plugins.module_utils.plan import build_plan

BILLING = "https://contoso.cognitiveservices.azure.com/"
HOST = {"vcpus_usable": 64, "memory_usable_mb": 262144, "avx2": True, "current": [], "pins": [], "ports_in_use": []}


def planned(service):
    """The first container the real plan makes for one service."""
    plan = build_plan([dict(service, replicas=1)], {"h1": dict(HOST)})
    return plan["hosts"]["h1"]["containers"][0]


STT = {"name": "stt", "kind": "speech-to-text", "locale": "en-US", "settings": {"DECODER_MAX_COUNT": 2}}
CSTT = {"name": "cstt", "kind": "custom-speech-to-text", "model_id": "c0ffee00-0000-4000-8000-000000000001"}
TTS = {"name": "tts", "kind": "neural-text-to-speech", "voice": "en-US-AriaNeural"}
LID = {"name": "lid", "kind": "language-detection"}


def test_connected_stt_gets_eula_billing_its_settings_and_the_api_key_by_name_only():
    spec = run_spec(planned(STT), {"billing_endpoint": BILLING, "log_level": "Warning"})
    assert spec["env"] == {"Billing": BILLING, "DECODER_MAX_COUNT": "2", "Eula": "accept",
                           "Logging__Console__LogLevel__Default": "Warning"}
    assert spec["secret_settings"] == ["ApiKey"]
    assert spec["env_file"] == "/etc/speechops/speech-stt-1/env"
    assert spec["published_ports"] == ["0.0.0.0:5100:5000"] and spec["probe_url"] == "http://127.0.0.1:5100"
    assert spec["probe_target"] == {"name": spec["name"], "url": spec["probe_url"], "kind": spec["description"]["kind"]}
    assert spec["mounts"] == [] and spec["directories"] == []
    assert spec["memory"] == "%dM" % planned(STT)["memory_mb"] and spec["cpus"] == planned(STT)["cpus"]
    assert spec["labels"]["speechops.service"] == "stt" and spec["smoke"] is True and spec["voice"] is None


def test_custom_stt_mounts_its_model_folder_owned_by_the_nonroot_user():
    spec = run_spec(planned(CSTT), {"billing_endpoint": BILLING, "data_dir": "/srv/speech"})
    assert spec["env"]["ModelId"] == CSTT["model_id"]
    assert spec["mounts"] == [{"type": "bind", "source": "/srv/speech/speech-cstt-1/models", "target": "/usr/local/models", "read_only": False}]
    assert spec["directories"] == [{"path": "/srv/speech/speech-cstt-1/models", "owner": 65532, "group": 65532, "mode": "0750", "mount": "models"}]


def test_language_detection_publishes_its_port_5003():
    assert run_spec(planned(LID), {"billing_endpoint": BILLING, "bind_address": "10.0.0.5"})["published_ports"] == ["10.0.0.5:5100:5003"]
    assert run_spec(planned(LID), {"billing_endpoint": BILLING, "bind_address": "10.0.0.5"})["probe_url"] == "http://10.0.0.5:5100"


def test_tts_knows_its_ssml_voice_for_the_smoke_request():
    spec = run_spec(planned(TTS), {"billing_endpoint": BILLING})
    assert spec["voice"] == "en-US-AriaNeural" and spec["smoke"] is True


def test_a_proxy_always_comes_with_no_proxy_for_localhost_and_its_credentials_by_name():
    spec = run_spec(planned(LID), {"billing_endpoint": BILLING, "http_proxy": "http://proxy:3128", "http_proxy_creds": True,
                                   "no_proxy": ["billing.internal", "localhost"]})
    assert spec["env"]["HTTP_PROXY"] == "http://proxy:3128"
    assert spec["env"]["NO_PROXY"] == "localhost,127.0.0.1,billing.internal"
    assert spec["secret_settings"] == ["ApiKey", "HTTP_PROXY_CREDS"]


def test_output_and_disk_logging_mount_output_and_set_its_settings():
    spec = run_spec(planned(STT), {"billing_endpoint": BILLING, "disk_logging": True})
    assert spec["env"]["Mounts__Output"] == "/output" and spec["env"]["Logging__Disk__Format"] == "json"
    assert [mount["target"] for mount in spec["mounts"]] == ["/output"]


def test_disconnected_mode_mounts_the_licence_read_only_and_drops_billing_and_key():
    spec = run_spec(planned(STT), {"disconnected": True, "license_dir": "/var/lib/speechops/licenses"})
    assert "Billing" not in spec["env"] and spec["secret_settings"] == []
    assert spec["env"]["Mounts__License"] == "/license" and spec["env"]["Mounts__Output"] == "/output"
    license_mount = [mount for mount in spec["mounts"] if mount["target"] == "/license"][0]
    assert license_mount == {"type": "bind", "source": "/var/lib/speechops/licenses", "target": "/license", "read_only": True}
    assert "/var/lib/speechops/licenses" not in [folder["path"] for folder in spec["directories"]]


def test_sentiment_key_only_for_containers_that_name_a_text_analytics_host():
    with_host = dict(STT, settings={"CloudAI:SentimentAnalysisSettings:TextAnalyticsHost": "https://ta.example/"})
    assert run_spec(planned(with_host), {"billing_endpoint": BILLING, "sentiment_api_key": True})["secret_settings"][-1].startswith("CloudAI__")
    assert run_spec(planned(STT), {"billing_endpoint": BILLING, "sentiment_api_key": True})["secret_settings"] == ["ApiKey"]


def test_the_description_is_free_of_secrets_and_their_names():
    spec = run_spec(planned(STT), {"billing_endpoint": BILLING, "http_proxy": "http://p:1", "http_proxy_creds": True})
    text = repr(spec["description"])
    assert "ApiKey" not in text and "HTTP_PROXY_CREDS" not in text and spec["description"]["billing_endpoint"] == BILLING


def test_a_url_with_a_password_is_written_from_the_secrets_and_never_held_by_the_spec():
    billing, proxy = "https://billing:Bill1ng-Pw@contoso.example/", "http://proxyuser:Pr0xy-Pw@proxy.example:3128"
    spec = run_spec(planned(STT), {"billing_endpoint": billing, "http_proxy": proxy, "http_proxy_creds": True})
    assert "Bill1ng-Pw" not in json.dumps(spec) and "Pr0xy-Pw" not in json.dumps(spec)
    assert "Billing" not in spec["env"] and "HTTP_PROXY" not in spec["env"]
    assert spec["secret_settings"] == ["ApiKey", "HTTP_PROXY_CREDS", "Billing", "HTTP_PROXY"]
    assert spec["description"]["billing_endpoint"] == "https://billing:<masked>@contoso.example/"
    assert spec["description"]["settings"]["HTTP_PROXY"] == "http://proxyuser:<masked>@proxy.example:3128"
    content = env_file_content(spec, {"ApiKey": "k" * 32, "HTTP_PROXY_CREDS": "proxyuser:pw", "Billing": billing, "HTTP_PROXY": proxy})
    assert "\nBilling=%s\n" % billing in content and "\nHTTP_PROXY=%s\n" % proxy in content
    with pytest.raises(SpecError, match="needs Billing, HTTP_PROXY, which is empty"):
        env_file_content(spec, {"ApiKey": "k" * 32, "HTTP_PROXY_CREDS": "proxyuser:pw"})


def test_a_url_without_a_password_stays_a_setting():
    spec = run_spec(planned(STT), {"billing_endpoint": BILLING, "http_proxy": "http://proxy.example:3128"})
    assert spec["env"]["Billing"] == BILLING and spec["env"]["HTTP_PROXY"] == "http://proxy.example:3128"
    assert spec["secret_settings"] == ["ApiKey"] and spec["description"]["billing_endpoint"] == BILLING


@pytest.mark.parametrize("options, message", [
    ({}, "billing_endpoint is required in connected mode"),
    ({"billing_endpoint": BILLING, "config_dir": "etc"}, "config_dir must be an absolute path"),
    ({"disconnected": True}, "disconnected mode needs license_dir"),
    ({"billing_endpoint": BILLING, "colour": "blue"}, "unknown option"),
    ({"billing_endpoint": BILLING, "log_level": "Debug\nApiKey=x"}, "must be a one-line string"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(SpecError, match=message):
        run_spec(planned(STT), options)


def test_a_kind_without_disconnected_mode_is_refused_in_disconnected_mode():
    with pytest.raises(SpecError, match="has no disconnected mode"):
        run_spec(planned(LID), {"disconnected": True, "license_dir": "/l"})


@pytest.mark.parametrize("setting, name", [("Eula", "Eula"), ("Mounts:Output", "Mounts__Output"),
                                           ("Logging:Console:LogLevel:Default", "Logging__Console__LogLevel__Default")])
def test_env_name_nests_with_double_underscores(setting, name):
    assert env_name(setting) == name


KEY = "0123456789abcdef0123456789abcdef"


def test_config_files_lists_every_folder_and_file_with_its_owner_and_mode():
    specs = [run_spec(planned(CSTT), {"billing_endpoint": BILLING}), run_spec(planned(TTS), {"billing_endpoint": BILLING})]
    result = config_files(specs, "/etc/speechops", "/var/lib/speechops", {"ApiKey": KEY})
    folders = {folder["path"]: (folder["owner"], folder["mode"]) for folder in result["directories"]}
    assert folders["/etc/speechops"] == ("root", "0700") and folders["/var/lib/speechops"] == ("root", "0755")
    for spec in specs:
        assert folders[spec["config_dir"]] == ("root", "0700")
    models = [path for path in folders if path.endswith("/models")]
    assert models and all(folders[path] == ("65532", "0750") for path in models)
    files = {item["path"]: item for item in result["files"]}
    env = files[specs[0]["env_file"]]
    assert env["mode"] == "0600" and env["owner"] == "root"
    assert "ApiKey=%s\n" % KEY in env["content"] and "Eula=accept\n" in env["content"]
    description = files[specs[0]["description_file"]]
    assert description["mode"] == "0644" and KEY not in description["content"]
    assert json.loads(description["content"]) == specs[0]["description"]


def test_env_file_refuses_an_empty_secret_and_a_line_break():
    spec = run_spec(planned(STT), {"billing_endpoint": BILLING})
    with pytest.raises(SpecError, match="ApiKey"):
        env_file_content(spec, {"ApiKey": ""})
    broken = dict(spec, env=dict(spec["env"], Logging__Console__LogLevel__Default="Debug\nApiKey=stolen"))
    with pytest.raises(SpecError, match="line break"):
        env_file_content(broken, {"ApiKey": KEY})


def test_every_file_declares_every_secret_setting_the_env_file_can_carry():
    """The config_files module masks in its diff only what a file declares: every secret setting, always."""
    options = {"billing_endpoint": BILLING, "http_proxy": "http://proxy:3128", "http_proxy_creds": True,
               "application_insights": True, "sentiment_api_key": True}
    sentiment = dict(STT, settings={"CloudAI:SentimentAnalysisSettings:TextAnalyticsHost": "https://ta.example"})
    specs = [run_spec(planned(sentiment), options), run_spec(planned(TTS), {"billing_endpoint": BILLING})]
    assert sorted(specs[0]["secret_settings"]) == sorted(SECRET_SETTINGS)
    values = dict((name, "secret-value-of-" + name) for name in SECRET_SETTINGS)
    result = config_files(specs, "/etc/speechops", "/var/lib/speechops", values)
    for item in result["files"]:
        assert item["secrets"] == list(SECRET_SETTINGS), item["path"]
