# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Image references: every image and tag string of the contract round-trips; bad inputs name their field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils.image_ref import (
    ImageRefError,
    format_image_reference,
    image_reference,
    normalize_locale,
    parse_image_reference,
    resolve_image,
    ssml_locale,
    ssml_voice_name,
    tag_voice_name,
)

MCR = "mcr.microsoft.com/azure-cognitive-services/speechservices/"
LEGACY = "containerpreview.azurecr.io/microsoft/cognitive-services-"

# Every image with a tag the contract shows, with its source ID, and the parts it must parse into:
# (reference, kind, version, locale, voice, preview)
CONTRACT_TAGGED_IMAGES = [
    (MCR + "speech-to-text:4.12.0-amd64-mr-in", "speech-to-text", "4.12.0", "mr-in", None, False),  # A3
    (MCR + "speech-to-text:4.12.0-amd64-zh-cn-sichuan", "speech-to-text", "4.12.0", "zh-cn-sichuan", None, False),  # A3
    (MCR + "speech-to-text:5.1.0-amd64-en-us", "speech-to-text", "5.1.0", "en-us", None, False),  # A2 latest
    (MCR + "speech-to-text:latest", "speech-to-text", "latest", None, None, False),  # A3, H1 image.tag
    (LEGACY + "speech-to-text:2.2.0-amd64-en-us-preview", "speech-to-text", "2.2.0", "en-us", None, True),  # D1
    (MCR + "custom-speech-to-text:4.12.0-amd64", "custom-speech-to-text", "4.12.0", None, None, False),  # A4
    (MCR + "custom-speech-to-text:5.0.0-preview-amd64", "custom-speech-to-text", "5.0.0", None, None, True),  # A4
    (MCR + "custom-speech-to-text:5.0.1-preview-amd64", "custom-speech-to-text", "5.0.1", None, None, True),  # A4
    (MCR + "neural-text-to-speech:3.11.0-amd64-en-us-arianeural", "neural-text-to-speech", "3.11.0", "en-us", "en-us-arianeural", False),  # A5
    (MCR + "neural-text-to-speech:3.11.0-amd64-zh-cn-xiaochenneural-preview",
     "neural-text-to-speech", "3.11.0", "zh-cn", "zh-cn-xiaochenneural", True),  # A5
    (MCR + "neural-text-to-speech:4.1.0-amd64-en-us-arianeural", "neural-text-to-speech", "4.1.0", "en-us", "en-us-arianeural", False),  # A2
    (MCR + "neural-text-to-speech:3.11.0-amd64-uk-ua-ostapneural", "neural-text-to-speech", "3.11.0", "uk-ua", "uk-ua-ostapneural", False),  # A5
    (MCR + "language-detection:1.18.0-amd64-preview", "language-detection", "1.18.0", None, None, True),  # A6
    (MCR + "text-to-speech:latest", "text-to-speech", "latest", None, None, False),  # H1 default image
    (LEGACY + "text-to-speech:1.3.0-amd64-en-us-jessarus-preview", "text-to-speech", "1.3.0", "en-us", "en-us-jessarus", True),  # D1
]
# Tag lists: D5 v3.0.0 STT locales (+ uk-ua at 3.0.1, A3 4.12.0 additions, H2 5.3.0), D5 v2.0.0 NTTS voices, H2 4.6.0 voices.
CONTRACT_TAGGED_IMAGES += [
    (MCR + "speech-to-text:3.0.0-amd64-" + locale, "speech-to-text", "3.0.0", locale, None, False) for locale in catalog._STT_LOCALES_2021
]
CONTRACT_TAGGED_IMAGES += [
    (MCR + "speech-to-text:3.0.1-amd64-uk-ua", "speech-to-text", "3.0.1", "uk-ua", None, False),
] + [
    (MCR + "speech-to-text:4.12.0-amd64-" + locale, "speech-to-text", "4.12.0", locale, None, False)
    for locale in ("sw-tz", "vi-vn", "wuu-cn", "yue-cn", "zu-za", "ta-in", "th-th", "tr-tr", "zh-cn", "zh-hk", "zh-tw")
] + [
    (MCR + "speech-to-text:5.3.0-amd64-" + locale, "speech-to-text", "5.3.0", locale, None, False) for locale in ("hi-in", "ta-in", "te-in", "mr-in")
]
CONTRACT_TAGGED_IMAGES += [
    (MCR + "neural-text-to-speech:2.0.0-amd64-" + voice, "neural-text-to-speech", "2.0.0",
     voice.rsplit("-", 2 if voice.endswith("-preview") else 1)[0], voice.replace("-preview", ""), voice.endswith("-preview"))
    for voice in catalog._NTTS_VOICES_2021
] + [
    (MCR + "neural-text-to-speech:4.6.0-amd64-" + voice, "neural-text-to-speech", "4.6.0", voice.rsplit("-", 1)[0], voice, False)
    for voice in ("en-us-avaneural", "hi-in-swaraneural", "ta-in-pallavineural")
]
# D10 (2019-11): every standard voice of the 1.3.0 table, tags as the page writes them; D1 (2020-05) names 1.4.0.
CONTRACT_TAGGED_IMAGES += [
    (LEGACY + "text-to-speech:{0}-amd64-{1}-preview".format(version, voice), "text-to-speech", version, voice[:5], voice, True)
    for version in ("1.3.0", "1.4.0") for voice in catalog.known_voices("text-to-speech")
] + [
    (LEGACY + "custom-text-to-speech:1.4.0-amd64-preview", "custom-text-to-speech", "1.4.0", None, None, True),  # inferred, no tag shown
]
CONTRACT_TAGGED_IMAGES += [
    (MCR + "custom-speech-to-text:4.{0}.0-amd64".format(minor), "custom-speech-to-text", "4.{0}.0".format(minor), None, None, False)
    for minor in range(13)  # A4 tag list 4.0.0-4.12.0
]

# Images without a tag (1.1): parse and format round-trip.
CONTRACT_UNTAGGED_IMAGES = [MCR + kind for kind in catalog.KINDS] + [
    LEGACY + kind for kind in catalog.KINDS if kind != "language-detection"
]
NOT_SPEECH_IMAGES = [
    "mcr.microsoft.com/azure-cognitive-services/diagnostic",  # A1, A15
    "docker.io/batchkit/speech-batch-kit:latest",  # A11
    "docker.io/antsu/on-prem-client:latest",  # A6, A9
    "mcr.microsoft.com/azure-cognitive-services/textanalytics/sentiment:3.0-en",  # H1
]


def _ids(rows):
    return [row[0].rsplit("/", 1)[-1] for row in rows]


@pytest.mark.parametrize("ref, kind, version, locale, voice, preview", CONTRACT_TAGGED_IMAGES, ids=_ids(CONTRACT_TAGGED_IMAGES))
def test_contract_image_parses_into_its_parts(ref, kind, version, locale, voice, preview):
    parsed = parse_image_reference(ref)
    assert (parsed["kind"], parsed["version"], parsed["locale"], parsed["voice"], parsed["preview"]) == (kind, version, locale, voice, preview)
    assert parsed["legacy"] is ref.startswith(LEGACY)
    assert format_image_reference(parsed) == ref


@pytest.mark.parametrize("ref, kind, version, locale, voice, preview", CONTRACT_TAGGED_IMAGES, ids=_ids(CONTRACT_TAGGED_IMAGES))
def test_contract_image_is_rebuilt_from_its_parts(ref, kind, version, locale, voice, preview):
    parsed = parse_image_reference(ref)
    rebuilt = image_reference(parsed["kind"], version=parsed["version"], locale=parsed["locale"], voice=parsed["voice"],
                              registry=parsed["registry"], preview=parsed["preview"])
    assert rebuilt == ref


@pytest.mark.parametrize("ref", CONTRACT_UNTAGGED_IMAGES)
def test_contract_repository_round_trips(ref):
    parsed = parse_image_reference(ref)
    assert parsed["tag"] is None and parsed["version"] is None
    assert parsed["kind"] in ref
    assert format_image_reference(parsed) == ref


@pytest.mark.parametrize("ref", NOT_SPEECH_IMAGES)
def test_images_that_are_not_speech_containers_are_rejected(ref):
    with pytest.raises(ImageRefError, match="^image: .*is not a Speech container image.*speechservices/<kind>"):
        parse_image_reference(ref)


# --------------------------------------------------------------------------------------------- building


@pytest.mark.parametrize("kwargs, expected", [
    ({"kind": "speech-to-text"}, MCR + "speech-to-text:5.1.0-amd64-en-us"),
    ({"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US"}, MCR + "speech-to-text:5.1.0-amd64-en-us"),
    ({"kind": "speech-to-text", "locale": "ZH-cn-Sichuan"}, MCR + "speech-to-text:5.1.0-amd64-zh-cn-sichuan"),
    ({"kind": "speech-to-text", "version": "latest"}, MCR + "speech-to-text:latest"),
    ({"kind": "speech-to-text", "version": "latest", "locale": "en-US"}, MCR + "speech-to-text:latest"),
    ({"kind": "neural-text-to-speech"}, MCR + "neural-text-to-speech:4.1.0-amd64-en-us-arianeural"),
    ({"kind": "neural-text-to-speech", "voice": "de-DE-KatjaNeural"}, MCR + "neural-text-to-speech:4.1.0-amd64-de-de-katjaneural"),
    ({"kind": "neural-text-to-speech", "voice": "de-de-katjaneural", "locale": "de-DE"}, MCR + "neural-text-to-speech:4.1.0-amd64-de-de-katjaneural"),
    ({"kind": "neural-text-to-speech", "locale": "en-US"}, MCR + "neural-text-to-speech:4.1.0-amd64-en-us-arianeural"),
    ({"kind": "neural-text-to-speech", "voice": "zh-CN-XiaochenNeural"}, MCR + "neural-text-to-speech:4.1.0-amd64-zh-cn-xiaochenneural-preview"),
    ({"kind": "neural-text-to-speech", "version": "latest"}, MCR + "neural-text-to-speech:latest"),
    ({"kind": "custom-speech-to-text"}, MCR + "custom-speech-to-text:5.1.0-amd64"),
    ({"kind": "custom-speech-to-text", "version": "5.0.1", "preview": True}, MCR + "custom-speech-to-text:5.0.1-preview-amd64"),
    ({"kind": "language-detection"}, MCR + "language-detection:1.18.0-amd64-preview"),
    ({"kind": "language-detection", "preview": False}, MCR + "language-detection:1.18.0-amd64"),
    ({"kind": "language-detection", "version": "latest"}, MCR + "language-detection:latest"),
    ({"kind": "text-to-speech"}, MCR + "text-to-speech:1.4.0-amd64-en-us-jessarus-preview"),
    ({"kind": "text-to-speech", "version": "latest"}, MCR + "text-to-speech:latest"),
    ({"kind": "text-to-speech", "version": "1.3.0", "voice": "zh-CN-Kangkang-Apollo"}, MCR + "text-to-speech:1.3.0-amd64-zh-cn-kangkang-apollo-preview"),
    ({"kind": "text-to-speech", "voice": "zh-cn-kangkang-apollo", "locale": "zh-CN"}, MCR + "text-to-speech:1.4.0-amd64-zh-cn-kangkang-apollo-preview"),
    ({"kind": "text-to-speech", "voice": "en-AU-Catherine"}, MCR + "text-to-speech:1.4.0-amd64-en-au-catherine-preview"),
    ({"kind": "text-to-speech", "voice": "de-DE-Hedda", "registry": "containerpreview.azurecr.io"},
     LEGACY + "text-to-speech:1.4.0-amd64-de-de-hedda-preview"),
    ({"kind": "text-to-speech", "registry": "containerpreview.azurecr.io", "version": "1.3.0"},
     LEGACY + "text-to-speech:1.3.0-amd64-en-us-jessarus-preview"),  # D10, D1 example
    ({"kind": "custom-text-to-speech"}, MCR + "custom-text-to-speech:1.4.0-amd64-preview"),
    ({"kind": "custom-text-to-speech", "version": "1.3.0", "preview": False}, MCR + "custom-text-to-speech:1.3.0-amd64"),
    ({"kind": "speech-to-text", "registry": "registry.example.com:5000/"},
     "registry.example.com:5000/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"),
    ({"kind": "speech-to-text", "registry": "localhost:5000/mirror"},
     "localhost:5000/mirror/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"),
    ({"kind": "speech-to-text", "registry": "containerpreview.azurecr.io", "version": "2.2.0", "preview": True},
     LEGACY + "speech-to-text:2.2.0-amd64-en-us-preview"),
])
def test_image_reference(kwargs, expected):
    assert image_reference(**kwargs) == expected


@pytest.mark.parametrize("kind", catalog.KINDS)
def test_default_image_pins_the_latest_version_and_parses_back(kind):
    parsed = parse_image_reference(image_reference(kind))
    assert parsed["kind"] == kind
    assert parsed["version"] == catalog.latest_version(kind)


def test_resolve_image_returns_parts_and_ssml_names():
    resolved = resolve_image("neural-text-to-speech", voice="en-us-jennyneural")
    assert resolved["ssml_voice"] == "en-US-JennyNeural"
    assert resolved["ssml_locale"] == "en-US"
    assert resolved["tag"] == "4.1.0-amd64-en-us-jennyneural"
    assert resolved["warnings"] == []


# --------------------------------------------------------------------------------------------- warnings


def test_retired_kind_builds_with_a_warning_naming_the_date_and_the_replacement():
    warnings = []
    image_reference("text-to-speech", warnings=warnings)
    assert warnings == ["kind: " + catalog.status_warning("text-to-speech")]
    assert warnings[0].startswith("kind: text-to-speech") and "retired by Microsoft on 2021-08-31" in warnings[0]
    assert "neural-text-to-speech" in warnings[0]


def test_legacy_kind_builds_with_a_warning():
    warnings = []
    image_reference("custom-text-to-speech", warnings=warnings)
    assert warnings == ["kind: custom-text-to-speech is legacy: no longer in Microsoft's current pages; last documented in 2021; "
                        "it runs as the 2019 and 2020 pages describe it"]


def test_the_status_warning_can_be_left_to_the_caller():
    assert resolve_image("text-to-speech", status_warning=False)["warnings"] == []


def test_resolve_image_gives_the_standard_voice_in_both_forms():
    resolved = resolve_image("text-to-speech", voice="ZH-cn-kangkang-APOLLO", status_warning=False)
    assert (resolved["voice"], resolved["ssml_voice"], resolved["locale"], resolved["ssml_locale"]) == (
        "zh-cn-kangkang-apollo", "zh-CN-Kangkang-Apollo", "zh-cn", "zh-CN")
    assert resolved["tag"] == "1.4.0-amd64-zh-cn-kangkang-apollo-preview" and resolved["warnings"] == []


@pytest.mark.parametrize("voice", ["zh-CN-Kangkang-Apollo", "en-AU-Catherine", "de-DE-Hedda", "en-US-JessaRUS", "en-US-Jessa24kRUS"])
def test_a_standard_voice_is_known_because_the_table_holds_it(voice):
    resolved = resolve_image("text-to-speech", voice=voice, status_warning=False)
    assert resolved["ssml_voice"] == voice and resolved["warnings"] == []


def test_an_unknown_standard_voice_passes_with_allow_unknown_and_keeps_the_operators_casing():
    resolved = resolve_image("text-to-speech", voice="en-US-AriaRUS", allow_unknown=True, status_warning=False)
    assert resolved["tag"] == "1.4.0-amd64-en-us-ariarus-preview" and resolved["ssml_voice"] == "en-US-AriaRUS"
    assert len(resolved["warnings"]) == 1
    assert resolved["warnings"][0].startswith("voice: en-US-AriaRUS is not a known text-to-speech voice")
    assert "known voices of that locale: en-US-JessaRUS, en-US-BenjaminRUS" in resolved["warnings"][0]


def test_an_unknown_standard_voice_in_tag_form_has_no_ssml_name_and_says_how_to_give_one():
    resolved = resolve_image("text-to-speech", voice="zh-cn-xiaoxiao-apollo", allow_unknown=True, status_warning=False)
    assert resolved["tag"] == "1.4.0-amd64-zh-cn-xiaoxiao-apollo-preview" and resolved["ssml_voice"] is None
    assert "write it with Microsoft's casing" in resolved["warnings"][0]


def test_a_suffix_does_not_make_a_standard_voice_known():
    with pytest.raises(ImageRefError, match="^voice: en-US-FooRUS is not a known text-to-speech voice"):
        resolve_image("text-to-speech", voice="en-US-FooRUS")
    with pytest.raises(ImageRefError, match="^voice: en-US-Kangkang-Apollo is not a known text-to-speech voice"):
        resolve_image("text-to-speech", voice="en-US-Kangkang-Apollo")  # the table holds Kangkang-Apollo for zh-CN only


def test_an_undocumented_version_of_a_legacy_kind_is_an_unknown_tag():
    with pytest.raises(ImageRefError, match=r"^version: text-to-speech 1\.7\.0 is not a version the pages name \(1\.3\.0, 1\.4\.0\).*"
                                            r"speech_allow_unknown_tags"):
        resolve_image("text-to-speech", version="1.7.0")
    resolved = resolve_image("custom-text-to-speech", version="1.7.0", allow_unknown=True, status_warning=False)
    assert resolved["tag"] == "1.7.0-amd64-preview"
    assert resolved["warnings"] == ["version: custom-text-to-speech 1.7.0 is not a version the pages name (1.3.0, 1.4.0); "
                                    "used anyway because unknown tags are allowed"]


def test_unsupported_neural_version_warns():
    warnings = []
    image_reference("neural-text-to-speech", version="2.19.0", warnings=warnings)
    assert warnings == ["version: neural-text-to-speech 2.19.0 is unsupported since 2024-02-29 (all versions before 2.20.0): use 4.1.0"]
    warnings = []
    image_reference("neural-text-to-speech", version="2.20.0", warnings=warnings)
    assert warnings == []


def test_unknown_locale_is_a_warning_with_allow_unknown():
    warnings = []
    ref = image_reference("speech-to-text", version="5.1.0", locale="fil-PH", allow_unknown=True, warnings=warnings)
    assert ref == MCR + "speech-to-text:5.1.0-amd64-fil-ph"
    assert len(warnings) == 1 and warnings[0].startswith("locale: fil-PH is not a known speech-to-text locale")


def test_unknown_voice_is_a_warning_with_allow_unknown():
    warnings = []
    ref = image_reference("neural-text-to-speech", voice="en-US-AndrewNeural", allow_unknown=True, warnings=warnings)
    assert ref.endswith(":4.1.0-amd64-en-us-andrewneural")
    assert len(warnings) == 1 and warnings[0].startswith("voice: en-US-AndrewNeural is not a known neural-text-to-speech voice")


def test_preview_voice_built_without_preview_warns():
    warnings = []
    ref = image_reference("neural-text-to-speech", voice="zh-CN-XiaochenNeural", preview=False, warnings=warnings)
    assert ref.endswith("-zh-cn-xiaochenneural")
    assert warnings and warnings[0].startswith("preview: voice zh-CN-XiaochenNeural")


def test_known_inputs_give_no_warnings():
    warnings = []
    image_reference("speech-to-text", locale="de-DE", warnings=warnings)
    assert warnings == []


# --------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, field, fragments", [
    ({"kind": "speech-to-txt"}, "kind", ["'speech-to-txt' is not a Speech container kind", "did you mean speech-to-text", "language-detection"]),
    ({"kind": None}, "kind", ["None is not a Speech container kind", "use one of speech-to-text"]),
    ({"kind": "speech-to-text", "locale": "en-UK"}, "locale",
     ["en-UK is not a known speech-to-text locale", "near matches: en-US", "speech_allow_unknown_tags"]),
    ({"kind": "speech-to-text", "locale": "english"}, "locale", ["'english' is not a locale", "en-US"]),
    ({"kind": "speech-to-text", "locale": "en_US"}, "locale", ["uses '_'", "e.g. en-US"]),
    ({"kind": "speech-to-text", "locale": ""}, "locale", ["is not a locale"]),
    ({"kind": "neural-text-to-speech", "voice": "en-US-AryaNeural"}, "voice",
     ["en-US-AryaNeural is not a known neural-text-to-speech voice", "near matches: en-US-AriaNeural",
      "known voices of that locale: en-US-AriaNeural", "speech_allow_unknown_tags"]),
    ({"kind": "neural-text-to-speech", "voice": "Aria"}, "voice", ["'Aria' is not a voice name", "en-US-AriaNeural"]),
    ({"kind": "neural-text-to-speech", "voice": "en-US-JessaRUS"}, "voice",
     ["not a neural-text-to-speech voice", "end in Neural", "en-US-JessaRUS is a voice of kind text-to-speech"]),
    ({"kind": "text-to-speech", "voice": "en-US-AriaNeural"}, "voice",
     ["en-US-AriaNeural is not a known text-to-speech voice", "known voices of that locale: en-US-JessaRUS", "speech_allow_unknown_tags"]),
    ({"kind": "text-to-speech", "voice": "zh-CN-Kangkang-Apollo", "locale": "de-DE"}, "locale",
     ["de-DE does not match voice zh-CN-Kangkang-Apollo", "de-DE-Hedda, de-DE-HeddaRUS, de-DE-Stefan-Apollo"]),
    ({"kind": "text-to-speech", "locale": "fr-FR"}, "voice",
     ["text-to-speech needs a voice for locale fr-FR", "fr-FR-HortenseRUS, fr-FR-Julie-Apollo, fr-FR-Paul-Apollo"]),
    ({"kind": "text-to-speech", "version": "latest", "voice": "en-US-ZiraRUS"}, "version",
     ["tag latest of text-to-speech is the en-US-JessaRUS image", "pin a version"]),
    ({"kind": "text-to-speech", "version": "1.2.0"}, "version", ["text-to-speech 1.2.0 is not a version the pages name (1.3.0, 1.4.0)"]),
    ({"kind": "custom-text-to-speech", "voice": "en-US-JessaRUS"}, "voice", ["custom-text-to-speech images have no voice",
                                                                             "the voice comes from the model (model_id)"]),
    ({"kind": "custom-text-to-speech", "locale": "en-US"}, "locale", ["custom-text-to-speech tags carry no locale", "ModelId"]),
    ({"kind": "neural-text-to-speech", "voice": "zh-cn-xiaochenneural-preview"}, "voice", ["-preview", "preview is set separately"]),
    ({"kind": "neural-text-to-speech", "voice": "en-US-AriaNeural", "locale": "de-DE"}, "locale",
     ["de-DE does not match voice en-US-AriaNeural", "whose locale is en-US", "de-DE-KatjaNeural"]),
    ({"kind": "neural-text-to-speech", "locale": "de-DE"}, "voice", ["needs a voice for locale de-DE", "de-DE-ConradNeural, de-DE-KatjaNeural"]),
    ({"kind": "neural-text-to-speech", "version": "latest", "voice": "de-DE-KatjaNeural"}, "version",
     ["tag latest of neural-text-to-speech is the en-US-AriaNeural image", "pin a version"]),
    ({"kind": "speech-to-text", "version": "latest", "locale": "de-DE"}, "version", ["tag latest of speech-to-text is the en-US image", "pin a version"]),
    ({"kind": "speech-to-text", "voice": "en-US-AriaNeural"}, "voice",
     ["speech-to-text images have no voice", "remove voice", "only neural-text-to-speech and text-to-speech take one"]),
    ({"kind": "custom-speech-to-text", "locale": "en-US"}, "locale", ["custom-speech-to-text tags carry no locale", "ModelId", "remove locale"]),
    ({"kind": "language-detection", "locale": "en-US"}, "locale", ["language-detection tags carry no locale"]),
    ({"kind": "language-detection", "voice": "en-US-AriaNeural"}, "voice", ["language-detection images have no voice"]),
    ({"kind": "speech-to-text", "version": "5.1"}, "version", ["'5.1' has two parts", "5.1.0"]),
    ({"kind": "speech-to-text", "version": 5.1}, "version", ["5.1 is a number", "quote it in YAML", "\"5.1.0\""]),
    ({"kind": "speech-to-text", "version": 5}, "version", ["5 is a number", "\"5.0.0\""]),
    ({"kind": "speech-to-text", "version": True}, "version", ["True is not a version"]),
    ({"kind": "speech-to-text", "version": "v5.1.0"}, "version", ["leading 'v'", "write 5.1.0"]),
    ({"kind": "speech-to-text", "version": "5.0.0-preview"}, "version", ["looks like a whole tag", "give only x.y.z"]),
    ({"kind": "speech-to-text", "version": "5.1.0-amd64-en-us"}, "version", ["looks like a whole tag"]),
    ({"kind": "speech-to-text", "version": "05.1.0"}, "version", ["not semver-like", "major.minor.patch"]),
    ({"kind": "speech-to-text", "version": "newest"}, "version", ["'newest' is not semver-like", "or latest"]),
    ({"kind": "speech-to-text", "version": ["5.1.0"]}, "version", ["is not a version"]),
    ({"kind": "custom-text-to-speech", "version": "1.0.0"}, "version", ["custom-text-to-speech 1.0.0 is not a version the pages name"]),
    ({"kind": "speech-to-text", "preview": "yes"}, "preview", ["'yes' is not a boolean"]),
    ({"kind": "speech-to-text", "version": "latest", "preview": True}, "preview", ["tag latest has no -preview suffix"]),
    ({"kind": "speech-to-text", "registry": "https://mcr.microsoft.com"}, "registry", ["has a URL scheme", "e.g. mcr.microsoft.com"]),
    ({"kind": "speech-to-text", "registry": "My Registry"}, "registry", ["is not a registry", "host[:port][/path]"]),
    ({"kind": "speech-to-text", "registry": ""}, "registry", ["is not a registry"]),
    ({"kind": "language-detection", "registry": "containerpreview.azurecr.io"}, "registry", ["no image on containerpreview.azurecr.io", "mcr.microsoft.com"]),
])
def test_bad_input_names_the_field_and_the_fix(kwargs, field, fragments):
    with pytest.raises(ImageRefError) as excinfo:
        image_reference(**kwargs)
    assert excinfo.value.field == field
    message = str(excinfo.value)
    assert message.startswith(field + ": ")
    for fragment in fragments:
        assert fragment in message


def test_image_ref_error_is_a_value_error():
    assert issubclass(ImageRefError, ValueError)


def test_allow_unknown_does_not_relax_the_grammar():
    with pytest.raises(ImageRefError, match="^locale: 'english' is not a locale"):
        image_reference("speech-to-text", locale="english", allow_unknown=True)
    with pytest.raises(ImageRefError, match="^locale: de-DE does not match voice"):
        image_reference("neural-text-to-speech", voice="en-US-AndrewNeural", locale="de-DE", allow_unknown=True)


@pytest.mark.parametrize("ref, fragment", [
    (MCR + "speech-to-text:5.1.0-arm64-en-us", "must continue with -amd64"),
    (MCR + "speech-to-text:5.1.0-amd64en-us", "must continue with -amd64"),
    (MCR + "speech-to-text:5.1.0-amd64", "a speech-to-text tag has the form <x.y.z>-amd64-<locale>[-preview]"),
    (MCR + "speech-to-text:5.1.0-amd64-english", "a speech-to-text tag has the form"),
    (MCR + "custom-speech-to-text:5.1.0-amd64-en-us", "a custom-speech-to-text tag has the form <x.y.z>-amd64[-preview]"),
    (MCR + "neural-text-to-speech:4.1.0-amd64-en-us", "<x.y.z>-amd64-<locale>-<name>neural[-preview]"),
    (MCR + "neural-text-to-speech:2.0.0-amd64-ar-eg-salmaneura", "a neural-text-to-speech tag has the form"),  # D5's typo
    (MCR + "text-to-speech:1.4.0-amd64-en-us-preview", "a text-to-speech tag has the form <x.y.z>-amd64-<locale>-<name>[-preview]"),
    (MCR + "custom-text-to-speech:1.4.0-amd64-en-us-preview", "a custom-text-to-speech tag has the form <x.y.z>-amd64[-preview]"),
    (MCR + "language-detection:preview", "must start with a version x.y.z or be latest"),
    (MCR + "language-detection:1.18-amd64-preview", "must start with a version x.y.z"),
    (MCR + "speech-to-text:5.1.0-amd64-en-us@md5:abc", "invalid digest"),
    ("", "is not an image reference"),
    (None, "is not an image reference"),
])
def test_parse_rejects_malformed_references(ref, fragment):
    with pytest.raises(ImageRefError) as excinfo:
        parse_image_reference(ref)
    assert excinfo.value.field == "image"
    assert fragment in str(excinfo.value)


def test_parse_keeps_digest_and_handles_missing_registry():
    digest = "sha256:" + "3ce4ab51" * 8
    ref = "azure-cognitive-services/speechservices/speech-to-text:3.0.0-amd64-ar-ae@" + digest
    parsed = parse_image_reference(ref)
    assert parsed["registry"] is None and parsed["digest"] == digest and parsed["locale"] == "ar-ae"
    assert format_image_reference(parsed) == ref


def test_parse_private_mirror_with_port_and_prefix():
    parsed = parse_image_reference("registry.local:5000/mirror/azure-cognitive-services/speechservices/language-detection:latest")
    assert parsed["registry"] == "registry.local:5000"
    assert parsed["repository"] == "mirror/azure-cognitive-services/speechservices/language-detection"
    assert parsed["latest"] is True and parsed["platform"] is None


def test_parse_reports_ssml_forms_and_retired_flag():
    parsed = parse_image_reference(LEGACY + "text-to-speech:1.3.0-amd64-en-us-jessarus-preview")
    assert parsed["ssml_voice"] == "en-US-JessaRUS" and parsed["ssml_locale"] == "en-US"
    assert parsed["retired"] is True and parsed["platform"] == "amd64"
    assert parse_image_reference(MCR + "custom-text-to-speech:1.4.0-amd64-preview")["retired"] is False  # legacy, not retired


def test_parse_gives_no_ssml_name_for_a_standard_voice_outside_the_table():
    parsed = parse_image_reference(MCR + "text-to-speech:1.7.0-amd64-en-us-ariarus-preview")  # D5 (2021) tag
    assert (parsed["voice"], parsed["locale"], parsed["ssml_voice"]) == ("en-us-ariarus", "en-us", None)


# --------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("tag_voice, ssml_voice", [
    ("en-us-arianeural", "en-US-AriaNeural"),  # A5
    ("zh-cn-xiaoxiaoneural", "zh-CN-XiaoxiaoNeural"),
    ("zh-cn-sichuan-yunxineural", "zh-CN-sichuan-YunxiNeural"),
    ("wuu-cn-xiaotongneural", "wuu-CN-XiaotongNeural"),
    ("en-us-jessarus", "en-US-JessaRUS"),  # D1
    ("en-us-guy24krus", "en-US-Guy24kRUS"),  # D10: the table's casing, not a suffix rule
    ("zh-cn-kangkang-apollo", "zh-CN-Kangkang-Apollo"),
    ("de-de-hedda", "de-DE-Hedda"),
    ("en-au-catherine", "en-AU-Catherine"),
])
def test_voice_name_conversions(tag_voice, ssml_voice):
    assert ssml_voice_name(tag_voice) == ssml_voice
    assert tag_voice_name(ssml_voice) == tag_voice
    assert ssml_voice_name(ssml_voice) == ssml_voice  # either form is accepted
    assert tag_voice_name(tag_voice) == tag_voice


@pytest.mark.parametrize("bad", ["arianeural", "e-us-arianeural", "en-us", "en-us-", "en-us--aria", "en_us_aria", "", None, 42])
def test_voice_name_rejects_non_voices(bad):
    with pytest.raises(ImageRefError, match="^voice: "):
        ssml_voice_name(bad)
    with pytest.raises(ImageRefError, match="^voice: "):
        tag_voice_name(bad)


@pytest.mark.parametrize("voice", ["en-us-aria", "en-us-fooRUS".lower(), "zh-cn-xiaoxiao-apollo"])
def test_a_lower_case_voice_outside_the_tables_has_no_known_ssml_casing(voice):
    assert tag_voice_name(voice) == voice
    with pytest.raises(ImageRefError, match="^voice: .*SSML casing is unknown: write it as Microsoft's short name"):
        ssml_voice_name(voice)


def test_a_voice_written_with_capitals_keeps_them_and_the_table_wins_over_them():
    assert ssml_voice_name("en-US-AriaRUS") == "en-US-AriaRUS"
    assert ssml_voice_name("EN-us-AvaMultilingualNeural") == "en-US-AvaMultilingualNeural"
    assert ssml_voice_name("zh-CN-KangKang-apollo") == "zh-CN-Kangkang-Apollo"


@pytest.mark.parametrize("voice", catalog.known_voices("neural-text-to-speech"))
def test_every_catalog_voice_converts_both_ways(voice):
    assert tag_voice_name(ssml_voice_name(voice)) == voice


@pytest.mark.parametrize("locale, expected", [("en-US", "en-us"), (" EN-us ", "en-us"), ("zh-CN-sichuan", "zh-cn-sichuan"), ("wuu-CN", "wuu-cn")])
def test_normalize_locale(locale, expected):
    assert normalize_locale(locale) == expected
    assert normalize_locale(ssml_locale(expected)) == expected


LOCALES = st.sampled_from(sorted(set(catalog.known_locales("speech-to-text")) | set(catalog.known_locales("neural-text-to-speech"))))
NAMES = st.from_regex(r"\A[a-z][a-z0-9]{0,15}\Z")


@given(locale=LOCALES, name=NAMES)
def test_voice_name_round_trip_from_tag_form(locale, name):
    tag_voice = "{0}-{1}neural".format(locale, name)
    ssml = ssml_voice_name(tag_voice)
    assert tag_voice_name(ssml) == tag_voice
    assert ssml.startswith(ssml_locale(locale) + "-" + name[0].upper())


@pytest.mark.parametrize("voice", catalog.known_voices("text-to-speech"))
def test_every_standard_voice_converts_both_ways(voice):
    assert ssml_voice_name(voice) == catalog.ssml_voices("text-to-speech")[voice]
    assert tag_voice_name(ssml_voice_name(voice)) == voice


@given(
    voice=st.sampled_from(catalog.known_voices("text-to-speech")),
    version=st.sampled_from(["1.3.0", "1.4.0"]),
    ssml_form=st.booleans(),
)
def test_standard_build_parse_round_trip(voice, version, ssml_form):
    written = ssml_voice_name(voice) if ssml_form else voice
    parsed = parse_image_reference(image_reference("text-to-speech", version=version, voice=written))
    assert (parsed["version"], parsed["voice"], parsed["ssml_voice"], parsed["preview"]) == (version, voice, ssml_voice_name(voice), True)
    assert parsed["locale"] == voice[:5]


@given(locale=LOCALES, name=NAMES)
def test_voice_name_round_trip_from_ssml_form(locale, name):
    ssml = "{0}-{1}{2}Neural".format(ssml_locale(locale), name[0].upper(), name[1:])
    assert ssml_voice_name(tag_voice_name(ssml)) == ssml


@given(
    locale=st.sampled_from(catalog.known_locales("speech-to-text")),
    version=st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)).map(lambda parts: "{0}.{1}.{2}".format(*parts)),
    preview=st.booleans(),
)
def test_speech_to_text_build_parse_round_trip(locale, version, preview):
    parsed = parse_image_reference(image_reference("speech-to-text", version=version, locale=locale, preview=preview))
    assert (parsed["version"], parsed["locale"], parsed["preview"]) == (version, locale, preview)


@given(
    voice=st.sampled_from(catalog.known_voices("neural-text-to-speech")),
    version=st.sampled_from(["2.20.0", "3.11.0", "4.1.0", "10.0.0"]),
    preview=st.one_of(st.none(), st.booleans()),
)
def test_neural_build_parse_round_trip(voice, version, preview):
    ref = image_reference("neural-text-to-speech", version=version, voice=ssml_voice_name(voice), preview=preview)
    parsed = parse_image_reference(ref)
    assert (parsed["version"], parsed["voice"], parsed["ssml_voice"]) == (version, voice, ssml_voice_name(voice))
    assert parsed["preview"] is (preview if preview is not None else voice in catalog.NTTS_PREVIEW_VOICES)


# Once the filters speech_image_parse and speech_voice_name, which wrapped these functions.
def test_parse_a_preview_neural_voice_image():
    parsed = parse_image_reference(MCR + "neural-text-to-speech:3.11.0-amd64-zh-cn-xiaochenneural-preview")
    assert (parsed["kind"], parsed["version"], parsed["ssml_voice"], parsed["preview"]) == ("neural-text-to-speech", "3.11.0", "zh-CN-XiaochenNeural", True)


def test_parse_names_an_image_that_is_not_a_speech_container():
    with pytest.raises(ImageRefError, match="image: .*is not a Speech container image"):
        parse_image_reference("mcr.microsoft.com/azure-cognitive-services/diagnostic")


@pytest.mark.parametrize("voice, convert, expected", [
    ("en-us-arianeural", ssml_voice_name, "en-US-AriaNeural"),
    ("en-US-AriaNeural", tag_voice_name, "en-us-arianeural"),
    ("zh-cn-sichuan-yunxineural", ssml_voice_name, "zh-CN-sichuan-YunxiNeural"),
    ("de-de-katjaneural", ssml_voice_name, "de-DE-KatjaNeural"),
])
def test_voice_name_forms(voice, convert, expected):
    assert convert(voice) == expected


def test_a_voice_name_error_names_the_voice():
    with pytest.raises(ImageRefError, match="voice: 'Aria' is not a voice name"):
        ssml_voice_name("Aria")
