# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters speech_health_records (the probe's verdicts on a host's containers, as the run's health summary,
playbooks/tasks/health_summary.yml, reads them) and speech_heal_decisions (which of them stopped serving and
are restarted by this run, and which are not, and why). Documentation lives in <filter name>.yml."""

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


# The container cannot reach its billing endpoint (and may have given up on it for good).
BILLING_STATUSES = ("CouldNotConnect", "BillingEndpointBusy")
# A restart does not fix these: the key, the resource or its quota must change first.
KEY_STATUSES = ("Invalid", "Mismatch", "OutOfQuota", "ContainerUseUnauthorized")


def ready_words(verdict):
    answer = verdict.get("ready_answer") or {}
    if answer.get("status") is None:
        return "no answer ({0})".format(answer.get("error") or "unknown error") if answer else "no answer"
    body = answer.get("body")
    return "HTTP {0}: {1}".format(answer["status"], body) if body else "HTTP {0}".format(answer["status"])


def heal_decision(host, name, api_status, heal, reason):
    return {
        "host": host,
        "container": name,
        "key": "{0}/{1}".format(host, name),
        "heal": heal,
        "healthy": False,
        "api_status": api_status,
        "reason": reason,
        "line": "{0}: {1}: {2}{3}".format(host, name, "" if heal else "not restarted: ", reason),
    }


def decide(host, spec, verdict, billing):
    """The decision on one container that does not answer /ready, or None when it does."""
    if verdict.get("ready"):
        return None
    api_status = verdict.get("api_status")
    stopped = "/ready answered {0}".format(ready_words(verdict))
    if api_status in BILLING_STATUSES:
        if billing and billing.get("reachable"):
            return heal_decision(host, spec["name"], api_status, True, (
                "stopped serving: it could not reach its billing endpoint ({0}; /status: {1}); {2} answers this host "
                "again ({3})").format(stopped, api_status, billing.get("endpoint"), billing.get("answer")))
        why = ("{0} still does not answer this host ({1})".format(billing.get("endpoint"), billing.get("answer")) if billing
               else "the billing endpoint could not be checked from this host")
        return heal_decision(host, spec["name"], api_status, False, (
            "it stopped serving because it cannot reach its billing endpoint ({0}; /status: {1}), and {2}; "
            "a later run restarts it once the endpoint answers").format(stopped, api_status, why))
    if api_status in KEY_STATUSES:
        return heal_decision(host, spec["name"], api_status, False, (
            "it does not serve and a restart does not fix that ({0}); /status: {1}").format(
                stopped, verdict.get("status_words") or api_status))
    return heal_decision(host, spec["name"], api_status, True, "stopped serving: {0}".format(stopped))


def speech_heal_decisions(verdicts, host, billing=None, not_running=()):
    """[[run spec, probe result], ...] of the containers a run does not replace -> a decision for each that does not
    answer /ready (restart it, or not and why), then one for each container named in ``not_running`` (restart it)."""
    if not isinstance(verdicts, Sequence) or isinstance(verdicts, str):
        raise AnsibleFilterError("speech_heal_decisions: input must be a list of [run spec, probe result] pairs")
    if billing is not None and not isinstance(billing, Mapping):
        raise AnsibleFilterError("speech_heal_decisions: billing must be the probe's billing result or null")
    decisions = []
    for index, pair in enumerate(verdicts):
        if len(pair) != 2 or not isinstance(pair[0], Mapping) or not isinstance(pair[1], Mapping) or "name" not in pair[0]:
            raise AnsibleFilterError("speech_heal_decisions: item {0} is not a [run spec, probe result] pair".format(index))
        decision = decide(host, pair[0], pair[1], billing)
        if decision is not None:
            decisions.append(decision)
    for name in not_running or ():
        decisions.append(heal_decision(host, name, None, True, "stopped serving: the container was not running"))
    return decisions


class FilterModule:
    def filters(self):
        return {"speech_health_records": speech_health_records, "speech_heal_decisions": speech_heal_decisions}
