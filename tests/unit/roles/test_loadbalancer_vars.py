# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The loadbalancer role takes the kinds whose WebSocket upgrades get a backend of their own (<service>_ws in
haproxy.cfg.j2) from the plan's services (synthesis, from the catalog), not from a list of its own."""

from __future__ import annotations

from pathlib import Path

from ansible._internal._datatag._tags import TrustedAsTemplate
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils.plan import build_plan

VARS = Path(__file__).resolve().parents[3] / "roles" / "loadbalancer" / "vars" / "main.yml"
LOADER = DataLoader()


def synthesis_kinds(services):
    variables = dict(LOADER.load_from_file(str(VARS), trusted_as_template=True), loadbalancer_services=services)
    return Templar(loader=LOADER, variables=variables).template(TrustedAsTemplate().tag("{{ __loadbalancer_synthesis_kinds }}"))


def test_the_synthesis_kinds_are_those_of_the_plans_text_to_speech_services():
    services = [{"name": "%s-%d" % (kind, index), "kind": kind, "replicas": 1} for index, kind in enumerate(catalog.KINDS)]
    for service in services:
        if catalog.fact(service["kind"], "default_voice"):
            service["voice"] = catalog.fact(service["kind"], "default_voice")
        if catalog.needs_model_id(service["kind"]):
            service["model_id"] = "00000000-0000-0000-0000-000000000000"
    hosts = {"h1": {"vcpus_usable": 256, "memory_usable_mb": 1024 * 1024, "avx2": True}}
    plan = build_plan(services, hosts, allow_retired_kinds=True)
    assert sorted(synthesis_kinds(plan["services"])) == sorted(catalog.synthesis_kinds())
    assert synthesis_kinds({}) == []
