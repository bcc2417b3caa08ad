# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters speech_container_spec, speech_config_files and speech_run_hash. Docs: their .yml files; logic: module_utils/container_spec.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.module_utils import container_spec


def speech_container_spec(container, **options):
    """planned container | speechops.speech.speech_container_spec(billing_endpoint=..., ...) -> its run spec."""
    if not isinstance(container, Mapping):
        raise AnsibleFilterError("speech_container_spec expects a planned container (plan.hosts[host].containers[i]), got {0}".format(
            type(container).__name__))
    plain = dict((key, value) for key, value in options.items())
    for key in ("http_proxy_creds", "application_insights", "sentiment_api_key"):
        plain[key] = bool(plain.get(key))
    try:
        return container_spec.run_spec(dict(container), plain)
    except container_spec.SpecError as exc:
        raise AnsibleFilterError("speech_container_spec: {0}".format(exc)) from None


def speech_config_files(specs, secrets, config_dir="/etc/speechops", data_dir="/var/lib/speechops", options=None):
    """run specs | speechops.speech.speech_config_files(secrets, config_dir, data_dir) -> the config_files module's arguments;
    one-shot runs ({name, env}) | speechops.speech.speech_config_files(secrets, config_dir, options=<the run specs'
    options, for the outbound proxy>) -> those of their env files."""
    if not isinstance(specs, list) or not all(isinstance(spec, Mapping) for spec in specs):
        raise AnsibleFilterError("speech_config_files expects a list of run specs (from speech_container_spec) or of one-shot runs ({name, env})")
    if not isinstance(secrets, Mapping):
        raise AnsibleFilterError("speech_config_files expects the secrets as a mapping of setting name to value")
    plain_secrets = dict((name, value) for name, value in secrets.items())
    one_shot = [spec for spec in specs if "env_file" not in spec]
    try:
        if specs and len(one_shot) == len(specs):
            return container_spec.one_shot_files([dict(run) for run in specs], config_dir, plain_secrets,
                                                 dict(options) if options else None)
        if one_shot:
            raise container_spec.SpecError("give either run specs (from speech_container_spec) or one-shot runs ({{name, env}}), "
                                           "not both: {0} has no env_file".format(one_shot[0].get("name")))
        return container_spec.config_files([dict(spec) for spec in specs], config_dir, data_dir, plain_secrets)
    except container_spec.SpecError as exc:
        raise AnsibleFilterError("speech_config_files: {0}".format(exc)) from None


def speech_run_hash(specs, secrets, run_options=None):
    """run specs | speechops.speech.speech_run_hash(secrets, run_options) -> the specs, each labelled with its run hash."""
    if not isinstance(specs, list) or not all(isinstance(spec, Mapping) and "env_file" in spec for spec in specs):
        raise AnsibleFilterError("speech_run_hash expects a list of run specs (from speech_container_spec)")
    if not isinstance(secrets, Mapping):
        raise AnsibleFilterError("speech_run_hash expects the secrets as a mapping of setting name to value")
    try:
        return container_spec.with_run_hash([dict(spec) for spec in specs], dict(secrets.items()), dict((run_options or {}).items()))
    except container_spec.SpecError as exc:
        raise AnsibleFilterError("speech_run_hash: {0}".format(exc)) from None


class FilterModule:
    def filters(self):
        return {"speech_container_spec": speech_container_spec, "speech_config_files": speech_config_files,
                "speech_run_hash": speech_run_hash}
