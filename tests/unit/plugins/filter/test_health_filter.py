# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.filter.health import FilterModule, speech_health_records

FILTER_DIR = Path(__file__).resolve().parents[4] / "plugins" / "filter"
SMOKE_NONE = {"test": "none", "ok": None}
VALID = {"api_status": "Valid", "status_words": "ok: the ApiKey is valid", "smoke": SMOKE_NONE}


def test_the_filter_is_documented():
    assert all((FILTER_DIR / f"{name}.yml").is_file() for name in FilterModule().filters())


def test_a_valid_container_is_healthy_and_its_line_gives_the_status_in_words():
    [record] = speech_health_records([[{"name": "speech-stt-1"}, VALID]], "host1", ["Valid"])
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
    [record] = speech_health_records([[{"name": "c"}, verdict]], "h", ["Valid"])
    assert (record["healthy"], record["line"]) == (healthy, "h: c: " + why)


def test_expect_status_decides_and_the_order_is_kept():
    verdicts = [[{"name": "a"}, dict(VALID, api_status="OutOfQuota")], [{"name": "b"}, VALID]]
    assert [r["healthy"] for r in speech_health_records(verdicts, "h", ["Valid", "OutOfQuota"])] == [True, True]
    assert [(r["container"], r["healthy"]) for r in speech_health_records(verdicts, "h", ["Valid"])] == [("a", False), ("b", True)]
    assert speech_health_records([], "h", ["Valid"]) == []


@pytest.mark.parametrize("verdicts", ["text", [[{"name": "a"}]], [[{"no": "name"}, VALID]], [["a", VALID]]])
def test_bad_input_is_refused(verdicts):
    with pytest.raises(AnsibleFilterError, match="speech_health_records"):
        speech_health_records(verdicts, "h", ["Valid"])
