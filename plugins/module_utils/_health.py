# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe's verdicts on a host's containers (private glue of the filter speechops.speech.speech_health).

records(): the entries of the run's health summary (playbooks/tasks/health_summary.yml reads them).
decisions(): which containers that stopped serving a run restarts, and which not, and why.
Pure functions; stdlib only; Python 3.8. Bad input raises HealthInputError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class HealthInputError(ValueError):
    """The verdicts or an option are not what the probe and the run specs give."""


def _check_list(verdicts):
    if not isinstance(verdicts, Sequence) or isinstance(verdicts, str):
        raise HealthInputError("input must be a list of [run spec, probe result] pairs")


def _pairs(verdicts):
    """[[run spec, probe result], ...] checked; the pairs themselves."""
    _check_list(verdicts)
    for index, pair in enumerate(verdicts):
        if len(pair) != 2 or not isinstance(pair[0], Mapping) or not isinstance(pair[1], Mapping) or "name" not in pair[0]:
            raise HealthInputError("item {0} is not a [run spec, probe result] pair".format(index))
    return verdicts


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


def records(verdicts, host, expect_status):
    """[[run spec, probe result], ...] -> the health entries of those containers on ``host``."""
    return [health_record(host, spec, verdict, list(expect_status)) for spec, verdict in _pairs(verdicts)]


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


def decisions(verdicts, host, billing=None, not_running=()):
    """[[run spec, probe result], ...] of the containers a run does not replace -> a decision for each that does not
    answer /ready (restart it, or not and why), then one for each container named in ``not_running`` (restart it)."""
    _check_list(verdicts)
    if billing is not None and not isinstance(billing, Mapping):
        raise HealthInputError("billing must be the probe's billing result or null")
    pairs = _pairs(verdicts)
    found = [decide(host, spec, verdict, billing) for spec, verdict in pairs]
    found = [decision for decision in found if decision is not None]
    for name in not_running or ():
        found.append(heal_decision(host, name, None, True, "stopped serving: the container was not running"))
    return found
