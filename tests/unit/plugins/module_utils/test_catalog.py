# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The catalog against the documented container contract; source IDs per row (see catalog.py)."""

from __future__ import annotations

import pytest

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils.catalog import (
    KINDS,
    SIZING_PROFILES,
    CatalogError,
    container_port,
    is_retired,
    kind_info,
    latest_version,
    resources,
)

STT, CSTT, NTTS, LID, TTS, CTTS = (
    "speech-to-text", "custom-speech-to-text", "neural-text-to-speech", "language-detection", "text-to-speech", "custom-text-to-speech",
)
GB = 1024

# (cores, memory GB, model memory GB) for each kind and profile.
# minimum/recommended/2026*: A1 (01/30/2026); 2022*: D2 (01/2022); 2020*: D1 (05/2020).
# Kinds a year's doc does not cover take the nearest doc: NTTS and LID 2020 -> 2022, legacy TTS -> 2020.
EXPECTED_SIZES = {
    STT: {
        "minimum": (4, 4, 4), "recommended": (8, 8, 8), "2026": (8, 8, 8), "2026-minimum": (4, 4, 4),
        "2022": (8, 6, 6), "2022-minimum": (4, 4, 4), "2020": (4, 4, 6), "2020-minimum": (2, 2, 4),
    },
    NTTS: {
        "minimum": (6, 12, 0), "recommended": (8, 16, 0), "2026": (8, 16, 0), "2026-minimum": (6, 12, 0),
        "2022": (8, 16, 0), "2022-minimum": (6, 12, 0), "2020": (8, 16, 0), "2020-minimum": (6, 12, 0),
    },
    LID: dict((profile, (1, 1, 0)) for profile in SIZING_PROFILES),
    TTS: {
        "minimum": (1, 2, 0), "recommended": (2, 3, 0), "2026": (2, 3, 0), "2026-minimum": (1, 2, 0),
        "2022": (2, 3, 0), "2022-minimum": (1, 2, 0), "2020": (2, 3, 0), "2020-minimum": (1, 2, 0),
    },
}
EXPECTED_SIZES[CSTT] = EXPECTED_SIZES[STT]  # A1 lists CSTT with STT
EXPECTED_SIZES[CTTS] = EXPECTED_SIZES[TTS]  # D1 gives one row for standard and custom TTS

SIZE_CASES = [(kind, profile, expected) for kind, table in sorted(EXPECTED_SIZES.items()) for profile, expected in table.items()]


def test_kinds_are_the_six_documented_kinds_in_a_stable_order():
    assert KINDS == (STT, CSTT, NTTS, LID, TTS, CTTS)


def test_sizing_profiles_offer_minimum_recommended_and_each_doc_year():
    assert SIZING_PROFILES[:2] == ("minimum", "recommended")
    assert {"2026", "2022", "2020", "2026-minimum", "2022-minimum", "2020-minimum"} <= set(SIZING_PROFILES)


def test_every_kind_has_an_expected_size_row_for_every_profile():
    assert set(EXPECTED_SIZES) == set(KINDS)
    assert all(set(table) == set(SIZING_PROFILES) for table in EXPECTED_SIZES.values())


@pytest.mark.parametrize("kind, profile, expected", SIZE_CASES, ids=["{0}-{1}".format(case[0], case[1]) for case in SIZE_CASES])
def test_resources_per_kind_and_profile(kind, profile, expected):
    cores, memory_gb, model_gb = expected
    assert resources(kind, profile) == {"cpus": float(cores), "memory_mb": memory_gb * GB, "model_memory_mb": model_gb * GB}


@pytest.mark.parametrize("kind", KINDS)
def test_default_profile_is_recommended(kind):
    assert resources(kind) == resources(kind, "recommended") == resources(kind, "2026")


@pytest.mark.parametrize("kind", KINDS)
def test_minimum_never_exceeds_recommended(kind):
    for year in catalog.DOC_YEARS:
        low, high = resources(kind, year + "-minimum"), resources(kind, year)
        assert all(low[key] <= high[key] for key in low), (kind, year)


def test_resources_types_are_float_cpus_and_int_memory():
    sizes = resources(STT)
    assert isinstance(sizes["cpus"], float)
    assert isinstance(sizes["memory_mb"], int) and isinstance(sizes["model_memory_mb"], int)


def test_resources_returns_a_fresh_dict_each_call():
    first = resources(STT)
    first["cpus"] = 99.0
    assert resources(STT)["cpus"] == 8.0


def test_unknown_profile_names_the_profile_and_lists_valid_ones():
    with pytest.raises(CatalogError) as excinfo:
        resources(STT, "huge")
    message = str(excinfo.value)
    assert "sizing profile 'huge'" in message
    assert all(profile in message for profile in SIZING_PROFILES)


@pytest.mark.parametrize("kind, port", [(STT, 5000), (CSTT, 5000), (NTTS, 5000), (LID, 5003), (TTS, 5000), (CTTS, 5000)])
def test_container_port_per_kind(kind, port):
    assert container_port(kind) == port


@pytest.mark.parametrize("kind, protocol", [(STT, "ws"), (CSTT, "ws"), (NTTS, "http"), (LID, "http"), (TTS, "http"), (CTTS, "http")])
def test_protocol_per_kind(kind, protocol):
    assert catalog.protocol(kind) == protocol


def test_language_detection_records_both_documented_protocols_and_host_port():
    info = kind_info(LID)
    assert info["client_protocols"] == ("http", "ws")  # A1/A10 vs C1
    assert info["documented_host_port"] == 5000  # A6 maps -p 5000:5003


@pytest.mark.parametrize("kind, retired", [(STT, False), (CSTT, False), (NTTS, False), (LID, False), (TTS, True), (CTTS, True)])
def test_retired_flags_and_warning_text(kind, retired):
    assert is_retired(kind) is retired
    warning = catalog.retirement_warning(kind)
    if retired:
        assert kind in warning and "neural-text-to-speech" in warning
    else:
        assert warning is None


@pytest.mark.parametrize("kind, version", [(STT, "5.1.0"), (CSTT, "5.1.0"), (NTTS, "4.1.0"), (LID, "1.18.0"), (TTS, "1.3.0")])
def test_latest_version_is_the_a2_overview_value(kind, version):
    assert latest_version(kind) == version


def test_latest_version_of_custom_tts_is_undocumented_and_says_so():
    with pytest.raises(CatalogError, match="custom-text-to-speech.*no documented version.*set version"):
        latest_version(CTTS)


@pytest.mark.parametrize("kind, disconnected", [(STT, True), (CSTT, True), (NTTS, True), (LID, False), (TTS, False), (CTTS, False)])
def test_disconnected_support(kind, disconnected):
    assert catalog.is_disconnected_capable(kind) is disconnected
    assert ("Mounts:License" in kind_info(kind)["settings"]) is disconnected


def test_model_memory_only_for_speech_to_text_kinds():
    assert [kind for kind in KINDS if resources(kind)["model_memory_mb"]] == [STT, CSTT]


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_kind_message_names_the_kind_and_lists_valid_kinds(kind):
    with pytest.raises(ValueError) as excinfo:
        kind_info(kind.upper())
    message = str(excinfo.value)
    assert repr(kind.upper()) in message
    assert all(valid in message for valid in KINDS)


@pytest.mark.parametrize("function", [kind_info, container_port, latest_version, is_retired, resources])
def test_every_lookup_rejects_an_unknown_kind(function):
    with pytest.raises(ValueError, match="'tts' is not a Speech container kind"):
        function("tts")


@pytest.mark.parametrize("kind", KINDS)
def test_kind_info_is_complete_and_consistent(kind):
    info = kind_info(kind)
    assert info["kind"] == kind
    assert info["port"] == container_port(kind)
    assert info["retired"] is is_retired(kind)
    assert info["repository"] == "azure-cognitive-services/speechservices/" + kind
    assert info["image"] == "mcr.microsoft.com/azure-cognitive-services/speechservices/" + kind
    assert info["resources"]["recommended"] == resources(kind)
    assert "Eula" in info["settings"] and "Billing" in info["settings"] and "ApiKey" in info["settings"]
    assert "Mounts:Input" not in info["settings"]  # A7: not allowed for Speech
    assert "/output" in [mount["path"] for mount in info["mounts"]]
    assert info["concurrency"]["recommended_concurrent_requests"] >= 1


def test_kind_info_returns_a_copy_callers_may_change():
    kind_info(NTTS)["voices"] = ()
    kind_info(STT)["settings"] = ()
    assert "en-us-arianeural" in kind_info(NTTS)["voices"]
    assert "Eula" in kind_info(STT)["settings"]


@pytest.mark.parametrize("kind, legacy_image", [
    (STT, "containerpreview.azurecr.io/microsoft/cognitive-services-speech-to-text"),
    (CSTT, "containerpreview.azurecr.io/microsoft/cognitive-services-custom-speech-to-text"),
    (NTTS, "containerpreview.azurecr.io/microsoft/cognitive-services-neural-text-to-speech"),
    (LID, None),  # 1.1: none found
    (TTS, "containerpreview.azurecr.io/microsoft/cognitive-services-text-to-speech"),
    (CTTS, "containerpreview.azurecr.io/microsoft/cognitive-services-custom-text-to-speech"),
])
def test_legacy_images_from_section_1_1(kind, legacy_image):
    assert kind_info(kind)["legacy_image"] == legacy_image


def test_repository_legacy_for_language_detection_is_an_error_naming_the_fix():
    with pytest.raises(CatalogError, match="language-detection.*no image on containerpreview.azurecr.io.*mcr.microsoft.com"):
        catalog.repository(LID, legacy=True)


@pytest.mark.parametrize("path, kind", [
    ("azure-cognitive-services/speechservices/speech-to-text", STT),
    ("mirror/azure-cognitive-services/speechservices/language-detection", LID),
    ("microsoft/cognitive-services-custom-speech-to-text", CSTT),
    ("azure-cognitive-services/diagnostic", None),
    ("batchkit/speech-batch-kit", None),
])
def test_kind_from_repository(path, kind):
    assert catalog.kind_from_repository(path) == kind


def test_model_mount_only_for_custom_kinds():
    with_models = [kind for kind in KINDS if "/usr/local/models" in [mount["path"] for mount in kind_info(kind)["mounts"]]]
    assert with_models == [CSTT, CTTS]


def test_custom_speech_settings_from_a4():
    settings = kind_info(CSTT)["settings"]
    for name in ("ModelId", "BaseModelLocale", "DisplayLocale", "RescoreId", "PunctId", "ResegmentId", "WfstitnId"):
        assert name in settings
    assert "ModelId" not in kind_info(STT)["settings"]


def test_stt_locales_include_the_2021_list_and_later_additions():
    locales = catalog.known_locales(STT)
    assert len(locales) == 91  # 84 from D5 v3.0.0 + uk-ua (3.0.1) + 6 from the A3 4.12.0 excerpt
    for locale in ("en-us", "ar-ae", "zh-tw", "uk-ua", "sw-tz", "vi-vn", "wuu-cn", "yue-cn", "zh-cn-sichuan", "zu-za"):
        assert locale in locales
    assert list(locales) == sorted(set(locales))


def test_ntts_voices_and_preview_voices():
    voices = catalog.known_voices(NTTS)
    assert "ar-eg-salmaneural" in voices  # D5 prints "salmaneura(sic)"
    assert "uk-ua-ostapneural" in voices and "en-us-avaneural" in voices
    assert all(voice.endswith("neural") for voice in voices)
    assert "en-gb-mianeural" not in voices  # dropped after v1.7.0
    assert kind_info(NTTS)["preview_voices"] == (
        "zh-cn-xiaochenneural", "zh-cn-xiaoqiuneural", "zh-cn-xiaoshuangneural", "zh-cn-xiaoyanneural")


def test_ntts_locales_derive_from_voices():
    assert set(catalog.known_locales(NTTS)) == set(voice.rsplit("-", 1)[0] for voice in catalog.known_voices(NTTS))


def test_latest_tag_meanings_from_section_1_2():
    assert kind_info(STT)["latest_tag_means"] == {"locale": "en-us"}
    assert kind_info(NTTS)["latest_tag_means"] == {"locale": "en-us", "voice": "en-us-arianeural"}
    assert kind_info(LID)["latest_tag_means"] == {"preview": True}


def test_concurrency_guidance_for_language_detection():
    by_size = kind_info(LID)["concurrency"]["by_size"]
    assert [(row["cpus"], row["concurrent_requests"]) for row in by_size] == [(1, 4), (2, 6)]


@pytest.mark.parametrize("kind, expected", [(STT, 2), (CSTT, 2), (NTTS, 2), (TTS, 2), (CTTS, 2), (LID, 4)])
def test_concurrency_per_container_by_kind(kind, expected):
    assert catalog.concurrency(kind) == expected
    size = resources(kind)
    assert catalog.concurrency(kind, size["cpus"], size["memory_mb"]) == expected


@pytest.mark.parametrize("cpus, memory_mb, expected", [
    (1, 1024, 4), (2, 2048, 6), (4, 4096, 6), (2, 1024, 4), (1.5, 4096, 4), (1.99, 2048, 4)])
def test_language_detection_serves_six_only_with_two_cpus_and_two_gb(cpus, memory_mb, expected):
    assert catalog.concurrency(LID, cpus, memory_mb) == expected


def test_concurrency_sources_name_public_documents_and_the_decoder_setting_only_for_speech_to_text():
    for kind in KINDS:
        source = catalog.concurrency_source(kind)
        assert "Microsoft Learn" in source or "microsoft/cognitive-services-speech-onpremise" in source, kind
        assert "/work" not in source and "D4" not in source
    assert "two concurrent recognitions" in catalog.concurrency_source(STT)
    assert "6 with 2 CPUs and 2 GB" in catalog.concurrency_source(LID)
    assert [kind for kind in KINDS if catalog.decoder_setting(kind)] == [STT, CSTT]
    assert catalog.decoder_setting(STT) == "DECODER_MAX_COUNT"
    assert "DECODER_MAX_COUNT" in kind_info(CSTT)["settings"] and "DECODER_MAX_COUNT" not in kind_info(NTTS)["settings"]
    with pytest.raises(CatalogError, match="not a Speech container kind"):
        catalog.concurrency("speech-to-txt")


def test_sizing_table_covers_every_kind_and_profile():
    table = catalog.sizing_table()
    assert set(table) == set(KINDS)
    assert all(set(rows) == set(SIZING_PROFILES) for rows in table.values())
    assert table[NTTS]["minimum"] == {"cpus": 6.0, "memory_mb": 12 * GB, "model_memory_mb": 0}


def test_fact_returns_default_for_missing_entries():
    assert catalog.fact(STT, "default_voice", "none") == "none"
    assert catalog.fact(NTTS, "default_voice") == "en-us-arianeural"


@pytest.mark.parametrize("kind, smoke, ready_timeout, image_disk_mb, model_id", [
    (STT, ("websocket", "/speech/recognition/conversation/cognitiveservices/v1"), 300, 8000, False),
    (CSTT, ("websocket", "/speech/recognition/conversation/cognitiveservices/v1"), 300, 8000, True),
    (NTTS, ("tts", "/speech/synthesize/cognitiveservices/v1"), 300, 8000, False),
    (LID, ("websocket", "/speech/universal/v2"), 120, 2000, False),
    (TTS, ("tts", "/speech/synthesize/cognitiveservices/v1"), 120, 3000, False),
    (CTTS, ("tts", "/speech/synthesize/cognitiveservices/v1"), 120, 3000, False),
])
def test_probe_and_preflight_facts_per_kind(kind, smoke, ready_timeout, image_disk_mb, model_id):
    assert catalog.smoke_test(kind) == smoke
    assert catalog.ready_timeout(kind) == ready_timeout
    assert catalog.image_disk_mb(kind) == image_disk_mb
    assert catalog.needs_model_id(kind) is model_id
    info = kind_info(kind)
    assert (info["smoke_test"], info["ready_timeout_seconds"], info["image_disk_mb"]) == (smoke, ready_timeout, image_disk_mb)


def test_per_kind_covers_every_kind_in_order():
    assert list(catalog.per_kind("image_disk_mb")) == list(KINDS)
    assert catalog.per_kind("port")[LID] == 5003


def test_decoder_kinds_are_the_speech_to_text_kinds():
    assert catalog.decoder_kinds() == (STT, CSTT)


def test_synthesis_kinds_are_the_text_to_speech_kinds():
    assert catalog.synthesis_kinds() == (NTTS, TTS, CTTS)


@pytest.mark.parametrize("function", [catalog.smoke_test, catalog.ready_timeout, catalog.image_disk_mb, catalog.needs_model_id])
def test_new_lookups_reject_an_unknown_kind(function):
    with pytest.raises(CatalogError, match="'tts' is not a Speech container kind"):
        function("tts")
