# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters speech_files_drift and speech_containers_drift. Docs: their .yml files; logic: module_utils/drift.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.module_utils import drift


def _facts(facts):
    if facts is None or facts == "":
        return None
    if not isinstance(facts, Mapping):
        raise AnsibleFilterError("expected the host's speech_host facts (host_facts) or none, got {0}".format(type(facts).__name__))
    return facts


def speech_files_drift(wanted, facts=None):
    """{directories, files, absent} | speechops.speech.speech_files_drift(speech_host facts) -> paths that may differ."""
    if not isinstance(wanted, Mapping):
        raise AnsibleFilterError("speech_files_drift expects the config_files module's arguments {directories, files, absent}")
    return drift.files_drift(wanted, _facts(facts))


def speech_containers_drift(specs, facts=None, restart_policy=None):
    """run specs | speechops.speech.speech_containers_drift(speech_host facts, restart_policy) -> names that may differ."""
    if not isinstance(specs, list) or not all(isinstance(spec, Mapping) and "labels" in spec for spec in specs):
        raise AnsibleFilterError("speech_containers_drift expects a list of run specs (from speech_run_hash)")
    return drift.containers_drift(specs, _facts(facts), restart_policy)


class FilterModule:
    def filters(self):
        return {"speech_files_drift": speech_files_drift, "speech_containers_drift": speech_containers_drift}
