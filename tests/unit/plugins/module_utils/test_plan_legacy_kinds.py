# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan's service validation for the legacy text to speech kinds and model_id: the retired kind needs
speech_allow_retired_kinds, the legacy kind warns, a voice is known by the catalog's table, model_id only where a
custom model runs; the plan carries the SSML voice, the image its tag form."""

from __future__ import annotations

import re

import pytest

from ansible_collections.speechops.speech.plugins.filter import plan as plan_filter
from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils.container_spec import run_spec
from ansible_collections.speechops.speech.plugins.module_utils.plan import PlanInputError, build_plan

MCR = "mcr.microsoft.com/azure-cognitive-services/speechservices/"
LEGACY = "containerpreview.azurecr.io/microsoft/cognitive-services-"
HOSTS = {"h1": {"vcpus_usable": 64, "memory_usable_mb": 256 * 1024, "avx2": True}}
GUID = "c0ffee00-0000-4000-8000-000000000003"
TTS_REFUSAL = ("speech_services[0].kind: text-to-speech (standard voices) was retired by Microsoft on 2021-08-31: use kind "
               "neural-text-to-speech with a neural voice, e.g. en-US-AriaNeural; or set speech_allow_retired_kinds: true "
               "to deploy the retired image anyway")


def plan_one(service, **options):
    return build_plan([dict(service, name=service.get("name", "svc"), replicas=1)], HOSTS, **options)


def only_container(plan):
    return plan["hosts"]["h1"]["containers"][0]


# --------------------------------------------------------------------------------------------- retired and legacy kinds


def test_the_retired_kind_is_refused_naming_the_date_the_replacement_and_the_opt_in():
    with pytest.raises(PlanInputError) as caught:
        plan_one({"kind": "text-to-speech"})
    assert str(caught.value) == TTS_REFUSAL


def test_the_refusal_names_the_service_the_operator_wrote():
    services = [{"name": "stt", "kind": "speech-to-text", "replicas": 1}, {"name": "std", "kind": "text-to-speech", "replicas": 1}]
    with pytest.raises(PlanInputError, match=r"^speech_services\[1\]\.kind: text-to-speech \(standard voices\) was retired"):
        build_plan(services, HOSTS)


def test_the_retired_kind_with_the_opt_in_is_planned_with_a_warning_giving_the_date():
    plan = plan_one({"kind": "text-to-speech"}, allow_retired_kinds=True)
    assert plan["services"]["svc"]["image"] == MCR + "text-to-speech:1.4.0-amd64-en-us-jessarus-preview"
    assert plan["warnings"] == [
        "speech_services[0].kind: text-to-speech (standard voices) was retired by Microsoft on 2021-08-31: use kind "
        "neural-text-to-speech with a neural voice, e.g. en-US-AriaNeural; planned because speech_allow_retired_kinds is true"]


def test_the_legacy_kind_needs_no_opt_in_and_warns():
    plan = plan_one({"kind": "custom-text-to-speech", "model_id": GUID})
    assert plan["services"]["svc"]["image"] == MCR + "custom-text-to-speech:1.4.0-amd64-preview"
    assert plan["warnings"] == [
        "speech_services[0].kind: custom-text-to-speech is legacy: no longer in Microsoft's current pages; last documented "
        "in 2021; it runs as the 2019 and 2020 pages describe it"]


def test_current_kinds_plan_without_warnings():
    plan = build_plan([{"name": "stt", "kind": "speech-to-text", "replicas": 1},
                       {"name": "tts", "kind": "neural-text-to-speech", "voice": "en-US-JennyNeural", "replicas": 1}], HOSTS)
    assert plan["warnings"] == []


def test_the_preview_registry_of_the_2019_and_2020_pages_can_be_chosen():
    plan = plan_one({"kind": "text-to-speech", "version": "1.3.0"}, allow_retired_kinds=True, registry="containerpreview.azurecr.io")
    assert plan["services"]["svc"]["image"] == LEGACY + "text-to-speech:1.3.0-amd64-en-us-jessarus-preview"  # D10, D1


# --------------------------------------------------------------------------------------------- voices


@pytest.mark.parametrize("voice", ["zh-CN-Kangkang-Apollo", "zh-cn-kangkang-apollo", "ZH-CN-KANGKANG-APOLLO"])
def test_a_standard_voice_in_either_form_gives_the_tag_form_image_and_the_ssml_voice(voice):
    plan = plan_one({"kind": "text-to-speech", "voice": voice}, allow_retired_kinds=True)
    assert plan["services"]["svc"]["image"] == MCR + "text-to-speech:1.4.0-amd64-zh-cn-kangkang-apollo-preview"
    assert plan["services"]["svc"]["voice"] == only_container(plan)["voice"] == "zh-CN-Kangkang-Apollo"
    spec = run_spec(only_container(plan), {"billing_endpoint": "https://westeurope.api.cognitive.microsoft.com/"})
    assert spec["voice"] == "zh-CN-Kangkang-Apollo" and spec["smoke"] is True


@pytest.mark.parametrize("voice, ssml_voice", [("en-AU-Catherine", "en-AU-Catherine"), ("de-de-hedda", "de-DE-Hedda"),
                                               ("en-us-jessa24krus", "en-US-Jessa24kRUS"), ("fr-CA-Caroline", "fr-CA-Caroline")])
def test_voices_without_a_common_suffix_are_known_by_the_table(voice, ssml_voice):
    plan = plan_one({"kind": "text-to-speech", "voice": voice}, allow_retired_kinds=True)
    assert plan["services"]["svc"]["voice"] == ssml_voice
    assert plan["services"]["svc"]["image"].endswith("-" + ssml_voice.lower() + "-preview")


def test_an_unknown_standard_voice_is_refused_naming_the_allow_unknown_variable():
    with pytest.raises(PlanInputError, match=r"^speech_services\[0\]: voice: en-US-AriaRUS is not a known text-to-speech voice .*"
                                             r"speech_allow_unknown_tags: true"):
        plan_one({"kind": "text-to-speech", "voice": "en-US-AriaRUS"}, allow_retired_kinds=True)


def test_an_unknown_voice_passes_for_every_voice_kind_with_allow_unknown_and_warns_naming_the_field():
    services = [{"name": "std", "kind": "text-to-speech", "voice": "zh-CN-Xiaoxiao-Apollo", "replicas": 1},
                {"name": "ntts", "kind": "neural-text-to-speech", "voice": "en-US-AvaMultilingualNeural", "replicas": 1}]
    plan = build_plan(services, HOSTS, allow_unknown_tags=True, allow_retired_kinds=True)
    assert plan["services"]["std"]["image"] == MCR + "text-to-speech:1.4.0-amd64-zh-cn-xiaoxiao-apollo-preview"
    assert plan["services"]["std"]["voice"] == "zh-CN-Xiaoxiao-Apollo"
    assert plan["services"]["ntts"]["voice"] == "en-US-AvaMultilingualNeural"
    assert [warning.split(" is not", 1)[0] for warning in plan["warnings"] if " is not a known " in warning] == [
        "speech_services[0].voice: zh-CN-Xiaoxiao-Apollo", "speech_services[1].voice: en-US-AvaMultilingualNeural"]
    assert any(warning.startswith("speech_services[0].kind: text-to-speech (standard voices) was retired") for warning in plan["warnings"])


def test_an_unknown_voice_in_tag_form_has_no_smoke_request():
    plan = plan_one({"kind": "text-to-speech", "voice": "zh-cn-xiaoxiao-apollo"}, allow_retired_kinds=True, allow_unknown_tags=True)
    assert plan["services"]["svc"]["voice"] is None
    assert run_spec(only_container(plan), {"billing_endpoint": "https://westeurope.api.cognitive.microsoft.com/"})["smoke"] is False
    assert "write it with Microsoft's casing" in plan["warnings"][0]


def test_kinds_without_a_voice_carry_none():
    plan = build_plan([{"name": "stt", "kind": "speech-to-text", "replicas": 1}, {"name": "lid", "kind": "language-detection", "replicas": 1}],
                      HOSTS)
    assert [service["voice"] for service in plan["services"].values()] == [None, None]
    assert all(container["voice"] is None for container in plan["hosts"]["h1"]["containers"])


# --------------------------------------------------------------------------------------------- model_id


@pytest.mark.parametrize("kind", ["custom-speech-to-text", "custom-text-to-speech"])
def test_model_id_is_required_where_a_custom_model_runs(kind):
    with pytest.raises(PlanInputError, match=r"^speech_services\[0\]\.model_id is required for kind %s: the custom model's ID "
                                             r"\(a GUID\) from Speech Studio$" % kind):
        plan_one({"kind": kind})


@pytest.mark.parametrize("kind, extra", [("speech-to-text", {}), ("neural-text-to-speech", {}), ("language-detection", {}),
                                         ("text-to-speech", {"allow_retired_kinds": True})])
def test_model_id_is_refused_for_the_kinds_that_take_none(kind, extra):
    message = ("speech_services[0].model_id is only for custom-speech-to-text and custom-text-to-speech (the custom model to "
               "run); kind %s runs no custom model: remove model_id" % kind)
    with pytest.raises(PlanInputError, match="^" + re.escape(message) + "$"):
        plan_one({"kind": kind, "model_id": GUID}, **extra)


def test_custom_text_to_speech_passes_its_model_id_on_as_model_id_setting():
    container = only_container(plan_one({"kind": "custom-text-to-speech", "model_id": GUID}))
    assert container["settings"] == {"ModelId": GUID}
    assert container["voice"] is None  # the voice is the model's


# --------------------------------------------------------------------------------------------- the plan filter


def test_the_plan_filter_shows_the_plans_warnings(monkeypatch):
    shown = []
    monkeypatch.setattr(plan_filter.display, "warning", shown.append)
    plan = plan_filter.plan([{"name": "std", "kind": "text-to-speech", "replicas": 1}], HOSTS, allow_retired_kinds=True)
    assert shown == plan["warnings"] and len(shown) == 1 and "2021-08-31" in shown[0]


def test_the_plan_filter_refuses_the_retired_kind_by_default():
    with pytest.raises(plan_filter.AnsibleFilterError, match=re.escape(TTS_REFUSAL)):
        plan_filter.plan([{"name": "std", "kind": "text-to-speech", "replicas": 1}], HOSTS, allow_retired_kinds=None)


def test_every_kind_the_catalog_retires_is_refused_without_the_opt_in():
    for kind in catalog.KINDS:
        service = {"kind": kind, "model_id": GUID} if catalog.needs_model_id(kind) else {"kind": kind}
        if catalog.is_retired(kind):
            with pytest.raises(PlanInputError, match="speech_allow_retired_kinds: true"):
                plan_one(service)
        else:
            assert plan_one(service)["services"]["svc"]["kind"] == kind
