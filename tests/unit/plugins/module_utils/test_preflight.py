# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host preflight checks: each check alone, together, policies, reservations, disk, fleet inputs, the secret."""

from __future__ import annotations

import inspect

import pytest

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils.plan import build_plan
from ansible_collections.speechops.speech.plugins.module_utils.preflight import (
    DEFAULT_IMAGE_DISK_MB,
    PreflightInputError,
    check_fleet_inputs,
    check_host,
    fleet_input_warnings,
    format_report,
)

STT_IMAGE = "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"
DE_IMAGE = "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-de-de"
NTTS_IMAGE = "mcr.microsoft.com/azure-cognitive-services/speechservices/neural-text-to-speech:4.1.0-amd64-en-us-arianeural"
LID_IMAGE = "mcr.microsoft.com/azure-cognitive-services/speechservices/language-detection:1.18.0-amd64-preview"
TTS_IMAGE = "mcr.microsoft.com/azure-cognitive-services/speechservices/text-to-speech:1.4.0-amd64-en-us-jessarus-preview"
CTTS_IMAGE = "mcr.microsoft.com/azure-cognitive-services/speechservices/custom-text-to-speech:1.4.0-amd64-preview"
GOOD_ENDPOINT = "https://contoso-speech.cognitiveservices.azure.com/"
GOOD_KEY = "0123456789abcdef0123456789abcdef"
SECRET_KEY = "Zq7RkT2mWx9LpV4cNs8HbJ3yFd6GaE1u"


def healthy_facts(**changes):
    facts = {
        "architecture": "x86_64", "avx2": True, "cpu_flags": ["sse4_2", "avx", "avx2"],
        "vcpus_usable": 32.0, "vcpus_online": 32, "clock_mhz": 3000, "clock_source": "cpufreq",
        "memory_total_mb": 65536, "memory_usable_mb": 65536, "memory_available_mb": 60000, "memory_limit_mb": None,
        "docker_data_root": "/var/lib/docker", "disk_free_mb": 100000,
        "docker": {"installed": True, "version": "27.3.1", "running": True}, "containers": [], "ports_in_use": [],
    }
    facts.update(changes)
    return facts


def container(name, kind, image, cpus=None, memory_mb=None, service=None, model_memory="host"):
    """A planned container at the catalog's recommended size unless sizes are given, as the plan gives it: memory_mb is
    its --memory, the speech model memory beside it (model_memory host) or inside it (container)."""
    sizes = catalog.resources(kind, "recommended")
    allocation = sizes["memory_mb"] if memory_mb is None else memory_mb
    return {
        "name": name, "service": service or name.rsplit("-", 1)[0].replace("speech-", ""), "kind": kind, "image": image,
        "host_port": 5100, "cpus": sizes["cpus"] if cpus is None else cpus,
        "memory_mb": allocation + (sizes["model_memory_mb"] if model_memory == "container" else 0),
        "model_memory_mb": sizes["model_memory_mb"], "model_memory": model_memory, "settings": {},
    }


def planned():
    """8 + 8 + 1 = 17 cpus; --memory 8192 + 16384 + 1024 plus the STT model 8192 = 33792 MB;
    images: STT 8000 + NTTS 8000 + LID 2000 = 18000 MB."""
    return [
        container("speech-stt-1", catalog.SPEECH_TO_TEXT, STT_IMAGE),
        container("speech-tts-1", catalog.NEURAL_TEXT_TO_SPEECH, NTTS_IMAGE),
        container("speech-lid-1", catalog.LANGUAGE_DETECTION, LID_IMAGE),
    ]


def checks(entries):
    return [entry["check"] for entry in entries]


def test_a_healthy_host_passes_with_its_demand():
    report = check_host(healthy_facts(), planned(), {"host": "h1"})
    assert report["ok"] is True
    assert report["failures"] == [] and report["warnings"] == []
    assert report["demand"] == {"cpus": 17, "memory_mb": 33792, "model_memory_mb": 8192, "disk_mb": 18000 + 2048}
    assert report["text"] == "host h1: OK"
    assert report["host"] == "h1"


def test_a_host_with_nothing_planned_passes_with_zero_demand():
    report = check_host(healthy_facts(), [], {"host": "h1"})
    assert report["ok"] and report["demand"] == {"cpus": 0, "memory_mb": 0, "model_memory_mb": 0, "disk_mb": 0}


ALONE = [
    ("no_avx2", healthy_facts(avx2=False, cpu_flags=["sse4_2"]), planned(), {}, "avx2",
     ["Azure AI Speech containers require a host CPU with AVX2", "will not function correctly", "speech_hosts"]),
    ("no_avx2_nothing_planned", healthy_facts(avx2=False), [], {}, "avx2", ["speech_host.avx2"]),
    ("arm64", healthy_facts(architecture="aarch64"), planned(), {}, "architecture", ["aarch64", "x86_64"]),
    ("arm64_nothing_planned", healthy_facts(architecture="aarch64"), [], {}, "architecture", ["speech_hosts"]),
    ("cpus", healthy_facts(vcpus_usable=16.0), planned(), {}, "cpus",
     ["need 17 cpus", "speech-stt-1 8, speech-tts-1 8, speech-lid-1 1", "has 16 cpus usable", "speech_reserved_cpus 0 cpus = 16 cpus"]),
    ("memory", healthy_facts(memory_usable_mb=32768), planned(), {}, "memory",
     ["need 33792 MB of memory = --memory 25600 MB (speech-stt-1 8192, speech-tts-1 16384, speech-lid-1 1024)",
      "+ speech model memory 8192 MB beside the limits (speech-stt-1 8192)",
      "32768 MB usable (speech_host.memory_usable_mb)", "speech_reserved_memory_mb"]),
    ("memory_big_host_reserved", healthy_facts(memory_usable_mb=1048576), planned(), {"reserved_memory_mb": 1040000}, "memory",
     ["1048576 MB usable", "speech_reserved_memory_mb 1040000 MB = 8576 MB"]),
    ("cpus_fractional_reservation", healthy_facts(vcpus_usable=17.0), planned(), {"reserved_cpus": 0.25}, "cpus",
     ["minus speech_reserved_cpus 0.25 cpus = 16.75 cpus"]),
    ("ntts_cpus_below_minimum", healthy_facts(), [container("speech-tts-1", catalog.NEURAL_TEXT_TO_SPEECH, NTTS_IMAGE, cpus=4)], {},
     "container_size", ["service tts (neural-text-to-speech) is below Microsoft's minimum size, the current page's "
                        "(A1: 6 cores, 12 GB) and every older page's", "cpus 4 < 6", "raise speech_services[tts].cpus to 6"]),
    ("stt_below_every_documented_minimum", healthy_facts(), [container("speech-stt-1", catalog.SPEECH_TO_TEXT, STT_IMAGE, memory_mb=2047)], {},
     "container_size", ["memory_mb 2047 < 4096 (set by speech_services[stt].memory_mb)"]),
    ("clock_cpufreq", healthy_facts(clock_mhz=2100, clock_source="cpufreq"), planned(), {}, "clock", ["2100 MHz", ">= 2600 MHz"]),
    ("clock_model_name", healthy_facts(clock_mhz=2200, clock_source="model_name"), planned(), {}, "clock", ["from model_name", "2200"]),
    ("clock_cpuinfo", healthy_facts(clock_mhz=1200, clock_source="cpuinfo"), planned(), {}, "clock",
     ["/proc/cpuinfo", "below their maximum", "set speech_clock_policy: warn"]),
    ("clock_raised_minimum", healthy_facts(clock_mhz=3000), planned(), {"min_clock_mhz": 3200}, "clock", [">= 3200 MHz"]),
    ("disk", healthy_facts(disk_free_mb=10000), planned(), {}, "disk",
     ["free disk at /var/lib/docker is 10000 MB", "3 distinct images", "20048 MB", "estimate", "speech_image_disk_mb"]),
]


@pytest.mark.parametrize("facts, containers, options, check, fragments", [case[1:] for case in ALONE], ids=[case[0] for case in ALONE])
def test_each_check_fails_alone(facts, containers, options, check, fragments):
    report = check_host(facts, containers, dict(options, host="h1"))
    assert checks(report["failures"]) == [check]
    assert report["ok"] is False
    message = report["failures"][0]["message"] + " -> " + report["failures"][0]["fix"]
    for fragment in fragments:
        assert fragment in message
    assert report["text"].startswith("host h1: FAILED (1 failure, ")


def test_every_failed_check_is_listed_in_check_order():
    facts = healthy_facts(avx2=False, architecture="i686", vcpus_usable=4.0, memory_usable_mb=4096, clock_mhz=1800, disk_free_mb=100)
    small_tts = container("speech-tts-small-1", catalog.NEURAL_TEXT_TO_SPEECH, NTTS_IMAGE, cpus=2, memory_mb=4096, service="tts-small")
    options = {"host": "h9", "eula": "no", "billing_endpoint": "ftp://x.example", "api_key": ""}
    report = check_host(facts, planned() + [small_tts], options)
    assert checks(report["failures"]) == [
        "avx2", "architecture", "cpus", "memory", "container_size", "clock", "disk", "eula", "billing_endpoint", "api_key"]
    assert report["text"].splitlines()[0] == "host h9: FAILED (10 failures, 0 warnings)"
    assert len(report["text"].splitlines()) == 11
    assert all(line.startswith("  - [") and " -> " in line for line in report["text"].splitlines()[1:])


def test_replicas_of_one_service_give_one_size_finding():
    replicas = [container("speech-tts-%d" % index, catalog.NEURAL_TEXT_TO_SPEECH, NTTS_IMAGE, cpus=4, service="tts") for index in (1, 2, 3)]
    report = check_host(healthy_facts(), replicas)
    assert checks(report["failures"]) == ["container_size"]
    assert "(3 containers on this host)" in report["failures"][0]["message"]


SIZES = [
    # kind, cpus, memory_mb (the allocation, without the model memory), expected failures, expected warnings
    (catalog.SPEECH_TO_TEXT, 4, 4096, [], ["container_size"]),  # the current minimum, and every page's docker run example
    (catalog.SPEECH_TO_TEXT, 8, 8192, [], []),  # exactly recommended
    (catalog.SPEECH_TO_TEXT, 8, 8191, [], ["container_size"]),
    (catalog.SPEECH_TO_TEXT, 3.5, 8192, [], ["container_size"]),  # below the current minimum, above 2020's
    (catalog.SPEECH_TO_TEXT, 2, 2048, [], ["container_size"]),  # the 2020 page's minimum
    (catalog.SPEECH_TO_TEXT, 1.5, 8192, ["container_size"], []),  # below every page
    (catalog.SPEECH_TO_TEXT, 4, 2047, ["container_size"], []),
    (catalog.CUSTOM_SPEECH_TO_TEXT, 4, 4096, [], ["container_size"]),
    (catalog.NEURAL_TEXT_TO_SPEECH, 6, 12288, [], ["container_size"]),
    (catalog.NEURAL_TEXT_TO_SPEECH, 6, 12287, ["container_size"], []),
    (catalog.LANGUAGE_DETECTION, 1, 1024, [], []),  # minimum == recommended: never a warning
    (catalog.LANGUAGE_DETECTION, 0.5, 1024, ["container_size"], []),
]


@pytest.mark.parametrize("kind, cpus, memory_mb, failures, warnings", SIZES)
def test_container_size_against_minimum_and_recommended(kind, cpus, memory_mb, failures, warnings):
    report = check_host(healthy_facts(), [container("speech-svc-1", kind, "img", cpus=cpus, memory_mb=memory_mb)])
    assert checks(report["failures"]) == failures
    assert checks(report["warnings"]) == warnings


@pytest.mark.parametrize("policy, failures, warnings", [("fail", ["container_size"], []), ("warn", [], ["container_size"])])
def test_size_policy_warn_turns_a_below_minimum_failure_into_a_warning(policy, failures, warnings):
    tiny = [container("speech-stt-1", catalog.SPEECH_TO_TEXT, STT_IMAGE, cpus=0.5, memory_mb=512)]
    report = check_host(healthy_facts(), tiny, {"size_policy": policy})
    assert checks(report["failures"]) == failures
    assert checks(report["warnings"]) == warnings
    assert "below Microsoft's minimum size" in (report["failures"] + report["warnings"])[0]["message"]


def test_recommended_size_warning_names_the_service_and_variable():
    report = check_host(healthy_facts(), [container("speech-stt-1", catalog.SPEECH_TO_TEXT, STT_IMAGE, cpus=4, memory_mb=8192)])
    warning = report["warnings"][0]
    assert "service stt (speech-to-text) is below Microsoft's recommended size: cpus 4 < 8" in warning["message"]
    assert "speech_services[stt].cpus" in warning["fix"]


def test_the_model_memory_inside_the_limit_is_not_the_containers_own():
    inside = container("speech-stt-1", catalog.SPEECH_TO_TEXT, STT_IMAGE, memory_mb=4096, model_memory="container")
    assert inside["memory_mb"] == 4096 + 8192
    report = check_host(healthy_facts(), [inside])
    assert checks(report["warnings"]) == ["container_size"] and "memory_mb 4096 < 8192" in report["warnings"][0]["message"]
    assert report["demand"]["memory_mb"] == 12288 and report["demand"]["model_memory_mb"] == 0


CLOCKS = [
    # clock_mhz, clock_source, clock_policy, expected failures, expected warnings
    (3000, "cpufreq", "fail", [], []),
    (2600, "cpufreq", "fail", [], []),  # exactly 2.6 GHz is enough
    (2599, "cpufreq", "fail", ["clock"], []),
    (2599, "cpufreq", "warn", [], ["clock"]),
    (2000, "model_name", "fail", ["clock"], []),
    (2000, "model_name", "warn", [], ["clock"]),
    (1200, "cpuinfo", "fail", ["clock"], []),
    (1200, "cpuinfo", "warn", [], ["clock"]),
    (None, "unknown", "fail", [], ["clock"]),
    (None, "unknown", "warn", [], ["clock"]),
]


@pytest.mark.parametrize("clock_mhz, clock_source, policy, failures, warnings", CLOCKS)
def test_clock_failures_and_warnings_per_policy(clock_mhz, clock_source, policy, failures, warnings):
    report = check_host(healthy_facts(clock_mhz=clock_mhz, clock_source=clock_source), planned(), {"clock_policy": policy})
    assert checks(report["failures"]) == failures
    assert checks(report["warnings"]) == warnings
    assert report["ok"] is not failures


def test_a_warning_only_report_is_ok_and_says_so():
    report = check_host(healthy_facts(clock_mhz=None, clock_source="unknown"), planned(), {"host": "h2"})
    lines = report["text"].splitlines()
    assert report["ok"] is True
    assert lines[0] == "host h2: OK (1 warning)"
    assert lines[1].startswith("  - [clock] warning: the CPU clock could not be read")


RESERVATIONS = [
    # vcpus_usable, reserved_cpus, memory_usable_mb, reserved_memory_mb, expected failures (demand: 17 cpus, 33792 MB)
    (18.0, 1, 34816, 1024, []),
    (18.0, 1.5, 34816, 1024, ["cpus"]),
    (18.0, 1, 34816, 1025, ["memory"]),
    (17.0, 0, 33792, 0, []),
    (16.5, 0, 33791, 0, ["cpus", "memory"]),
]


@pytest.mark.parametrize("vcpus, reserved_cpus, memory, reserved_memory, failures", RESERVATIONS)
def test_reservations_come_off_the_usable_capacity(vcpus, reserved_cpus, memory, reserved_memory, failures):
    report = check_host(healthy_facts(vcpus_usable=vcpus, memory_usable_mb=memory), planned(),
                        {"reserved_cpus": reserved_cpus, "reserved_memory_mb": reserved_memory})
    assert checks(report["failures"]) == failures


def test_fractional_cpus_add_up_without_float_noise():
    lids = [container("speech-lid-%d" % index, catalog.LANGUAGE_DETECTION, LID_IMAGE, cpus=1.1, service="lid") for index in (1, 2, 3)]
    report = check_host(healthy_facts(vcpus_usable=3.3), lids)
    assert checks(report["failures"]) == []
    assert report["demand"]["cpus"] == 3.3


def test_capacity_facts_that_could_not_be_read_warn_and_skip():
    report = check_host(healthy_facts(vcpus_usable=None, memory_usable_mb=None), planned())
    assert checks(report["failures"]) == []
    assert checks(report["warnings"]) == ["cpus", "memory"]
    assert "speech_host.vcpus_usable could not be read" in report["warnings"][0]["message"]


def stt_replicas(count, image=STT_IMAGE):
    return [container("speech-stt-%d" % index, catalog.SPEECH_TO_TEXT, image, service="stt") for index in range(1, count + 1)]


DISK = [
    # containers, free MB, options, images present on the host, expected disk demand, expected failures
    ("three_replicas_one_image", stt_replicas(3), 10048, {}, [], 8000 + 2048, []),
    ("three_replicas_one_image_short", stt_replicas(3), 10047, {}, [], 8000 + 2048, ["disk"]),
    ("two_images", stt_replicas(2) + [container("speech-de-1", catalog.SPEECH_TO_TEXT, DE_IMAGE)], 18048, {}, [], 16000 + 2048, []),
    ("two_images_short", stt_replicas(2) + [container("speech-de-1", catalog.SPEECH_TO_TEXT, DE_IMAGE)], 18047, {}, [], 18048, ["disk"]),
    ("override_and_headroom", stt_replicas(1), 5100, {"image_disk_mb": {catalog.SPEECH_TO_TEXT: 5000}, "disk_headroom_mb": 100}, [],
     5100, []),
    ("image_already_pulled", stt_replicas(2), 10, {}, [STT_IMAGE], 0, []),
    ("one_of_two_already_pulled", planned()[:2], 10047, {}, [STT_IMAGE], 8000 + 2048, ["disk"]),
]


@pytest.mark.parametrize("containers, free, options, present, demand, failures", [case[1:] for case in DISK], ids=[case[0] for case in DISK])
def test_disk_counts_each_distinct_image_once(containers, free, options, present, demand, failures):
    existing = [{"name": "speech-old-%d" % index, "image": image, "running": True} for index, image in enumerate(present)]
    report = check_host(healthy_facts(disk_free_mb=free, containers=existing), containers, options)
    assert report["demand"]["disk_mb"] == demand
    assert checks(report["failures"]) == failures


def test_disk_that_could_not_be_measured_warns():
    report = check_host(healthy_facts(disk_free_mb=None), planned())
    assert checks(report["warnings"]) == ["disk"] and report["ok"]


def test_default_image_sizes_cover_every_kind():
    assert sorted(DEFAULT_IMAGE_DISK_MB) == sorted(catalog.KINDS)


def test_retired_kind_warns_with_the_catalog_text_and_the_variable_that_allowed_it():
    legacy = container("speech-tts-legacy-1", catalog.TEXT_TO_SPEECH, TTS_IMAGE, service="tts-legacy")
    report = check_host(healthy_facts(), [legacy])
    assert checks(report["failures"]) == []
    assert checks(report["warnings"]) == ["retired"]
    assert report["warnings"][0]["message"] == (
        catalog.status_warning(catalog.TEXT_TO_SPEECH) + " (service tts-legacy, planned because speech_allow_retired_kinds is true)")


def test_legacy_kind_warns_without_naming_the_opt_in():
    custom = container("speech-ctts-1", catalog.CUSTOM_TEXT_TO_SPEECH, CTTS_IMAGE, service="ctts")
    report = check_host(healthy_facts(), [custom])
    assert checks(report["warnings"]) == ["retired"]
    assert report["warnings"][0]["message"] == catalog.status_warning(catalog.CUSTOM_TEXT_TO_SPEECH) + " (service ctts)"


# --- fleet inputs ----------------------------------------------------------------------------------

EULAS = [("accept", []), ("Accept", []), ("ACCEPT", []), ("accepted", ["eula"]), (" accept", ["eula"]), ("", ["eula"]),
         (None, ["eula"]), (True, ["eula"]), ("yes", ["eula"])]


@pytest.mark.parametrize("eula, failures", EULAS)
def test_eula_must_be_accept(eula, failures):
    found = check_fleet_inputs(eula, GOOD_ENDPOINT, GOOD_KEY)
    assert checks(found) == failures
    assert all("speech_eula" in entry["message"] + entry["fix"] for entry in found)


ENDPOINTS = [
    # endpoint, allow_http_billing, expected failures, expected warnings
    (GOOD_ENDPOINT, False, [], []),
    ("https://westeurope.api.cognitive.microsoft.com/sts/v1.0/issuetoken", False, [], []),
    ("HTTPS://Contoso.CognitiveServices.Azure.com", False, [], []),
    ("https://speech.contoso.com/", False, [], ["billing_endpoint"]),  # custom domain: a warning, never a failure
    ("https://10.1.2.3/", False, [], ["billing_endpoint"]),
    ("http://contoso.cognitiveservices.azure.com/", False, ["billing_endpoint"], []),
    ("http://billing-stub:8080/", True, [], []),
    ("http://10.1.2.3:8080/", True, [], []),
    ("https://speech.contoso.com/", True, [], []),
    ("ftp://contoso.cognitiveservices.azure.com/", True, ["billing_endpoint"], []),
    ("contoso.cognitiveservices.azure.com", False, ["billing_endpoint"], []),  # no scheme
    ("https://", False, ["billing_endpoint"], []),
    ("https://[::1", False, ["billing_endpoint"], []),  # unparseable
    ("", False, ["billing_endpoint"], []),
    (None, False, ["billing_endpoint"], []),
    (42, False, ["billing_endpoint"], []),
]


@pytest.mark.parametrize("endpoint, allow_http, failures, warnings", ENDPOINTS)
def test_billing_endpoint(endpoint, allow_http, failures, warnings):
    assert checks(check_fleet_inputs("accept", endpoint, GOOD_KEY, allow_http_billing=allow_http)) == failures
    found_warnings = fleet_input_warnings(endpoint, allow_http_billing=allow_http)
    assert checks(found_warnings) == warnings
    assert all("not a Speech resource endpoint?" in entry["message"] for entry in found_warnings)


def test_http_endpoint_failure_names_the_sandbox_switch():
    found = check_fleet_inputs("accept", "http://contoso.cognitiveservices.azure.com/", GOOD_KEY)
    assert "speech_allow_http_billing" in found[0]["message"]


BAD_KEYS = [
    (None, "is not set"), ("", "is not set"), ("   ", "is not set"), ("<your-speech-key>", "placeholder"),
    ("{{ vault_speech_api_key }}", "placeholder"), ("{speech_api_key_value}", "placeholder"), ("changeme", "placeholder"),
    ("CHANGE_ME_BEFORE_GOING_LIVE_123", "placeholder"), ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "placeholder"),
    ("XXX-not-a-real-key-0000000000", "placeholder"), ("your-key", "placeholder"), ("YOUR_SPEECH_KEY_GOES_HERE", "placeholder"),
    ("REPLACE_ME", "placeholder"), ("REPLACE_WITH_THE_REAL_KEY_LATER", "placeholder"), ("0000000000000000000000000000000000", "placeholder"),
    ("a1b2c3d4e5", "shorter than 16"), ("0123456789abcdef0123456789abcdef\n", "whitespace"),
    ("$ANSIBLE_VAULT;1.1;AES256\n6231373738", "vault ciphertext"), ("__omit_place_holder__3c6e0b8a9c15224a8228b9a98ca1531d", "not set"),
    (12345678901234567890123456789012, "not a string"),
]


@pytest.mark.parametrize("api_key, problem", BAD_KEYS)
def test_unusable_api_keys_fail_naming_the_variable_and_the_vault(api_key, problem):
    found = check_fleet_inputs("accept", GOOD_ENDPOINT, api_key)
    assert checks(found) == ["api_key"]
    assert "speech_api_key" in found[0]["message"] and problem in found[0]["message"]
    assert "ansible-vault encrypt_string" in found[0]["fix"]


@pytest.mark.parametrize("api_key", [GOOD_KEY, SECRET_KEY, "7F3D9C2B1A8E4F6D" * 5 + "ABCD"])
def test_real_looking_keys_pass(api_key):
    assert check_fleet_inputs("accept", GOOD_ENDPOINT, api_key) == []


def test_fleet_inputs_are_folded_into_the_host_report_only_when_given():
    without = check_host(healthy_facts(), planned())
    with_inputs = check_host(healthy_facts(), planned(), {"eula": "accept", "billing_endpoint": "https://speech.contoso.com", "api_key": None})
    assert without["ok"] and without["warnings"] == []
    assert checks(with_inputs["failures"]) == ["api_key"]
    assert checks(with_inputs["warnings"]) == ["billing_endpoint"]


# --- the secret ------------------------------------------------------------------------------------

SECRET_CASES = [
    ("key_alone", {"api_key": SECRET_KEY}),
    ("key_with_bad_eula_and_endpoint", {"eula": "nope", "billing_endpoint": "http://x.example", "api_key": SECRET_KEY}),
    ("key_pasted_as_endpoint", {"billing_endpoint": SECRET_KEY, "api_key": SECRET_KEY}),
    ("key_as_endpoint_host", {"billing_endpoint": "https://%s.example.com/" % SECRET_KEY, "api_key": SECRET_KEY}),
    ("key_as_endpoint_scheme", {"billing_endpoint": "%s://host.example.com/" % SECRET_KEY, "api_key": SECRET_KEY}),
    ("key_pasted_as_eula", {"eula": SECRET_KEY, "api_key": SECRET_KEY}),
    ("key_with_whitespace", {"api_key": SECRET_KEY + "\n"}),
    ("key_too_short", {"api_key": SECRET_KEY[:12]}),
    ("key_as_placeholder_braces", {"api_key": "{" + SECRET_KEY + "}"}),
]


@pytest.mark.parametrize("options", [case[1] for case in SECRET_CASES], ids=[case[0] for case in SECRET_CASES])
def test_the_api_key_never_appears_in_the_report(options):
    facts = healthy_facts(avx2=False, clock_mhz=1000, disk_free_mb=1)
    report = check_host(facts, planned(), dict({"host": "h1", "eula": "accept", "billing_endpoint": GOOD_ENDPOINT}, **options))
    rendered = repr(report) + report["text"] + format_report("h1", report)
    secret = options["api_key"].strip("{}\n")
    for needle in (secret, secret.lower(), secret[:8], secret[-8:]):
        assert needle not in rendered
    assert report["failures"]  # the report is not empty: something was checked and said


def test_input_errors_never_carry_the_api_key():
    with pytest.raises(PreflightInputError) as raised:
        check_host(healthy_facts(), planned(), {"api_key": SECRET_KEY, "reserved_cpus": "two"})
    assert SECRET_KEY not in str(raised.value) and SECRET_KEY not in repr(raised.value)


# --- inputs of the wrong shape ---------------------------------------------------------------------

INPUT_ERRORS = [
    ("facts_not_a_dict", None, [], {}, "facts must be the speech_host fact"),
    ("facts_number_as_string", healthy_facts(vcpus_usable="32"), [], {}, "speech_host.vcpus_usable must be a number"),
    ("containers_not_a_list", healthy_facts(), "speech-stt-1", {}, "containers must be a list"),
    ("container_not_a_dict", healthy_facts(), ["speech-stt-1"], {}, "containers[0] must be a dict"),
    ("container_without_kind", healthy_facts(), [{"name": "a", "cpus": 1, "memory_mb": 1}], {}, "containers[0].kind"),
    ("container_without_memory", healthy_facts(), [{"name": "a", "kind": "speech-to-text", "cpus": 1}], {}, "containers[0].memory_mb is missing"),
    ("container_cpus_bool", healthy_facts(), [{"name": "a", "kind": "speech-to-text", "cpus": True, "memory_mb": 1}], {}, "containers[0].cpus"),
    ("unknown_option", healthy_facts(), [], {"reserved_cpu": 1}, "unknown option(s) reserved_cpu"),
    ("negative_reservation", healthy_facts(), [], {"reserved_memory_mb": -1}, "reserved_memory_mb must be >= 0"),
    ("bad_clock_policy", healthy_facts(), [], {"clock_policy": "ignore"}, "clock_policy must be one of fail, warn"),
    ("bad_size_policy", healthy_facts(), [], {"size_policy": "off"}, "size_policy must be one of fail, warn"),
    ("image_disk_mb_unknown_kind", healthy_facts(), [], {"image_disk_mb": {"stt": 1}}, "image_disk_mb: 'stt' is not a Speech container kind"),
    ("image_disk_mb_not_a_number", healthy_facts(), [], {"image_disk_mb": {"speech-to-text": "8G"}}, "image_disk_mb[speech-to-text]"),
]


@pytest.mark.parametrize("facts, containers, options, fragment", [case[1:] for case in INPUT_ERRORS], ids=[case[0] for case in INPUT_ERRORS])
def test_inputs_of_the_wrong_shape_raise_naming_the_input(facts, containers, options, fragment):
    with pytest.raises(PreflightInputError, match=None) as raised:
        check_host(facts, containers, options)
    assert fragment in str(raised.value)


def test_unknown_kind_is_a_size_failure_not_a_crash():
    report = check_host(healthy_facts(), [{"name": "speech-x-1", "service": "x", "kind": "speech-to-txt", "image": "i", "cpus": 1, "memory_mb": 1}])
    assert checks(report["failures"]) == ["container_size"]
    assert "speech_services[x].kind" in report["failures"][0]["fix"]


# --- the text --------------------------------------------------------------------------------------

def test_format_report_header_and_lines():
    report = {"failures": [{"check": "avx2", "message": "m1", "fix": "f1"}],
              "warnings": [{"check": "clock", "message": "m2", "fix": "f2"}, {"check": "disk", "message": "m3", "fix": "f3"}]}
    assert format_report("gpu-07", report) == (
        "host gpu-07: FAILED (1 failure, 2 warnings)\n"
        "  - [avx2] m1 -> f1\n"
        "  - [clock] warning: m2 -> f2\n"
        "  - [disk] warning: m3 -> f3"
    )
    assert format_report("h", {"failures": [], "warnings": []}) == "host h: OK"


# --- sizes as the plan gives them: the pages' allocations, the model memory on the host -------------

def test_each_speech_to_text_container_counts_its_model_memory_as_the_plan_does():
    two_en = stt_replicas(2)
    report = check_host(healthy_facts(), two_en + [container("speech-de-1", catalog.SPEECH_TO_TEXT, DE_IMAGE)])
    assert report["demand"]["memory_mb"] == 3 * 8192 + 3 * 8192
    assert report["demand"]["model_memory_mb"] == 3 * 8192


def test_model_memory_inside_the_limits_counts_once_per_container():
    inside = [container("speech-stt-%d" % index, catalog.SPEECH_TO_TEXT, STT_IMAGE, service="stt", model_memory="container")
              for index in (1, 2)]
    assert check_host(healthy_facts(), inside)["demand"]["memory_mb"] == 2 * 16384


def test_custom_speech_to_text_counts_each_containers_own_model():
    cstt = [container("speech-cstt-%d" % index, catalog.CUSTOM_SPEECH_TO_TEXT, "cstt:5.1.0-amd64", service="cstt") for index in (1, 2)]
    report = check_host(healthy_facts(memory_usable_mb=4 * 8192 - 1), cstt, {"host": "h1"})
    assert report["demand"]["model_memory_mb"] == 2 * 8192
    assert checks(report["failures"]) == ["memory"]
    assert "speech model memory 16384 MB beside the limits (speech-cstt-1 8192, speech-cstt-2 8192)" in report["failures"][0]["message"]


def plan_of(service, profile="recommended", **options):
    return build_plan([service], {"h1": {"vcpus_usable": 64, "memory_usable_mb": 256 * 1024, "avx2": True}}, profile=profile,
                      allow_unknown_tags=True, **options)


def host_of_the_plans_size(plan, cpus_short=0, memory_short_mb=0):
    """speech_host facts of a host whose usable cores and memory are exactly the plan's demand on h1, less the shortfall."""
    allocated = plan["hosts"]["h1"]["allocated"]
    return healthy_facts(vcpus_usable=allocated["cpus"] - cpus_short, memory_usable_mb=allocated["memory_mb"] - memory_short_mb)


def kind_service(kind):
    """One service of the kind with what the plan requires of it."""
    service = {"name": "svc", "kind": kind, "replicas": 1}
    if catalog.needs_model_id(kind):
        service["model_id"] = "m-1"
    try:
        catalog.latest_version(kind)
    except catalog.CatalogError:
        service["version"] = "1.4.0"
    return service


def retired_kinds_allowed():
    """The plan's option that lets a retired kind be planned, where it has one (its name is the plan's to choose)."""
    return dict((name, True) for name in inspect.signature(build_plan).parameters if "retired" in name)


@pytest.mark.parametrize("kind", catalog.KINDS)
@pytest.mark.parametrize("profile", catalog.SIZING_PROFILES)
def test_every_profile_passes_preflight_on_a_host_of_the_plans_size_and_fails_one_core_or_gb_short(kind, profile):
    plan = plan_of(kind_service(kind), profile, **retired_kinds_allowed())
    containers = plan["hosts"]["h1"]["containers"]
    exact = check_host(host_of_the_plans_size(plan), containers, {"host": "h1"})
    assert exact["ok"], exact["text"]
    assert "container_size" not in checks(exact["failures"])
    for check, short in (("cpus", {"cpus_short": 1}), ("memory", {"memory_short_mb": 1024})):
        report = check_host(host_of_the_plans_size(plan, **short), containers, {"host": "h1"})
        assert checks(report["failures"]) == [check], report["text"]
        assert report["text"].startswith("host h1: FAILED (1 failure")
        assert "planned containers need" in report["failures"][0]["message"]


def test_the_page_example_4_cores_4_gb_for_speech_to_text_is_accepted_with_a_warning():
    plan = plan_of({"name": "stt", "kind": catalog.SPEECH_TO_TEXT, "replicas": 1, "cpus": 4, "memory_mb": 4096})
    (planned_stt,) = plan["hosts"]["h1"]["containers"]
    assert (planned_stt["cpus"], planned_stt["memory_mb"], planned_stt["model_memory_mb"]) == (4.0, 4096, 8192)
    report = check_host(host_of_the_plans_size(plan), [planned_stt], {"host": "h1"})
    assert report["ok"] and checks(report["warnings"]) == ["container_size"]
    warning = report["warnings"][0]
    assert "below Microsoft's recommended size: cpus 4 < 8 (set by speech_services[0].cpus); " \
           "memory_mb 4096 < 8192 (set by speech_services[0].memory_mb)" in warning["message"]
    assert warning["fix"].startswith("raise speech_services[0].cpus to 8 and raise speech_services[0].memory_mb to 8192")


def test_the_2020_minimum_for_speech_to_text_is_accepted_saying_what_it_costs():
    plan = plan_of({"name": "stt", "kind": catalog.SPEECH_TO_TEXT, "replicas": 1}, "2020-minimum")
    report = check_host(host_of_the_plans_size(plan), plan["hosts"]["h1"]["containers"], {"host": "h1"})
    assert report["ok"] and checks(report["warnings"]) == ["container_size"]
    warning = report["warnings"][0]
    assert warning["message"] == (
        "service stt (speech-to-text) meets the 2020 page's minimum (D1: 2 cores, 2 GB) but not the current page's "
        "(A1: 4 cores, 4 GB): cpus 2 < 4 (set by speech_sizing_profile 2020-minimum); memory_mb 2048 < 4096 (set by "
        "speech_sizing_profile 2020-minimum); it runs, but expect a slower first start while the models are paged in, "
        "fewer concurrent recognitions than the catalog's figure, and failures under load (error 1011)")
    assert warning["fix"] == ("set speech_sizing_profile to minimum or recommended for the current minimum; keep it only if "
                              "the older page's size is what you mean to run")


def test_a_services_own_profile_is_named_in_the_warning():
    plan = plan_of({"name": "stt", "kind": catalog.SPEECH_TO_TEXT, "replicas": 1, "profile": "2020-minimum", "cpus": 4})
    warning = check_host(healthy_facts(), plan["hosts"]["h1"]["containers"])["warnings"][0]
    assert "memory_mb 2048 < 4096 (set by speech_services[0].profile 2020-minimum)" in warning["message"]
    assert "cpus" not in warning["message"].split(": ", 1)[1].split(";")[0]
    assert warning["fix"].startswith("set speech_services[0].profile to minimum or recommended")


@pytest.mark.parametrize("policy, failures, warnings", [("fail", ["container_size"], []), ("warn", [], ["container_size"])])
def test_below_every_documented_minimum_follows_the_size_policy_and_names_the_variable(policy, failures, warnings):
    plan = plan_of({"name": "stt", "kind": catalog.SPEECH_TO_TEXT, "replicas": 1, "cpus": 1, "memory_mb": 1024})
    report = check_host(healthy_facts(), plan["hosts"]["h1"]["containers"], {"size_policy": policy})
    assert checks(report["failures"]) == failures and checks(report["warnings"]) == warnings
    found = (report["failures"] + report["warnings"])[0]
    assert "cpus 1 < 4 (set by speech_services[0].cpus); memory_mb 1024 < 4096 (set by speech_services[0].memory_mb)" in found["message"]
    assert "every older page's" in found["message"]


@pytest.mark.parametrize("kind, cpus, memory_mb, warnings", [
    (catalog.SPEECH_TO_TEXT, 4, 4096, ["container_size"]),  # the how-to page's example (D1, D2)
    (catalog.SPEECH_TO_TEXT, 4, 8192, ["container_size"]),  # the current speech-to-text page's (A3)
    (catalog.CUSTOM_SPEECH_TO_TEXT, 4, 8192, ["container_size"]),  # A4
    (catalog.NEURAL_TEXT_TO_SPEECH, 6, 12288, ["container_size"]),  # A5
    (catalog.LANGUAGE_DETECTION, 1, 1024, []),  # A6
])
def test_every_pages_docker_run_example_passes_on_a_host_of_its_size(kind, cpus, memory_mb, warnings):
    service = dict(kind_service(kind), cpus=cpus, memory_mb=memory_mb)
    plan = plan_of(service)
    report = check_host(host_of_the_plans_size(plan), plan["hosts"]["h1"]["containers"], {"host": "h1"})
    assert report["ok"], report["text"]
    assert checks(report["warnings"]) == warnings
    assert plan["hosts"]["h1"]["containers"][0]["memory_mb"] == memory_mb  # what Docker gets, as on the page
