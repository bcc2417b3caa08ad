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


@pytest.mark.parametrize("kind, retired, legacy", [(STT, False, False), (CSTT, False, False), (NTTS, False, False), (LID, False, False),
                                                   (TTS, True, False), (CTTS, False, True)])
def test_retired_and_legacy_kinds(kind, retired, legacy):
    assert is_retired(kind) is retired
    assert catalog.is_legacy(kind) is legacy
    assert catalog.retired_on(kind) == ("2021-08-31" if retired else None)  # A5, D2
    assert (catalog.status_warning(kind) is None) is not (retired or legacy)


def test_the_retired_kind_warning_gives_the_date_and_the_replacement():
    warning = catalog.status_warning(TTS)
    assert warning.startswith("text-to-speech (standard voices) was retired by Microsoft on 2021-08-31")
    assert "use kind neural-text-to-speech with a neural voice, e.g. en-US-AriaNeural" in warning


def test_custom_text_to_speech_is_legacy_not_retired():
    # No page calls it retired; the current pages no longer list it, the 2021 tag list (D5) is the last that does.
    assert catalog.status_warning(CTTS) == (
        "custom-text-to-speech is legacy: no longer in Microsoft's current pages; last documented in 2021; "
        "it runs as the 2019 and 2020 pages describe it")
    assert kind_info(CTTS)["status"] == "legacy" and kind_info(TTS)["status"] == "retired"


@pytest.mark.parametrize("kind, version", [(STT, "5.1.0"), (CSTT, "5.1.0"), (NTTS, "4.1.0"), (LID, "1.18.0"), (TTS, "1.4.0"), (CTTS, "1.4.0")])
def test_latest_version_is_the_a2_overview_value(kind, version):
    # The legacy text to speech kinds: 1.4.0 in the "Latest" column of D1 (2020-05).
    assert latest_version(kind) == version


@pytest.mark.parametrize("kind, versions", [(TTS, ("1.3.0", "1.4.0")), (CTTS, ("1.3.0", "1.4.0")), (STT, ()), (NTTS, ())])
def test_documented_versions_are_a_closed_list_only_for_the_legacy_kinds(kind, versions):
    assert catalog.documented_versions(kind) == versions  # D10: 1.3.0, D1: 1.4.0


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
    # D10, D1: "The latest tag pulls the en-US locale and jessarus voice" (D5 2021 says AriaRUS: section 10)
    assert kind_info(TTS)["latest_tag_means"] == {"locale": "en-us", "voice": "en-us-jessarus"}
    assert catalog.fact(TTS, "default_voice") == "en-us-jessarus"


# The 1.3.0 table of the 2019-11 page (D10), tag form, in the page's order.
STANDARD_VOICES_1_3_0 = {
    "zh-CN": "huihuirus kangkang-apollo yaoyao-apollo", "en-AU": "catherine hayleyrus",
    "en-GB": "george-apollo hazelrus susan-apollo", "en-IN": "heera-apollo priyarus ravi-apollo",
    "en-US": "jessarus benjaminrus jessa24krus zirarus guy24krus", "fr-CA": "caroline harmonierus",
    "fr-FR": "hortenserus julie-apollo paul-apollo", "de-DE": "hedda heddarus stefan-apollo", "it-IT": "cosimo-apollo luciarus",
    "ja-JP": "ayumi-apollo harukarus ichiro-apollo", "ko-KR": "heamirus", "pt-BR": "daniel-apollo heloisarus",
    "es-ES": "elenarus laura-apollo pablo-apollo", "es-MX": "hildarus raul-apollo",
}


def test_standard_voices_are_the_1_3_0_table_by_locale():
    expected = [locale.lower() + "-" + name for locale, names in STANDARD_VOICES_1_3_0.items() for name in names.split()]
    assert catalog.known_voices(TTS) == tuple(expected)
    assert catalog.known_locales(TTS) == tuple(locale.lower() for locale in STANDARD_VOICES_1_3_0)
    assert len(expected) == 37


@pytest.mark.parametrize("tag_voice, ssml_voice", [
    ("zh-cn-kangkang-apollo", "zh-CN-Kangkang-Apollo"), ("de-de-hedda", "de-DE-Hedda"), ("en-us-jessa24krus", "en-US-Jessa24kRUS"),
    ("en-us-jessarus", "en-US-JessaRUS"), ("en-au-catherine", "en-AU-Catherine"), ("en-us-guy24krus", "en-US-Guy24kRUS"),
    ("fr-ca-caroline", "fr-CA-Caroline"), ("ko-kr-heamirus", "ko-KR-HeamiRUS"),
])
def test_standard_voices_keep_microsofts_casing_in_the_table(tag_voice, ssml_voice):
    assert catalog.ssml_voices(TTS)[tag_voice] == ssml_voice


def test_every_standard_voice_has_its_ssml_name_and_no_other_kind_has_a_table():
    assert sorted(catalog.ssml_voices(TTS)) == sorted(catalog.known_voices(TTS))
    assert all(catalog.ssml_voices(kind) == {} for kind in KINDS if kind != TTS)


def test_model_kinds_are_the_custom_kinds():
    assert catalog.custom_model_kinds() == (CSTT, CTTS)
    assert "ModelId" in kind_info(CTTS)["settings"] and "ModelId" not in kind_info(TTS)["settings"]


@pytest.mark.parametrize("page_version, source, registry, kinds, profiles", [
    ("2019-11", "D10", "containerpreview.azurecr.io", {STT: "2.0.0", CSTT: "2.0.0", TTS: "1.3.0", CTTS: "1.3.0"}, ("2020-minimum", "2020")),
    ("2020-05", "D1", "containerpreview.azurecr.io", {STT: "2.2.0", CSTT: "2.2.0", TTS: "1.4.0", CTTS: "1.4.0"}, ("2020-minimum", "2020")),
    ("2022-01", "D2", "mcr.microsoft.com", {STT: "3.6.0", CSTT: "3.6.0", NTTS: "2.5.0", LID: "1.5.0"}, ("2022-minimum", "2022")),
    ("2024-09", "A1, A2", "mcr.microsoft.com", {STT: "5.1.0", CSTT: "5.1.0", NTTS: "4.1.0", LID: "1.18.0"}, ("minimum", "recommended")),
])
def test_pages_name_their_kinds_versions_and_sizing_tables(page_version, source, registry, kinds, profiles):
    page = catalog.page(page_version)
    assert (page["source"], page["registry"]) == (source, registry)
    assert dict((kind, version) for kind, (version, _example) in page["kinds"].items()) == kinds
    assert catalog.page_profiles(page_version) == profiles


def test_pages_are_in_date_order_and_an_unknown_page_names_the_known_ones():
    assert catalog.PAGE_VERSIONS == ("2019-11", "2020-05", "2022-01", "2024-09")
    with pytest.raises(CatalogError, match="page version '2021-01' is unknown: use one of 2019-11, 2020-05, 2022-01, 2024-09"):
        catalog.page("2021-01")


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
    (CTTS, ("tts", "/speech/synthesize/cognitiveservices/v1"), 120, 3000, True),  # D10, D1: the Model ID is required
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
