# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech_image filter: Ansible errors, service dicts, warnings, docs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.filter import image as image_filter
from ansible_collections.speechops.speech.plugins.filter.image import FilterModule, speech_image

MCR = "mcr.microsoft.com/azure-cognitive-services/speechservices/"
FILTER_DIR = Path(image_filter.__file__).resolve().parent
FILTER_NAMES = ("speech_image",)


@pytest.fixture
def shown_warnings(monkeypatch):
    collected = []
    monkeypatch.setattr(image_filter.display, "warning", collected.append)
    return collected


def test_filter_module_exposes_the_filter():
    filters = FilterModule().filters()
    assert sorted(filters) == sorted(FILTER_NAMES)
    assert filters["speech_image"] is speech_image


def test_speech_image_from_a_kind_name():
    assert speech_image("speech-to-text", version="5.1.0", locale="en-US") == MCR + "speech-to-text:5.1.0-amd64-en-us"


# An example fleet's services.
EXAMPLE_SERVICES = [
    ({"name": "stt-en-us", "kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "replicas": 3}, "speech-to-text:5.1.0-amd64-en-us"),
    ({"name": "tts-aria", "kind": "neural-text-to-speech", "voice": "en-US-AriaNeural", "replicas": 2}, "neural-text-to-speech:4.1.0-amd64-en-us-arianeural"),
    ({"name": "lid", "kind": "language-detection", "replicas": 1}, "language-detection:1.18.0-amd64-preview"),
    ({"name": "cstt-contoso", "kind": "custom-speech-to-text", "model_id": "abc", "replicas": 1}, "custom-speech-to-text:5.1.0-amd64"),
]


@pytest.mark.parametrize("service, tail", EXAMPLE_SERVICES, ids=[case[0]["name"] for case in EXAMPLE_SERVICES])
def test_speech_image_from_a_service_dict_ignores_other_keys(service, tail):
    assert speech_image(service) == MCR + tail


def test_service_fields_win_over_keyword_defaults():
    service = {"kind": "speech-to-text", "version": "4.12.0", "registry": "own.example.com"}
    image = speech_image(service, version="5.1.0", registry="fleet.example.com", locale="de-DE")
    assert image == "own.example.com/azure-cognitive-services/speechservices/speech-to-text:4.12.0-amd64-de-de"


def test_keyword_registry_fills_in_for_services_without_one():
    assert speech_image({"kind": "language-detection"}, registry="reg.local:5000").startswith("reg.local:5000/azure-cognitive-services/")


def test_null_service_fields_fall_back_to_defaults():
    assert speech_image({"kind": "speech-to-text", "version": None, "locale": None}) == MCR + "speech-to-text:5.1.0-amd64-en-us"


def test_details_returns_parts_and_warnings():
    resolved = speech_image("neural-text-to-speech", voice="en-us-jennyneural", details=True)
    assert resolved["image"] == MCR + "neural-text-to-speech:4.1.0-amd64-en-us-jennyneural"
    assert resolved["ssml_voice"] == "en-US-JennyNeural"
    assert resolved["warnings"] == []


@pytest.mark.parametrize("service, kwargs, fragments", [
    ("speech-to-txt", {}, ["speech_image: kind: 'speech-to-txt' is not a Speech container kind", "did you mean speech-to-text"]),
    ({"name": "stt-uk", "kind": "speech-to-text", "locale": "en-UK"}, {},
     ["speech_image: service stt-uk: locale: en-UK is not a known speech-to-text locale", "near matches: en-US", "speech_allow_unknown_tags"]),
    ({"name": "tts", "kind": "neural-text-to-speech", "voice": "en-US-AryaNeural"}, {}, ["service tts: voice: en-US-AryaNeural", "en-US-AriaNeural"]),
    ("neural-text-to-speech", {"voice": "en-US-AriaNeural", "locale": "de-DE"}, ["locale: de-DE does not match voice en-US-AriaNeural"]),
    ("speech-to-text", {"version": "5.1"}, ["version: '5.1' has two parts"]),
    ({"name": "nokind", "replicas": 1}, {}, ["kind: the service has no kind", "speech-to-text"]),
    (42, {}, ["input must be a kind name or a service dict", "int"]),
])
def test_speech_image_errors_are_filter_errors_naming_the_field(service, kwargs, fragments):
    with pytest.raises(AnsibleFilterError) as excinfo:
        speech_image(service, **kwargs)
    for fragment in fragments:
        assert fragment in str(excinfo.value.message)


def test_allow_unknown_turns_the_error_into_a_displayed_warning(shown_warnings):
    image = speech_image({"name": "stt-fil", "kind": "speech-to-text", "locale": "fil-PH"}, allow_unknown=True)
    assert image == MCR + "speech-to-text:5.1.0-amd64-fil-ph"
    assert len(shown_warnings) == 1
    assert shown_warnings[0].startswith("speech_image: service stt-fil: locale: fil-PH is not a known speech-to-text locale")


def test_string_false_for_allow_unknown_is_false():
    with pytest.raises(AnsibleFilterError, match="locale: fil-PH is not a known"):
        speech_image("speech-to-text", locale="fil-PH", allow_unknown="false")
    assert speech_image("speech-to-text", locale="fil-PH", allow_unknown="yes").endswith("-fil-ph")


def test_non_boolean_option_is_a_filter_error_naming_it():
    with pytest.raises(AnsibleFilterError, match="speech_image: allow_unknown: 'maybe' is not a boolean"):
        speech_image("speech-to-text", allow_unknown="maybe")


def test_retired_kind_shows_a_warning(shown_warnings):
    speech_image("text-to-speech")
    assert len(shown_warnings) == 1 and "retired" in shown_warnings[0]


def test_known_inputs_show_no_warning(shown_warnings):
    speech_image("speech-to-text")
    assert shown_warnings == []


@pytest.mark.parametrize("name", FILTER_NAMES)
def test_each_filter_has_a_sidecar_doc(name):
    docs = yaml.safe_load((FILTER_DIR / (name + ".yml")).read_text())
    assert docs["DOCUMENTATION"]["name"] == name
    assert "_input" in docs["DOCUMENTATION"]["options"]
    assert "speechops.speech." + name in docs["EXAMPLES"]
    assert "_value" in docs["RETURN"]


def test_speech_image_doc_lists_every_keyword_option():
    options = yaml.safe_load((FILTER_DIR / "speech_image.yml").read_text())["DOCUMENTATION"]["options"]
    assert set(options) == {"_input", "version", "locale", "voice", "registry", "preview", "allow_unknown", "details"}
