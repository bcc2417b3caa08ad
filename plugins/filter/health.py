# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter speech_health_records: the probe's verdicts on a host's containers, as the run's health summary
(playbooks/tasks/health_summary.yml) reads them. Documentation lives in speech_health_records.yml."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def health_record(host, spec, verdict, expect_status):
    """One container's entry: healthy when /status said an expected apiStatus and no smoke test failed."""
    smoke = verdict.get("smoke") or {}
    healthy = verdict.get("api_status") in expect_status and smoke.get("ok") is not False
    why = verdict.get("msg") or verdict.get("status_words") or ""
    return {
        "host": host,
        "container": spec["name"],
        "key": "{0}/{1}".format(host, spec["name"]),
        "healthy": healthy,
        "api_status": verdict.get("api_status"),
        "line": "{0}: {1}: {2}".format(host, spec["name"], why),
    }


def speech_health_records(verdicts, host, expect_status):
    """[[run spec, probe result], ...] -> the health entries of those containers on ``host``."""
    if not isinstance(verdicts, Sequence) or isinstance(verdicts, str):
        raise AnsibleFilterError("speech_health_records: input must be a list of [run spec, probe result] pairs")
    records = []
    for index, pair in enumerate(verdicts):
        if len(pair) != 2 or not isinstance(pair[0], Mapping) or not isinstance(pair[1], Mapping) or "name" not in pair[0]:
            raise AnsibleFilterError("speech_health_records: item {0} is not a [run spec, probe result] pair".format(index))
        records.append(health_record(host, pair[0], pair[1], list(expect_status)))
    return records


class FilterModule:
    def filters(self):
        return {"speech_health_records": speech_health_records}
