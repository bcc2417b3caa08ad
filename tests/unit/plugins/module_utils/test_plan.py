# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Placement: examples first, then hypothesis properties over generated fleets."""

from __future__ import annotations

import gc
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.speechops.speech.plugins.module_utils import _plan_inputs, _plan_placement
from ansible_collections.speechops.speech.plugins.module_utils import plan as planner
from ansible_collections.speechops.speech.plugins.module_utils.container_spec import run_spec
from ansible_collections.speechops.speech.plugins.module_utils.plan import PlanCapacityError, PlanInputError, build_plan

GIB = 1024
COLLECTIONS_DIR = Path(__file__).resolve().parents[4] / "collections"
STT = "speech-to-text"
CSTT = "custom-speech-to-text"
NTTS = "neural-text-to-speech"
LID = "language-detection"


def host(vcpus=32, memory_mb=64 * GIB, avx2=True, domain=None, **extra):
    value = {"vcpus_usable": vcpus, "memory_usable_mb": memory_mb, "avx2": avx2, "fault_domain": domain,
             "reserved_cpus": 0, "reserved_memory_mb": 0, "pins": [], "ports_in_use": [], "current": []}
    value.update(extra)
    return value


def lid(name="lid", replicas=1, **extra):
    return dict({"name": name, "kind": LID, "replicas": replicas}, **extra)


def small(name, replicas, cpus=1, memory_mb=1024, kind=LID, **extra):
    return dict({"name": name, "kind": kind, "replicas": replicas, "cpus": cpus, "memory_mb": memory_mb}, **extra)


def placements(plan):
    """container name -> (host, port)."""
    return dict((container["name"], (host_name, container["host_port"]))
                for host_name, value in plan["hosts"].items() for container in value["containers"])


def as_current(plan, hosts):
    """The hosts input as it reads after the plan was applied (labels read back)."""
    updated = json.loads(json.dumps(hosts))
    for host_name, value in plan["hosts"].items():
        if host_name in updated:
            updated[host_name]["current"] = [{"name": c["name"], "service": c["service"], "host_port": c["host_port"]}
                                             for c in value["containers"]]
    return updated


def dumps(plan):
    return json.dumps(plan, sort_keys=True)


# ------------------------------------------------------------------------------------------ examples

DESIGN_SERVICES = [
    {"name": "stt-en-us", "kind": STT, "version": "5.1.0", "locale": "en-US", "replicas": 3},
    {"name": "tts-aria", "kind": NTTS, "voice": "en-US-AriaNeural", "replicas": 2},
    {"name": "lid", "kind": LID, "replicas": 1},
    {"name": "cstt-contoso", "kind": CSTT, "model_id": "4f1a-contoso", "replicas": 1},
]


def three_hosts():
    return dict(("h%d" % number, host(domain="rack%d" % (number % 2))) for number in (1, 2, 3))


def test_design_example_places_every_replica_with_names_ports_and_labels():
    plan = build_plan(DESIGN_SERVICES, three_hosts())
    names = sorted(placements(plan))
    assert names == ["speech-cstt-contoso-1", "speech-lid-1", "speech-stt-en-us-1", "speech-stt-en-us-2",
                     "speech-stt-en-us-3", "speech-tts-aria-1", "speech-tts-aria-2"]
    stt_hosts = [backend["host"] for backend in plan["services"]["stt-en-us"]["backends"]]
    assert sorted(stt_hosts) == ["h1", "h2", "h3"]
    for host_plan in plan["hosts"].values():
        ports = [container["host_port"] for container in host_plan["containers"]]
        assert sorted(ports) == list(range(5100, 5100 + len(ports)))
    container = plan["hosts"]["h1"]["containers"][0]
    assert container["labels"]["speechops.managed"] == "true"
    assert container["labels"]["speechops.plan_hash"] == container["plan_hash"]
    assert container["labels"]["speechops.host_port"] == str(container["host_port"])
    assert plan["summary"] == {"hosts": 3, "containers": 7, "moves": 0, "removals": 0, "overcommitted_hosts": []}


BILLING = {"billing_endpoint": "https://billing.example"}


def sizes(plan, service):
    """(--cpus, --memory, model memory, where it counts) of a planned service."""
    value = plan["services"][service]
    return value["cpus"], value["memory_mb"], value["model_memory_mb"], value["model_memory"]


def test_recommended_speech_to_text_asks_docker_for_8_gb_and_the_host_budget_counts_16():
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 1}], {"h1": host()})
    assert sizes(plan, "stt") == (8.0, 8 * GIB, 8 * GIB, "host")
    (container,) = plan["hosts"]["h1"]["containers"]
    assert (container["memory_mb"], container["model_memory_mb"], container["model_memory"]) == (8 * GIB, 8 * GIB, "host")
    assert run_spec(container, BILLING)["memory"] == "8192M"
    assert plan["hosts"]["h1"]["allocated"] == {"cpus": 8.0, "memory_mb": 16 * GIB, "container_memory_mb": 8 * GIB,
                                                "model_memory_mb": 8 * GIB}


def test_model_memory_container_puts_the_model_into_docker_memory_and_counts_it_per_container():
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 2}], {"h1": host()}, model_memory="container")
    assert sizes(plan, "stt") == (8.0, 16 * GIB, 8 * GIB, "container")
    assert [run_spec(container, BILLING)["memory"] for container in plan["hosts"]["h1"]["containers"]] == ["16384M", "16384M"]
    assert plan["hosts"]["h1"]["allocated"] == {"cpus": 16.0, "memory_mb": 32 * GIB, "container_memory_mb": 32 * GIB,
                                                "model_memory_mb": 0}
    assert plan["options"]["model_memory"] == "container"


def test_page_example_of_4_cores_and_4_gb_is_the_docker_limit_with_the_model_beside_it():
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 1, "cpus": 4, "memory_mb": 4096}], {"h1": host()})
    assert sizes(plan, "stt") == (4.0, 4 * GIB, 8 * GIB, "host")
    assert plan["hosts"]["h1"]["allocated"]["memory_mb"] == 12 * GIB
    (container,) = plan["hosts"]["h1"]["containers"]
    assert container["sizing"] == {"profile": "recommended", "cpus": "speech_services[0].cpus",
                                   "memory_mb": "speech_services[0].memory_mb", "model_memory_mb": "speech_sizing_profile"}


def test_sizes_honour_overrides_and_each_container_counts_its_model_memory():
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 1}, {"name": "tts", "kind": NTTS, "replicas": 1},
                       {"name": "tiny", "kind": STT, "replicas": 1, "cpus": 2.5, "memory_mb": 3000}],
                      {"h1": host(vcpus=64, memory_mb=128 * GIB)})
    assert sizes(plan, "tts") == (8.0, 16 * GIB, 0, "host")
    assert sizes(plan, "tiny") == (2.5, 3000, 8 * GIB, "host")
    # stt and tiny run the same image; the budget still counts each one's model memory (sizing.py says why)
    assert plan["hosts"]["h1"]["allocated"] == {"cpus": 18.5, "memory_mb": 24 * GIB + 3000 + 16 * GIB,
                                                "container_memory_mb": 24 * GIB + 3000, "model_memory_mb": 16 * GIB}


def test_every_speech_to_text_container_counts_its_own_model_memory_whatever_its_image():
    services = [{"name": "stt", "kind": STT, "replicas": 2}, {"name": "stt-min", "kind": STT, "replicas": 1, "profile": "minimum"},
                {"name": "stt-de", "kind": STT, "locale": "de-DE", "replicas": 1},
                {"name": "cstt", "kind": CSTT, "model_id": "m-1", "replicas": 1}]
    plan = build_plan(services, {"h1": host(vcpus=64, memory_mb=128 * GIB)})
    allocated = plan["hosts"]["h1"]["allocated"]
    assert allocated["container_memory_mb"] == 8 * GIB * 4 + 4 * GIB
    assert allocated["model_memory_mb"] == 8 * GIB * 4 + 4 * GIB
    assert allocated["memory_mb"] == allocated["container_memory_mb"] + allocated["model_memory_mb"]


@pytest.mark.parametrize("model_memory", ["host", "container"])
def test_the_host_budget_is_the_same_wherever_the_model_memory_counts(model_memory):
    hosts = {"h1": host(memory_mb=32 * GIB)}
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 2}], hosts, model_memory=model_memory)
    assert len(plan["hosts"]["h1"]["containers"]) == 2 and plan["hosts"]["h1"]["allocated"]["memory_mb"] == 32 * GIB
    needs = "8192 MB (+ 8192 MB speech model memory on its host)" if model_memory == "host" else "16384 MB"
    with pytest.raises(PlanCapacityError, match=re.escape("3 requested, at most 2 fit, each needs 8 cpus and %s: " % needs)):
        build_plan([{"name": "stt", "kind": STT, "replicas": 3}], hosts, model_memory=model_memory)


def test_model_memory_mb_sets_the_model_figure_of_a_service():
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 1, "model_memory_mb": 2048},
                       {"name": "emulated", "kind": STT, "locale": "de-DE", "replicas": 1, "cpus": 0.25, "memory_mb": 256,
                        "model_memory_mb": 0}], {"h1": host()})
    assert sizes(plan, "stt") == (8.0, 8 * GIB, 2048, "host")
    assert sizes(plan, "emulated") == (0.25, 256, 0, "host")
    assert plan["hosts"]["h1"]["allocated"]["model_memory_mb"] == 2048


@pytest.mark.parametrize("services, options, message", [
    ([{"name": "tts", "kind": NTTS, "replicas": 1, "model_memory_mb": 1024}], {},
     r"speech_services\[0\].model_memory_mb is only for the kinds that memory-map a speech model "
     r"\(speech-to-text, custom-speech-to-text\), not neural-text-to-speech"),
    ([{"name": "stt", "kind": STT, "replicas": 1, "model_memory_mb": -1}], {}, r"speech_services\[0\].model_memory_mb must be an integer >= 0"),
    ([{"name": "stt", "kind": STT, "replicas": 1}], {"model_memory": "both"}, r"speech_model_memory must be host .* or container"),
    ([{"name": "stt", "kind": STT, "replicas": 1}], {"profile": "2019"}, r"speech_sizing_profile: sizing profile '2019' is unknown"),
    ([{"name": "stt", "kind": STT, "replicas": 1, "profile": "big"}], {}, r"speech_services\[0\].profile: sizing profile 'big' is unknown"),
])
def test_bad_sizing_inputs_name_the_variable(services, options, message):
    with pytest.raises(PlanInputError, match=message):
        build_plan(services, {"h1": host()}, **options)


def test_minimum_profile_shrinks_containers():
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 1}], {"h1": host()}, profile="minimum")
    assert sizes(plan, "stt") == (4.0, 4 * GIB, 4 * GIB, "host")


def test_2020_minimum_profile_gives_the_2020_page_figures():
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 1}], {"h1": host()}, profile="2020-minimum")
    assert sizes(plan, "stt") == (2.0, 2 * GIB, 4 * GIB, "host")
    assert plan["hosts"]["h1"]["containers"][0]["sizing"]["cpus"] == "speech_sizing_profile"


def test_cstt_model_id_becomes_the_model_setting():
    plan = build_plan([{"name": "c", "kind": CSTT, "model_id": "m-1", "replicas": 1, "settings": {"logging:console:loglevel:default": "Debug"}}],
                      {"h1": host()})
    assert plan["hosts"]["h1"]["containers"][0]["settings"] == {"Logging:Console:LogLevel:Default": "Debug", "ModelId": "m-1"}


def test_extra_settings_pass_through_as_given_and_settings_are_checked_against_the_kind():
    plan = build_plan([{"name": "s", "kind": "speech-to-text", "replicas": 1, "settings": {"DECODER_MAX_COUNT": 2},
                        "extra_settings": {"SpeechNew:Flag": True}}], {"h1": host()})
    assert plan["hosts"]["h1"]["containers"][0]["settings"] == {"DECODER_MAX_COUNT": "2", "SpeechNew:Flag": "true"}
    with pytest.raises(PlanInputError, match=r"settings.SpeechNew:Flag is not a documented setting of speech-to-text .*extra_settings"):
        build_plan([{"name": "s", "kind": "speech-to-text", "replicas": 1, "settings": {"SpeechNew:Flag": 1}}], {"h1": host()})


@pytest.mark.parametrize("service, message", [
    ({"name": "s", "kind": LID, "replica": 2}, r"unknown key\(s\) replica: use name, kind, replicas"),
    ({"name": "s", "kind": LID, "replicas": 1, "extra_settings": {"HTTP_PROXY": "http://p:3128"}},
     r"extra_settings.HTTP_PROXY is not allowed: the role sets it from speech_http_proxy"),
    ({"name": "s", "kind": LID, "replicas": 1, "settings": {"Mounts:Output": "/x"}}, r"settings.Mounts:Output is not allowed"),
    ({"name": "s", "kind": LID, "replicas": 1, "settings": {"Logging:Console:LogLevel:Default": "a\nApiKey=x"}}, r"must be one line"),
    ({"name": "s", "kind": LID, "replicas": 1, "digest": "sha256:abc"}, r"digest must be sha256:<64 hex digits>"),
])
def test_bad_service_entries_are_named(service, message):
    with pytest.raises(PlanInputError, match=message):
        build_plan([service], {"h1": host()})


def test_a_digest_pins_the_image():
    digest = "sha256:" + "ab" * 32
    plan = build_plan([lid(digest=digest)], {"h1": host()})
    assert plan["hosts"]["h1"]["containers"][0]["image"].endswith(":1.18.0-amd64-preview@" + digest)


def test_fault_domains_spread_before_hosts_are_reused():
    hosts = {"a1": host(domain="a"), "a2": host(domain="a"), "a3": host(domain="a"), "b1": host(domain="b")}
    plan = build_plan([small("svc", 2)], hosts)
    domains = sorted(hosts[backend["host"]]["fault_domain"] for backend in plan["services"]["svc"]["backends"])
    assert domains == ["a", "b"]


def test_once_every_domain_holds_the_service_the_emptiest_domain_is_next():
    hosts = {"a1": host(domain="a"), "a2": host(domain="a"), "a3": host(domain="a"), "b1": host(domain="b"), "c1": host(domain="c")}
    plan = build_plan([small("svc", 4)], hosts)
    backend_hosts = [backend["host"] for backend in plan["services"]["svc"]["backends"]]
    assert len(set(backend_hosts)) == 4
    assert sorted(hosts[name]["fault_domain"] for name in backend_hosts) == ["a", "a", "b", "c"]


def test_spread_uses_the_emptier_host_and_binpack_the_fuller_one():
    hosts = {"h1": host(vcpus=16), "h2": host(vcpus=16)}
    services = [small("big", 1, cpus=8), small("other", 1, cpus=2)]
    spread = build_plan(services, hosts)
    binpack = build_plan(services, hosts, strategy="binpack")
    assert placements(spread)["speech-big-1"][0] != placements(spread)["speech-other-1"][0]
    assert placements(binpack)["speech-big-1"][0] == placements(binpack)["speech-other-1"][0]


def test_more_replicas_than_hosts_stack_evenly():
    plan = build_plan([small("svc", 5)], {"h1": host(), "h2": host()})
    counts = sorted(len(value["containers"]) for value in plan["hosts"].values())
    assert counts == [2, 3]


def test_hosts_without_avx2_are_never_used():
    plan = build_plan([small("svc", 2)], {"old": host(avx2=False), "new1": host(), "new2": host()})
    assert plan["hosts"]["old"]["containers"] == []


def test_no_avx2_anywhere_is_reported_per_service():
    with pytest.raises(PlanCapacityError) as caught:
        build_plan([small("svc", 2)], {"old": host(avx2=False)})
    report = caught.value.report
    assert report[0]["service"] == "svc" and report[0]["unplaced"] == 2 and report[0]["variable"] == "speech_services[0]"
    assert "no host has AVX2" in str(caught.value)


def test_too_little_memory_on_every_host_is_reported():
    with pytest.raises(PlanCapacityError) as caught:
        build_plan([{"name": "stt", "kind": STT, "replicas": 1}], {"h1": host(memory_mb=12 * GIB), "h2": host(memory_mb=8 * GIB)})
    message = str(caught.value)
    assert "1 of 1 replicas could not be placed" in message
    assert ("too little memory on every host (needs 16384 MB: --memory 8192 MB + speech model memory 8192 MB, "
            "largest free 12288 MB)") in message
    assert "each needs 8 cpus and 8192 MB (+ 8192 MB speech model memory on its host)" in message


def test_reservations_shrink_capacity():
    with pytest.raises(PlanCapacityError, match="too few free cpus"):
        build_plan([small("svc", 1, cpus=8)], {"h1": host(vcpus=10, reserved_cpus=4)})


def test_port_range_exhaustion_is_reported():
    with pytest.raises(PlanCapacityError, match=re.escape(
            "3 requested, at most 2 fit, each needs 1 cpus and 1024 MB: too few free host ports: the fleet's 1 AVX2 host has 32 "
            "cores, 65536 MB and 2 host ports of speech_port_base..speech_port_max (5100-5101) together")):
        build_plan([small("svc", 3)], {"h1": host()}, port_base=5100, port_max=5101)


def test_ports_held_by_something_else_are_skipped():
    plan = build_plan([small("svc", 2)], {"h1": host(ports_in_use=[5100, 5102])})
    assert sorted(port for _host, port in placements(plan).values()) == [5101, 5103]


def test_only_the_report_fails_and_lists_every_short_service():
    with pytest.raises(PlanCapacityError) as caught:
        build_plan([small("a", 1, cpus=64), small("b", 1), small("c", 1, memory_mb=10 ** 6)], {"h1": host()})
    assert [entry["service"] for entry in caught.value.report] == ["a", "c"]


def test_current_placements_are_kept_with_their_ports():
    hosts = {"h1": host(), "h2": host()}
    hosts["h2"]["current"] = [{"name": "speech-svc-1", "service": "svc", "host_port": 5150},
                              {"name": "speech-svc-2", "service": "svc", "host_port": 5160}]
    plan = build_plan([small("svc", 2)], hosts)
    assert placements(plan) == {"speech-svc-1": ("h2", 5150), "speech-svc-2": ("h2", 5160)}
    assert plan["moves"] == []


def test_a_container_that_no_longer_fits_moves_and_says_why():
    hosts = {"h1": host(vcpus=4), "h2": host()}
    hosts["h1"]["current"] = [{"name": "speech-svc-1", "service": "svc", "host_port": 5100}]
    plan = build_plan([small("svc", 1, cpus=8)], hosts)
    assert plan["moves"] == [{"container": "speech-svc-1", "service": "svc", "from": "h1", "to": "h2",
                              "reason": "no longer fits on h1: too few free cpus"}]
    assert plan["hosts"]["h1"]["remove"] == ["speech-svc-1"]


def test_scaled_down_and_unknown_containers_are_removed_and_their_ports_not_reused():
    hosts = {"h1": host()}
    hosts["h1"]["current"] = [{"name": "speech-svc-1", "service": "svc", "host_port": 5100},
                              {"name": "speech-svc-2", "service": "svc", "host_port": 5101},
                              {"name": "speech-gone-1", "service": "gone", "host_port": 5102}]
    plan = build_plan([small("svc", 1), small("new", 1)], hosts)
    assert plan["hosts"]["h1"]["remove"] == ["speech-gone-1", "speech-svc-2"]
    assert placements(plan) == {"speech-svc-1": ("h1", 5100), "speech-new-1": ("h1", 5103)}


def test_a_port_now_held_by_something_else_is_reassigned_on_the_same_host():
    hosts = {"h1": host(ports_in_use=[5100])}
    hosts["h1"]["current"] = [{"name": "speech-svc-1", "service": "svc", "host_port": 5100}]
    plan = build_plan([small("svc", 1)], hosts)
    assert placements(plan) == {"speech-svc-1": ("h1", 5101)}


def test_pins_place_a_replica_on_the_pinned_host_and_port():
    hosts = {"h1": host(), "h2": host(pins=[{"service": "svc", "port": 5200}])}
    plan = build_plan([small("svc", 1)], hosts)
    assert placements(plan) == {"speech-svc-1": ("h2", 5200)}
    assert plan["hosts"]["h2"]["containers"][0]["pinned"] is True


def test_a_pin_claims_the_container_already_on_its_host():
    hosts = {"h1": host(), "h2": host(pins=[{"service": "svc"}])}
    hosts["h2"]["current"] = [{"name": "speech-svc-2", "service": "svc", "host_port": 5105}]
    plan = build_plan([small("svc", 2)], hosts)
    assert placements(plan)["speech-svc-2"] == ("h2", 5105)
    assert placements(plan)["speech-svc-1"][0] == "h1"


@pytest.mark.parametrize("pinned_host, overcommitted", [
    (host(avx2=False), True),
    (host(memory_mb=1024), True),
    (host(vcpus=0.5), True),
    (host(), False),
])
def test_a_pin_is_placed_even_where_it_does_not_fit_and_the_host_is_marked(pinned_host, overcommitted):
    pinned_host["pins"] = [{"service": "svc"}]
    plan = build_plan([small("svc", 2, cpus=1, memory_mb=2048)], {"pinned": pinned_host, "other": host()})
    assert placements(plan)["speech-svc-1"][0] == "pinned"
    assert plan["hosts"]["pinned"]["overcommitted"] is overcommitted
    assert plan["summary"]["overcommitted_hosts"] == (["pinned"] if overcommitted else [])
    assert plan["hosts"]["other"]["overcommitted"] is False


def test_nothing_unpinned_joins_an_overcommitted_host():
    hosts = {"small": host(memory_mb=1024, pins=[{"service": "big"}]), "other": host()}
    plan = build_plan([small("big", 1, memory_mb=2048), small("svc", 3, memory_mb=256)], hosts)
    assert [container["service"] for container in plan["hosts"]["small"]["containers"]] == ["big"]


def test_a_pin_whose_port_cannot_be_had_is_in_the_report():
    with pytest.raises(PlanCapacityError, match="pinned by speech_pinned to h1: its host-port range is exhausted"):
        build_plan([small("svc", 1)], {"h1": host(pins=[{"service": "svc"}], ports_in_use=[5100, 5101])}, port_max=5101)


@pytest.mark.parametrize("pins, message", [
    ([{"service": "nope"}], r"host h1: speech_pinned\[0\] must name a service of speech_services"),
    ([{"service": "svc", "port": 5200}, {"service": "svc", "port": 5200}], r"speech_pinned\[1\].port 5200 collides"),
    ([{"service": "svc", "port": 80}], r"speech_pinned\[0\].port 80 is outside speech_port_base..speech_port_max"),
    ([{"service": "svc", "port": 5300}], r"port 5300 is already in use on the host by something else"),
    ([{"service": "svc"}, {"service": "svc"}, {"service": "svc"}], r"pins 3 replicas of 'svc' \(on h1, h1, h1\) but speech_services\[0\].replicas is 2"),
])
def test_bad_pins_are_named(pins, message):
    with pytest.raises(PlanInputError, match=message):
        build_plan([small("svc", 2)], {"h1": host(pins=pins, ports_in_use=[5300])})


def stacked_fleet():
    hosts = {"h1": host(), "h2": host(), "h3": host()}
    hosts["h1"]["current"] = [{"name": "speech-svc-%d" % n, "service": "svc", "host_port": 5099 + n} for n in (1, 2, 3)]
    return hosts


def test_nothing_moves_without_an_explicit_rebalance():
    plan = build_plan([small("svc", 3)], stacked_fleet())
    assert set(host_name for host_name, _port in placements(plan).values()) == {"h1"}


@pytest.mark.parametrize("max_moves, moved", [(0, 0), (1, 1), (5, 2)])
def test_rebalance_moves_at_most_max_moves_and_only_improving_ones(max_moves, moved):
    plan = build_plan([small("svc", 3)], stacked_fleet(), rebalance=True, max_moves=max_moves)
    assert len(plan["moves"]) == moved
    assert all(move["reason"] == "rebalance" and move["from"] == "h1" for move in plan["moves"])
    if moved == 2:
        assert sorted(host_name for host_name, _port in placements(plan).values()) == ["h1", "h2", "h3"]


@pytest.mark.parametrize("strategy, layout, expected", [
    ("spread", {"h1": 4, "h2": 0}, {"h1": 2, "h2": 2}),
    ("spread", {"h1": 2, "h2": 2}, {"h1": 2, "h2": 2}),
    ("binpack", {"h1": 1, "h2": 3}, {"h1": 0, "h2": 4}),
    ("binpack", {"h1": 4, "h2": 0}, {"h1": 4, "h2": 0}),
])
def test_rebalance_evens_out_spread_and_consolidates_binpack(strategy, layout, expected):
    services = [small("s%d" % number, 1, cpus=2, memory_mb=2048) for number in range(4)]
    hosts = {"h1": host(vcpus=16, memory_mb=32 * GIB), "h2": host(vcpus=16, memory_mb=32 * GIB)}
    number = 0
    for host_name, count in sorted(layout.items()):
        for _container in range(count):
            hosts[host_name]["current"].append({"name": "speech-s%d-1" % number, "service": "s%d" % number, "host_port": 5100 + number})
            number += 1
    plan = build_plan(services, hosts, strategy=strategy, rebalance=True, max_moves=10)
    assert dict((name, len(value["containers"])) for name, value in plan["hosts"].items()) == expected
    assert len(plan["moves"]) == sum(abs(layout[name] - expected[name]) for name in layout) // 2


def test_rebalance_never_moves_pinned_replicas():
    hosts = {"h1": host(pins=[{"service": "svc"}, {"service": "svc"}]), "h2": host()}
    plan = build_plan([small("svc", 2)], hosts, rebalance=True, max_moves=5)
    assert plan["moves"] == [] and len(plan["hosts"]["h1"]["containers"]) == 2


@pytest.mark.parametrize("services, message", [
    ([lid(replicas="three")], r"speech_services\[0\].replicas must be an integer >= 0, got 'three'"),
    ([lid(replicas=-1)], r"speech_services\[0\].replicas must be an integer >= 0, got -1"),
    ([{"name": "lid", "kind": LID}], r"speech_services\[0\].replicas is required"),
    ([lid(), lid()], r"speech_services\[1\].name 'lid' is used twice \(also speech_services\[0\]\)"),
    ([lid(name="Bad_Name")], r"speech_services\[0\].name must be 1-40 lowercase"),
    ([{"name": "x", "kind": "speech-to-texts", "replicas": 1}], r"speech_services\[0\].kind must be one of speech-to-text"),
    ([{"name": "c", "kind": CSTT, "replicas": 1}], r"speech_services\[0\].model_id is required for kind custom-speech-to-text"),
    ([lid(settings={"ApiKey": "x"})], r"speech_services\[0\].settings.ApiKey is not allowed"),
    ([lid(settings=["a"])], r"speech_services\[0\].settings must be a mapping"),
    ([lid(cpus=0)], r"speech_services\[0\].cpus must be a number >= 0.001"),
    ([lid(memory_mb="lots")], r"speech_services\[0\].memory_mb must be an integer >= 1"),
    ([lid(), "lid"], r"speech_services\[1\] must be a mapping"),
    ([{"name": "stt", "kind": STT, "replicas": 1, "locale": "xx-yy"}], r"speech_services\[0\]: "),
    ("lid", r"speech_services must be a list"),
])
def test_bad_services_name_the_variable(services, message):
    with pytest.raises(PlanInputError, match=message):
        build_plan(services, {"h1": host()})


@pytest.mark.parametrize("options, message", [
    ({"port_base": 6000, "port_max": 5999}, r"speech_port_max \(5999\) must be >= speech_port_base \(6000\)"),
    ({"port_base": 0}, r"speech_port_base must be an integer >= 1"),
    ({"port_max": 70000}, r"must lie within 1..65535"),
    ({"strategy": "random"}, r"speech_placement_strategy must be one of spread, binpack"),
    ({"max_moves": -3}, r"speech_max_moves must be an integer >= 0"),
])
def test_bad_options_name_the_variable(options, message):
    with pytest.raises(PlanInputError, match=message):
        build_plan([lid()], {"h1": host()}, **options)


@pytest.mark.parametrize("bad_host, message", [
    (host(vcpus=None), r"host h1: speech_host.vcpus_usable must be a number >= 0"),
    (host(memory_mb="x"), r"host h1: speech_host.memory_usable_mb must be an integer >= 0"),
    (host(reserved_cpus=-1), r"host h1: speech_reserved_cpus must be a number >= 0"),
    (host(pins="svc"), r"host h1: speech_pinned must be a list"),
    ("h1", r"host h1: host input must be a mapping"),
])
def test_bad_hosts_name_the_variable(bad_host, message):
    with pytest.raises(PlanInputError, match=message):
        build_plan([lid()], {"h1": bad_host})


def test_plan_hash_follows_the_container_definition():
    base = build_plan([small("svc", 1)], {"h1": host()})
    again = build_plan([small("svc", 1)], {"h1": host()})
    bigger = build_plan([small("svc", 1, cpus=2)], {"h1": host()})
    configured = build_plan([dict(small("svc", 1), settings={"Logging:Console:LogLevel:Default": "Debug"})], {"h1": host()})
    moved_port = build_plan([small("svc", 1)], {"h1": host(ports_in_use=[5100])})
    other_version = build_plan([dict(small("svc", 1), version="1.11.0")], {"h1": host()})
    hashes = [plan["hosts"]["h1"]["containers"][0]["plan_hash"] for plan in (base, again, bigger, configured, moved_port, other_version)]
    assert hashes[0] == hashes[1]
    assert len(set(hashes)) == 5


def test_replanning_the_planned_fleet_is_byte_identical():
    hosts = three_hosts()
    first = build_plan(DESIGN_SERVICES, hosts)
    second = build_plan(DESIGN_SERVICES, as_current(first, hosts))
    assert dumps(second) == dumps(first)


def test_output_does_not_depend_on_the_hash_seed():
    script = (
        "import hashlib, json, sys; sys.path.insert(0, %r); "
        "from ansible_collections.speechops.speech.plugins.module_utils.plan import build_plan; "
        "hosts = dict(('h%%02d' %% n, {'vcpus_usable': 16, 'memory_usable_mb': 32768, 'avx2': True, "
        "'fault_domain': 'rack%%d' %% (n %% 4) if n %% 5 else None}) for n in range(24)); "
        "services = [{'name': 's%%d' %% n, 'kind': 'language-detection', 'replicas': n + 1} for n in range(8)]; "
        "print(hashlib.sha256(json.dumps([build_plan(services, hosts, strategy=s) for s in ('spread', 'binpack')])"
        ".encode()).hexdigest())") % str(COLLECTIONS_DIR)
    digests = set(subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PYTHONHASHSEED=seed),
                                 capture_output=True, text=True, check=True).stdout for seed in ("1", "2", "3"))
    assert len(digests) == 1 and len(digests.pop()) == 65


def test_the_cyclic_collector_is_left_as_it_was():
    assert gc.isenabled()
    build_plan([lid()], {"h1": host()})
    assert gc.isenabled()
    with pytest.raises(PlanCapacityError):
        build_plan([lid(replicas=2)], {"h1": host()}, port_max=5100)
    assert gc.isenabled()
    gc.disable()
    try:
        build_plan([lid()], {"h1": host()})
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_empty_inputs_give_an_empty_plan():
    plan = build_plan([], {})
    assert plan["hosts"] == {} and plan["services"] == {} and plan["summary"]["containers"] == 0


def test_replicas_without_hosts_are_reported():
    with pytest.raises(PlanCapacityError, match="speech_hosts has no hosts"):
        build_plan([lid()], {})


# ------------------------------------------------------------------------------- reports and inputs

def test_plan_table_lists_containers_and_utilisation():
    table = planner.plan_table(build_plan([small("svc", 2, cpus=8, memory_mb=16 * GIB)], {"h1": host(), "h2": host()}))
    lines = table.splitlines()
    assert lines[0].split() == ["HOST", "CONTAINER", "SERVICE", "PORT", "CPUS", "MEMORY_MB", "MODEL_MB"]
    assert sorted(line.split()[0] for line in lines[1:3]) == ["h1", "h2"]
    assert [line.split()[1:] for line in lines[1:3]] == [["speech-svc-1", "svc", "5100", "8", "16384", "-"],
                                                         ["speech-svc-2", "svc", "5100", "8", "16384", "-"]]
    assert lines[3] == ""
    assert lines[4].split() == ["HOST", "CONTAINERS", "CPUS", "CPU%", "MEMORY_MB", "MEM%", "MODEL_MB", "NOTE"]
    assert lines[5].split() == ["h1", "1", "8/32", "25%", "16384/65536", "25%", "0"]


@pytest.mark.parametrize("model_memory, container_cells, host_cells", [
    ("host", ["8", "8192", "8192", "host"], ["8/32", "25%", "16384/65536", "25%", "8192"]),
    ("container", ["8", "16384", "8192", "in", "--memory"], ["8/32", "25%", "16384/65536", "25%", "0"]),
])
def test_plan_table_shows_the_docker_limit_and_the_model_memory(model_memory, container_cells, host_cells):
    plan = build_plan([{"name": "stt", "kind": STT, "replicas": 1}], {"h1": host()}, model_memory=model_memory)
    lines = planner.plan_table(plan).splitlines()
    assert lines[1].split()[4:] == container_cells
    assert lines[4].split()[2:] == host_cells


def test_plan_table_marks_a_host_overcommitted_by_pins():
    hosts = {"small": host(memory_mb=1024, pins=[{"service": "svc"}]), "big": host()}
    lines = planner.plan_table(build_plan([small("svc", 1, memory_mb=2048)], hosts)).splitlines()
    assert [line.split()[0] for line in lines if "OVERCOMMITTED by speech_pinned" in line] == ["small"]


def test_endpoints_catalog_and_markdown():
    plan = build_plan([small("svc", 1), {"name": "tts", "kind": NTTS, "replicas": 1}], {"h1": host(address="10.0.0.5")})
    data = planner.endpoints(plan, lb_address="lb.example", lb_ports={"svc": 8001})
    svc = data["services"]["svc"]
    scheme = "http" if plan["services"]["svc"]["protocol"] == "http" else "ws"
    assert svc["url"] == "%s://lb.example:8001" % scheme
    port = plan["services"]["svc"]["backends"][0]["port"]
    assert svc["backends"][0]["url"] == "%s://10.0.0.5:%d" % (scheme, port)
    assert svc["backends"][0]["ready_url"] == "http://10.0.0.5:%d/ready" % port
    # tts has no override: its frontend is the plan's lb_port (listed second, so 8001 from the base 8000)
    assert plan["services"]["tts"]["lb_port"] == 8001
    assert data["services"]["tts"]["url"] == "http://lb.example:8001"
    assert planner.endpoints(plan)["services"]["tts"]["url"] is None  # no load-balancer address, no URL
    assert data["services"]["tts"]["backends"][0]["url"].startswith("http://10.0.0.5:")
    assert json.loads(json.dumps(data)) == data
    assert (svc["concurrency"], svc["capacity"]) == (4, 4)  # language identification with 1 CPU and 1 GB
    assert (data["services"]["tts"]["concurrency"], data["services"]["tts"]["capacity"]) == (2, 2)
    markdown = planner.endpoints_markdown(data)
    assert markdown.splitlines()[0] == (
        "| Service | Kind | Endpoint | Concurrent requests per container | Capacity | Backends |")
    assert "| svc | language-detection | `%s://lb.example:8001` | 4 | 4 |" % scheme in markdown


def service_capacity(service, hosts=None):
    plan = build_plan([service], hosts or {"h1": host(), "h2": host()})
    rendered = plan["services"][service["name"]]
    containers = [container for node in plan["hosts"].values() for container in node["containers"]]
    return rendered["concurrency"], rendered["capacity"], containers


@pytest.mark.parametrize("service, concurrency", [
    ({"name": "stt", "kind": STT, "replicas": 3}, 2),
    ({"name": "cstt", "kind": CSTT, "model_id": "m-1", "replicas": 3}, 2),
    ({"name": "tts", "kind": NTTS, "replicas": 3}, 2),
    ({"name": "lid", "kind": LID, "replicas": 3}, 4),
    ({"name": "lid", "kind": LID, "replicas": 3, "cpus": 2, "memory_mb": 2048}, 6),
    ({"name": "lid", "kind": LID, "replicas": 3, "cpus": 2, "memory_mb": 1024}, 4),
])
def test_each_service_has_the_catalogs_concurrency_and_replicas_times_it_as_capacity(service, concurrency):
    per_container, capacity, containers = service_capacity(service)
    assert (per_container, capacity) == (concurrency, 3 * concurrency)
    assert all("DECODER_MAX_COUNT" not in container["settings"] for container in containers)


@pytest.mark.parametrize("kind, extra", [(STT, {}), (CSTT, {"model_id": "m-1"})])
def test_decoder_max_count_goes_into_the_env_and_sets_the_concurrency(kind, extra):
    per_container, capacity, containers = service_capacity(dict(name="s", kind=kind, replicas=2, decoder_max_count=5, **extra))
    assert (per_container, capacity) == (5, 10)
    assert [container["settings"]["DECODER_MAX_COUNT"] for container in containers] == ["5", "5"]
    spec = run_spec(containers[0], {"billing_endpoint": "https://billing.example"})
    assert spec["env"]["DECODER_MAX_COUNT"] == "5" and "DECODER_MAX_COUNT" not in spec["secret_settings"]


def test_changing_decoder_max_count_changes_the_container_and_concurrency_alone_does_not():
    def hashes(service):
        return [container["plan_hash"] for container in service_capacity(service)[2]]
    stt = {"name": "s", "kind": STT, "replicas": 2}
    assert hashes(dict(stt, decoder_max_count=2)) != hashes(stt) != hashes(dict(stt, decoder_max_count=3))
    assert hashes(dict(stt, decoder_max_count=3)) == hashes(dict(stt, settings={"DECODER_MAX_COUNT": 3}))
    tts = {"name": "t", "kind": NTTS, "replicas": 2}
    assert hashes(dict(tts, concurrency=5)) == hashes(tts)  # the load balancer's limit only


def test_settings_decoder_max_count_is_the_same_knob():
    assert service_capacity({"name": "s", "kind": STT, "replicas": 1, "settings": {"decoder_max_count": "3"}})[:2] == (3, 3)
    assert service_capacity({"name": "s", "kind": STT, "replicas": 1, "decoder_max_count": 3,
                             "settings": {"DECODER_MAX_COUNT": 3}})[:2] == (3, 3)


def test_concurrency_is_an_operators_measurement_for_kinds_without_decoders():
    assert service_capacity({"name": "t", "kind": NTTS, "replicas": 2, "concurrency": 3})[:2] == (3, 6)
    assert service_capacity({"name": "l", "kind": LID, "replicas": 2, "concurrency": 8})[:2] == (8, 16)
    assert service_capacity({"name": "t", "kind": NTTS, "replicas": 0})[:2] == (2, 0)


@pytest.mark.parametrize("service, message", [
    ({"kind": NTTS, "decoder_max_count": 4},
     r"speech_services\[0\]\.decoder_max_count is only for speech-to-text and custom-speech-to-text .*"
     r"for kind neural-text-to-speech set speech_services\[0\]\.concurrency"),
    ({"kind": LID, "decoder_max_count": 4}, r"speech_services\[0\]\.decoder_max_count is only for speech-to-text"),
    ({"kind": STT, "decoder_max_count": 0}, r"speech_services\[0\]\.decoder_max_count must be an integer >= 1, got 0"),
    ({"kind": STT, "decoder_max_count": "two"}, r"speech_services\[0\]\.decoder_max_count must be an integer >= 1"),
    ({"kind": STT, "decoder_max_count": True}, r"speech_services\[0\]\.decoder_max_count must be an integer >= 1"),
    ({"kind": STT, "decoder_max_count": 2.5}, r"speech_services\[0\]\.decoder_max_count must be an integer >= 1"),
    ({"kind": STT, "decoder_max_count": 3, "settings": {"DECODER_MAX_COUNT": 4}},
     r"decoder_max_count 3 and speech_services\[0\]\.settings\.DECODER_MAX_COUNT 4 disagree"),
    ({"kind": STT, "settings": {"DECODER_MAX_COUNT": "many"}},
     r"speech_services\[0\]\.settings\.DECODER_MAX_COUNT must be an integer >= 1.*decoder_max_count"),
    ({"kind": STT, "concurrency": 3}, r"speech_services\[0\]\.concurrency is not for kind speech-to-text.*decoder_max_count"),
    ({"kind": NTTS, "concurrency": 0}, r"speech_services\[0\]\.concurrency must be an integer >= 1, got 0"),
    ({"kind": NTTS, "settings": {"DECODER_MAX_COUNT": 2}}, r"settings\.DECODER_MAX_COUNT is not a documented setting"),
])
def test_bad_capacity_keys_are_refused_naming_the_service_key(service, message):
    with pytest.raises(PlanInputError, match=message):
        build_plan([dict(service, name="s", replicas=1)], {"h1": host()})


def test_host_inputs_reads_facts_and_inventory_variables():
    hostvars = {
        "h1": {"speech_host": {"vcpus_usable": 16.0, "memory_usable_mb": 32768, "avx2": True}, "ansible_host": "10.0.0.1",
               "speech_fault_domain": "rack1", "speech_reserved_cpus": 2, "speech_pinned": [{"service": "svc"}],
               "speech_current_containers": [{"name": "speech-svc-1", "service": "svc", "host_port": 5100}],
               "speech_ports_in_use": [22]},
        "h2": {"speech_host": {"vcpus_usable": 8.0, "memory_usable_mb": 16384, "avx2": False, "ports_in_use": [5432]}},
    }
    inputs = planner.host_inputs(hostvars, ["h1", "h2"])
    assert inputs["h1"] == {"address": "10.0.0.1", "vcpus_usable": 16.0, "memory_usable_mb": 32768, "avx2": True,
                            "fault_domain": "rack1", "reserved_cpus": 2, "reserved_memory_mb": 0, "pins": [{"service": "svc"}],
                            "ports_in_use": [22], "current": [{"name": "speech-svc-1", "service": "svc", "host_port": 5100}]}
    assert inputs["h2"]["ports_in_use"] == [5432] and inputs["h2"]["address"] == "h2" and inputs["h2"]["avx2"] is False
    assert build_plan([small("svc", 1)], inputs)["hosts"]["h1"]["containers"][0]["host_port"] == 5100


@pytest.mark.parametrize("variables, address", [
    ({"speech_address": "10.9.9.9", "ansible_host": "bastion-name"}, "10.9.9.9"),
    ({"ansible_host": "speechops-sbx-host1"}, "172.31.213.11"),
    ({}, "172.31.213.11"),
])
def test_host_address_prefers_speech_address_then_the_primary_ipv4(variables, address):
    facts = {"vcpus_usable": 4.0, "memory_usable_mb": 8192, "avx2": True, "primary_ipv4": "172.31.213.11"}
    assert planner.host_inputs({"h1": dict(variables, speech_host=facts)}, ["h1"])["h1"]["address"] == address


def test_host_inputs_names_a_host_without_facts():
    with pytest.raises(PlanInputError, match="host h1: the speech_host fact is missing"):
        planner.host_inputs({"h1": {}}, ["h1"])


# ------------------------------------------------------------------------------------ properties

KIND_CHOICES = (LID, STT, NTTS)
HOST_SIZES = ((8, 16 * GIB), (16, 32 * GIB), (32, 64 * GIB), (64, 128 * GIB))
DOMAINS = (None, "a", "b", "c")


@st.composite
def fleets(draw, min_hosts=1, max_hosts=10):
    count = draw(st.integers(min_hosts, max_hosts))
    hosts = {}
    for number in range(count):
        vcpus, memory_mb = draw(st.sampled_from(HOST_SIZES))
        hosts["host-%02d" % number] = host(vcpus=vcpus, memory_mb=memory_mb, avx2=draw(st.sampled_from((True, True, True, False))),
                                           domain=draw(st.sampled_from(DOMAINS)),
                                           ports_in_use=draw(st.lists(st.integers(5100, 5110), max_size=3)))
    return hosts


@st.composite
def service_lists(draw, max_services=5, max_replicas=5):
    count = draw(st.integers(1, max_services))
    services = []
    for number in range(count):
        services.append({"name": "svc-%d" % number, "kind": draw(st.sampled_from(KIND_CHOICES)),
                         "replicas": draw(st.integers(0, max_replicas)),
                         "cpus": draw(st.sampled_from((0.5, 1, 2, 4, 6))),
                         "memory_mb": draw(st.sampled_from((512, 1024, 4096, 8192, 12288)))})
    return services


def without_positions(plan):
    """The plan without the variables' list positions in each container's sizing (those follow the input order)."""
    for value in plan["hosts"].values():
        for container in value["containers"]:
            container["sizing"] = None
    return plan


def plan_or_report(services, hosts, **options):
    """The plan, or the capacity report, without the list positions (those follow the input order)."""
    try:
        return dumps(without_positions(build_plan(services, hosts, **options)))
    except PlanCapacityError as exc:
        return json.dumps([dict(entry, variable=None) for entry in exc.report], sort_keys=True)


def feasible_plan(services, hosts, **options):
    try:
        return build_plan(services, hosts, **options)
    except PlanCapacityError:
        assume(False)


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The generated speech-to-text services take the recommended profile's model memory, which a host's budget holds
# beside each container's --memory.
STT_MODEL_MB = 8 * GIB


def model_of(service):
    return STT_MODEL_MB if service["kind"] == STT else 0


def budget(containers):
    """MB of a host's budget: each container's --memory and speech model memory."""
    return sum(container["memory_mb"] + model_of(container) for container in containers)


@PROPERTY_SETTINGS
@given(services=service_lists(), hosts=fleets(), strategy=st.sampled_from(planner.STRATEGIES), seed=st.integers(0, 2 ** 16))
def test_same_input_same_output_whatever_the_order(services, hosts, strategy, seed):
    rng = random.Random(seed)
    host_names = list(hosts)
    rng.shuffle(host_names)
    shuffled_hosts = dict((name, hosts[name]) for name in host_names)
    expected = plan_or_report(services, hosts, strategy=strategy)
    assert plan_or_report(services, hosts, strategy=strategy) == expected
    # Placement ignores both orders; only the automatic load-balancer ports follow the listed service order.
    shuffled_hosts_only = plan_or_report(services, shuffled_hosts, strategy=strategy)
    assert shuffled_hosts_only == expected
    with_explicit_lb_ports = [dict(service, lb_port=9000 + index) for index, service in enumerate(services)]
    expected = plan_or_report(with_explicit_lb_ports, hosts, strategy=strategy)
    assert plan_or_report(sorted(with_explicit_lb_ports, key=lambda service: rng.random()), shuffled_hosts, strategy=strategy) == expected


@PROPERTY_SETTINGS
@given(services=service_lists(), hosts=fleets(), strategy=st.sampled_from(planner.STRATEGIES))
def test_no_host_over_capacity_no_port_collision(services, hosts, strategy):
    plan = feasible_plan(services, hosts, strategy=strategy)
    for host_name, value in plan["hosts"].items():
        containers = value["containers"]
        assert sum(container["cpus"] for container in containers) <= hosts[host_name]["vcpus_usable"] + 1e-9
        assert budget(containers) <= hosts[host_name]["memory_usable_mb"]
        assert budget(containers) == value["allocated"]["memory_mb"]
        assert not containers or hosts[host_name]["avx2"]
        ports = [container["host_port"] for container in containers]
        assert len(ports) == len(set(ports))
        assert not set(ports) & set(hosts[host_name]["ports_in_use"])
        assert all(5100 <= port <= 5999 for port in ports)
    assert plan["summary"]["containers"] == sum(service["replicas"] for service in services)


@PROPERTY_SETTINGS
@given(services=service_lists(max_replicas=6), hosts=fleets(min_hosts=1, max_hosts=8))
def test_replicas_on_distinct_hosts_while_hosts_suffice(services, hosts):
    for value in hosts.values():
        value.update(vcpus_usable=1000, memory_usable_mb=10 ** 7)
    plan = feasible_plan(services, hosts)
    usable_hosts = sum(1 for value in hosts.values() if value["avx2"])
    for service in services:
        backend_hosts = [backend["host"] for backend in plan["services"][service["name"]]["backends"]]
        if usable_hosts >= service["replicas"]:
            assert len(set(backend_hosts)) == len(backend_hosts)
        else:
            assert len(set(backend_hosts)) == usable_hosts


@PROPERTY_SETTINGS
@given(services=service_lists(), hosts=fleets(), strategy=st.sampled_from(planner.STRATEGIES))
def test_adding_an_empty_host_moves_nothing_and_replanning_is_identical(services, hosts, strategy):
    first = feasible_plan(services, hosts, strategy=strategy)
    current = as_current(first, hosts)
    assert dumps(build_plan(services, current, strategy=strategy)) == dumps(first)
    current["zz-new"] = host(vcpus=64, memory_mb=128 * GIB)
    current["aa-new"] = host(vcpus=64, memory_mb=128 * GIB, domain="a")
    second = build_plan(services, current, strategy=strategy)
    assert placements(second) == placements(first)
    assert second["hosts"]["zz-new"]["containers"] == [] and second["moves"] == []


@PROPERTY_SETTINGS
@given(services=service_lists(), hosts=fleets(min_hosts=2), data=st.data())
def test_removing_a_host_moves_exactly_its_replicas(services, hosts, data):
    first = feasible_plan(services, hosts)
    current = as_current(first, hosts)
    removed = data.draw(st.sampled_from(sorted(current)))
    del current[removed]
    second = feasible_plan(services, current)
    before, after = placements(first), placements(second)
    assert set(after) == set(before)
    for name, (host_name, port) in before.items():
        if host_name == removed:
            assert after[name][0] != removed
        else:
            assert after[name] == (host_name, port)


@PROPERTY_SETTINGS
@given(services=service_lists(), hosts=fleets(min_hosts=2), max_moves=st.integers(0, 4), strategy=st.sampled_from(planner.STRATEGIES))
def test_rebalance_is_bounded_and_keeps_every_invariant(services, hosts, max_moves, strategy):
    crowded = dict((name, value) for name, value in hosts.items() if name == min(hosts))
    first = feasible_plan(services, crowded)
    current = as_current(first, hosts)
    second = build_plan(services, current, rebalance=True, max_moves=max_moves, strategy=strategy)
    assert len(second["moves"]) <= max_moves
    assert set(placements(second)) == set(placements(first))
    for host_name, value in second["hosts"].items():
        assert sum(container["cpus"] for container in value["containers"]) <= hosts[host_name]["vcpus_usable"] + 1e-9
        assert budget(value["containers"]) == value["allocated"]["memory_mb"] <= hosts[host_name]["memory_usable_mb"]
        ports = [container["host_port"] for container in value["containers"]]
        assert len(ports) == len(set(ports))


def reference_placement(services, hosts, strategy):
    """The placement rule written the slow, obvious way: every replica scores every host."""
    scale, spread = _plan_placement.UTILISATION_SCALE, strategy == planner.SPREAD
    state = dict((name, {"cpu": 0, "mem": 0, "counts": {},
                         "cap_cpu": int(round(value["vcpus_usable"] * 1000)), "cap_mem": value["memory_usable_mb"],
                         "domain": value["fault_domain"], "avx2": value["avx2"] is True,
                         "tiebreak": _plan_inputs._host_tiebreak(name)}) for name, value in hosts.items())
    domain_counts = {}
    placed = {}
    ordered = sorted(services, key=lambda item: (-(item["memory_mb"] + model_of(item)), -int(round(item["cpus"] * 1000)), item["name"]))
    for service in ordered:
        cpu, mem = int(round(service["cpus"] * 1000)), service["memory_mb"] + model_of(service)
        for replica in range(1, service["replicas"] + 1):
            best = None
            for name, host_state in state.items():
                if not host_state["avx2"] or host_state["cpu"] + cpu > host_state["cap_cpu"] or host_state["mem"] + mem > host_state["cap_mem"]:
                    continue
                count = host_state["counts"].get(service["name"], 0)
                domain = host_state["domain"]
                in_domain = count if domain is None else domain_counts.get((service["name"], domain), 0)
                used = (host_state["cpu"] + cpu) * scale // host_state["cap_cpu"] + (host_state["mem"] + mem) * scale // host_state["cap_mem"]
                score = (count, in_domain, used if spread else -used, host_state["tiebreak"], name)
                if best is None or score < best:
                    best = score
            assert best is not None
            host_state = state[best[-1]]
            host_state["cpu"] += cpu
            host_state["mem"] += mem
            host_state["counts"][service["name"]] = host_state["counts"].get(service["name"], 0) + 1
            if host_state["domain"] is not None:
                key = (service["name"], host_state["domain"])
                domain_counts[key] = domain_counts.get(key, 0) + 1
            placed["speech-%s-%d" % (service["name"], replica)] = best[-1]
    return placed


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(services=service_lists(max_services=6, max_replicas=8), hosts=fleets(max_hosts=14), strategy=st.sampled_from(planner.STRATEGIES))
def test_heaps_place_exactly_like_scoring_every_host(services, hosts, strategy):
    for value in hosts.values():
        value["ports_in_use"] = []
    plan = feasible_plan(services, hosts, strategy=strategy)
    assert dict((name, host_name) for name, (host_name, _port) in placements(plan).items()) == reference_placement(services, hosts, strategy)


def test_services_say_whether_they_synthesize_speech():
    services = [{"name": "stt", "kind": "speech-to-text", "replicas": 1}, {"name": "lid", "kind": "language-detection", "replicas": 1},
                {"name": "tts", "kind": "neural-text-to-speech", "voice": "en-us-arianeural", "replicas": 1},
                {"name": "std", "kind": "text-to-speech", "voice": "en-us-jessarus", "replicas": 1}]
    plan = build_plan(services, {"h1": host()}, allow_retired_kinds=True)
    assert {name: service["synthesis"] for name, service in plan["services"].items()} == {
        "stt": False, "lid": False, "tts": True, "std": True}


def test_lb_ports_follow_the_listed_order_and_skip_explicit_ones():
    services = [small("zeta", 1), small("alpha", 1, lb_port=8001), small("mid", 1)]
    plan = build_plan(services, {"h1": host()})
    assert {name: service["lb_port"] for name, service in plan["services"].items()} == {"zeta": 8000, "alpha": 8001, "mid": 8002}
    assert plan["options"]["lb_port_base"] == 8000
    appended = build_plan(services + [small("aaa", 1)], {"h1": host()}, lb_port_base=8000)
    assert appended["services"]["zeta"]["lb_port"] == 8000 and appended["services"]["aaa"]["lb_port"] == 8003
    assert build_plan(services, {"h1": host()}, lb_port_base=9000)["services"]["mid"]["lb_port"] == 9001


@pytest.mark.parametrize("services, options, words", [
    ([small("a", 1, lb_port=8100), small("b", 1, lb_port=8100)], {}, "speech_services[1].lb_port 8100 is also the lb_port of service 'a'"),
    ([small("a", 1, lb_port=70000)], {}, "lb_port 70000 is not a port"),
    ([small("a", 1, lb_port="http")], {}, "speech_services[0].lb_port"),
    ([small("a", 1), small("b", 1)], {"lb_port_base": 65535}, "speech_lb_port_base 65535 leaves no load-balancer port for service 'b'"),
    ([small("a", 1)], {"lb_port_base": "x"}, "speech_lb_port_base"),
])
def test_lb_port_errors_name_the_variable(services, options, words):
    with pytest.raises(planner.PlanInputError) as error:
        build_plan(services, {"h1": host()}, **options)
    assert words in str(error.value)


def test_lb_servers_lists_the_containers_of_the_given_hosts():
    plan = build_plan([small("svc", 2)], {"h1": host(address="10.0.0.5"), "h2": host(address="fd00::2")})
    every = planner.lb_servers(plan)
    assert sorted(server["server"] for server in every) == ["speech-svc-1", "speech-svc-2"]
    assert all(server["backend"] == "svc" for server in every)
    (on_h2,) = planner.lb_servers(plan, ["h2"])
    port = [backend["port"] for backend in plan["services"]["svc"]["backends"] if backend["host"] == "h2"][0]
    assert on_h2["ready_url"] == "http://[fd00::2]:%d/ready" % port
    assert planner.lb_servers(plan, []) == []


def test_plan_without_services_and_hosts_leaves_the_input_alone():
    plan = build_plan([small("svc", 2), small("other", 1)], {"h1": host(), "h2": host()})
    before = json.dumps(plan, sort_keys=True)
    kept = planner.without(plan, services=["other"], hosts=["h2"])
    assert json.dumps(plan, sort_keys=True) == before
    assert list(kept["services"]) == ["svc"] and list(kept["hosts"]) == ["h1"]
    assert [backend["host"] for backend in kept["services"]["svc"]["backends"]] == ["h1"]
    assert all(container["service"] == "svc" for container in kept["hosts"]["h1"]["containers"])
    assert planner.without(plan) == plan
