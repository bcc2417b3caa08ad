# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.filter.health import FilterModule, speech_health, speech_scrub

FILTER_DIR = Path(__file__).resolve().parents[4] / "plugins" / "filter"
SMOKE_NONE = {"test": "none", "ok": None}
VALID = {"api_status": "Valid", "status_words": "ok: the ApiKey is valid", "smoke": SMOKE_NONE}


def health_records(verdicts, host, expect_status):
    return speech_health(verdicts, host, "records", expect_status=expect_status)


def heal_decisions(verdicts, host, billing=None, not_running=()):
    return speech_health(verdicts, host, "decisions", billing=billing, not_running=not_running)


def test_the_filter_is_documented():
    assert FilterModule().filters() == {"speech_health": speech_health, "speech_scrub": speech_scrub}
    assert all((FILTER_DIR / f"{name}.yml").is_file() for name in FilterModule().filters())


@pytest.mark.parametrize("view, options, message", [
    ("summary", {}, "speech_health: view 'summary' is unknown; use one of records, decisions"),
    ("records", {}, "speech_health: view records needs expect_status"),
    ("records", {"expect_status": ["Valid"], "billing": None}, "speech_health: view records takes expect_status, not billing"),
    ("decisions", {"expect_status": ["Valid"]}, "speech_health: view decisions takes billing, not_running, not expect_status"),
])
def test_an_unknown_view_or_option_is_named(view, options, message):
    with pytest.raises(AnsibleFilterError, match=message):
        speech_health([], "h", view, **options)


def test_a_valid_container_is_healthy_and_its_line_gives_the_status_in_words():
    [record] = health_records([[{"name": "speech-stt-1"}, VALID]], "host1", ["Valid"])
    assert record == {"host": "host1", "container": "speech-stt-1", "key": "host1/speech-stt-1", "healthy": True,
                      "api_status": "Valid", "line": "host1: speech-stt-1: ok: the ApiKey is valid"}


@pytest.mark.parametrize("verdict, healthy, why", [
    (dict(VALID, api_status="CouldNotConnect", msg=None, status_words="cannot reach billing"), False, "cannot reach billing"),
    (dict(VALID, msg="http://127.0.0.1:5100 did not become ready"), True, "http://127.0.0.1:5100 did not become ready"),
    (dict(VALID, smoke={"test": "tts", "ok": False}, msg="synthesis answered HTTP 400"), False, "synthesis answered HTTP 400"),
    (dict(VALID, smoke={"test": "websocket", "ok": True}), True, "ok: the ApiKey is valid"),
    ({"api_status": None, "smoke": SMOKE_NONE}, False, ""),
])
def test_healthy_needs_an_expected_status_and_no_failed_smoke_test(verdict, healthy, why):
    [record] = health_records([[{"name": "c"}, verdict]], "h", ["Valid"])
    assert (record["healthy"], record["line"]) == (healthy, "h: c: " + why)


def test_expect_status_decides_and_the_order_is_kept():
    verdicts = [[{"name": "a"}, dict(VALID, api_status="OutOfQuota")], [{"name": "b"}, VALID]]
    assert [r["healthy"] for r in health_records(verdicts, "h", ["Valid", "OutOfQuota"])] == [True, True]
    assert [(r["container"], r["healthy"]) for r in health_records(verdicts, "h", ["Valid"])] == [("a", False), ("b", True)]
    assert health_records([], "h", ["Valid"]) == []


@pytest.mark.parametrize("verdicts", ["text", [[{"name": "a"}]], [[{"no": "name"}, VALID]], [["a", VALID]]])
def test_bad_input_is_refused(verdicts):
    with pytest.raises(AnsibleFilterError, match="speech_health: view records"):
        health_records(verdicts, "h", ["Valid"])


GAVE_UP = {"ready": False, "api_status": "CouldNotConnect", "status_words": "the container cannot reach the Billing endpoint",
           "ready_answer": {"status": 503, "body": '{"ready": "notready", "message": "gave up after 10 retries"}', "error": None}}
REACHABLE = {"endpoint": "http://billing:5001/", "reachable": True, "answer": "HTTP 404: not found"}
UNREACHABLE = {"endpoint": "http://billing:5001/", "reachable": False, "answer": "no answer (timed out)"}


def test_a_ready_container_needs_no_decision():
    assert heal_decisions([[{"name": "c"}, dict(VALID, ready=True)]], "h", REACHABLE) == []


def test_a_container_that_gave_up_on_billing_is_restarted_once_the_host_reaches_the_endpoint_again():
    [decision] = heal_decisions([[{"name": "speech-stt-1"}, GAVE_UP]], "h1", REACHABLE)
    assert (decision["key"], decision["heal"], decision["healthy"], decision["api_status"]) == \
        ("h1/speech-stt-1", True, False, "CouldNotConnect")
    assert decision["reason"].startswith("stopped serving: it could not reach its billing endpoint (/ready answered HTTP 503: ")
    assert "gave up after 10 retries" in decision["reason"]
    assert decision["reason"].endswith("http://billing:5001/ answers this host again (HTTP 404: not found)")
    assert decision["line"] == "h1: speech-stt-1: " + decision["reason"]


@pytest.mark.parametrize("billing, why", [
    (UNREACHABLE, "http://billing:5001/ still does not answer this host (no answer (timed out))"),
    (None, "the billing endpoint could not be checked from this host"),
])
def test_a_container_that_gave_up_on_billing_is_left_while_the_endpoint_does_not_answer(billing, why):
    [decision] = heal_decisions([[{"name": "c"}, dict(GAVE_UP, api_status="BillingEndpointBusy")]], "h", billing)
    assert decision["heal"] is False
    assert why in decision["reason"] and "a later run restarts it once the endpoint answers" in decision["reason"]
    assert decision["line"].startswith("h: c: not restarted: it stopped serving because it cannot reach its billing endpoint")


def test_a_key_problem_is_not_restarted():
    verdict = dict(GAVE_UP, api_status="Invalid", status_words="the ApiKey is not valid")
    [decision] = heal_decisions([[{"name": "c"}, verdict]], "h", REACHABLE)
    assert decision["heal"] is False and decision["reason"].endswith("/status: the ApiKey is not valid")
    assert "a restart does not fix that" in decision["reason"]


@pytest.mark.parametrize("answer, words", [
    ({"status": None, "body": None, "error": "[Errno 111] Connection refused"}, "no answer ([Errno 111] Connection refused)"),
    ({"status": 503, "body": None, "error": None}, "HTTP 503"),
])
def test_a_container_that_does_not_answer_ready_for_another_reason_is_restarted(answer, words):
    verdict = {"ready": False, "api_status": None, "ready_answer": answer}
    [decision] = heal_decisions([[{"name": "c"}, verdict]], "h", None)
    assert (decision["heal"], decision["reason"]) == (True, "stopped serving: /ready answered " + words)


def test_containers_not_running_are_restarted_after_the_probed_ones():
    decisions = heal_decisions([[{"name": "a"}, GAVE_UP]], "h", REACHABLE, not_running=["b"])
    assert [(d["container"], d["heal"]) for d in decisions] == [("a", True), ("b", True)]
    assert decisions[1]["reason"] == "stopped serving: the container was not running"


@pytest.mark.parametrize("verdicts, billing, message", [
    ("x", None, "input must be a list"),
    ([[{"name": "c"}]], None, "item 0 is not a"),
    ([], "reachable", "billing must be"),
])
def test_heal_decisions_reject_bad_input(verdicts, billing, message):
    with pytest.raises(AnsibleFilterError, match=message):
        heal_decisions(verdicts, "h", billing)


# ------------------------------------------------------------------------------------------ speech_scrub

LOG_LINES = [
    "info: Submitting metering to 'http://billing:Bill1ng-Pw@172.31.214.3:5001/'.",
    "warn: The proxy refused the billing call (407): check HTTP_PROXY_CREDS=proxyuser:Pr0xy-Pw.",
    "fail: Model load failed: /usr/local/models/properties.json is corrupt. Retrying.",
    "debug: key 0f3c9a7b2d4e6f8091a2b3c4d5e6f708 in use, registry password Reg1stry-Pw",
]


def test_scrub_masks_the_secrets_of_log_lines_and_keeps_the_rest():
    assert speech_scrub(LOG_LINES, ["Reg1stry-Pw", None, ""]) == [
        "info: Submitting metering to 'http://billing:<masked>@172.31.214.3:5001/'.",
        "warn: The proxy refused the billing call (407): check HTTP_PROXY_CREDS=<masked>",
        "fail: Model load failed: /usr/local/models/properties.json is corrupt. Retrying.",
        "debug: key <masked> in use, registry password <masked>",
    ]


def test_scrub_without_secrets_masks_the_forms_and_key_like_only_when_asked():
    assert speech_scrub("https://u:pw@h/") == "https://u:<masked>@h/"
    assert speech_scrub(LOG_LINES[3], key_like=False) == "debug: key 0f3c9a7b2d4e6f8091a2b3c4d5e6f708 in use, registry password Reg1stry-Pw"


@pytest.mark.parametrize("secrets", ["Reg1stry-Pw", {"key": "x"}, 5])
def test_scrub_wants_a_list_of_secrets(secrets):
    with pytest.raises(AnsibleFilterError, match="speech_scrub: secrets must be a list of the secret values to mask"):
        speech_scrub("text", secrets)
