# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet's room against the replicas asked for (_plan_capacity.py), checked before any placement: examples, then
properties over any replicas value a YAML file can hold (never over a second, never a traceback) and against
placement itself (the room check refuses only what placement cannot place either)."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.speechops.speech.plugins.filter.plan import plan as plan_filter
from ansible_collections.speechops.speech.plugins.module_utils import _plan_capacity
from ansible_collections.speechops.speech.plugins.module_utils import plan as planner
from ansible_collections.speechops.speech.plugins.module_utils.plan import PlanCapacityError, PlanInputError, build_plan

GIB = 1024
STT = "speech-to-text"
LID = "language-detection"
SECOND = 1.0


def host(vcpus=32, memory_mb=128 * GIB, avx2=True, **extra):
    return dict({"vcpus_usable": vcpus, "memory_usable_mb": memory_mb, "avx2": avx2, "fault_domain": None}, **extra)


def three_hosts():
    """Two AVX2 hosts of 32 cores and 128 GB, one without AVX2: room for 8 recommended speech-to-text replicas."""
    return {"h1": host(), "h2": host(), "old": host(avx2=False)}


def stt(replicas, **extra):
    return dict({"name": "stt-en-us", "kind": STT, "replicas": replicas}, **extra)


def lid(replicas, **extra):
    return dict({"name": "lid", "kind": LID, "replicas": replicas, "cpus": 1, "memory_mb": 1024}, **extra)


def cpu_seconds(function, *args, **kwargs):
    """(seconds of this process's CPU, what function returned or raised): a shared machine's load does not count."""
    started = time.process_time()
    try:
        outcome = function(*args, **kwargs)
    except (PlanInputError, PlanCapacityError, AnsibleFilterError) as exc:
        outcome = exc
    return time.process_time() - started, outcome


# ------------------------------------------------------------------------------------------ examples

def test_a_billion_replicas_are_refused_at_once_with_what_fits_and_the_fix():
    seconds, refused = cpu_seconds(build_plan, [stt(10 ** 9)], three_hosts())
    assert seconds < 0.1 and isinstance(refused, PlanCapacityError)
    message = str(refused)
    assert ("  - stt-en-us (speech_services[0].replicas): 1000000000 requested, at most 8 fit, each needs 8 cpus and "
            "8192 MB (+ 8192 MB speech model memory on its host): too few free cpus: the fleet's 2 AVX2 hosts (of 3 hosts) "
            "have 64 cores, 262144 MB and 1800 host ports of speech_port_base..speech_port_max (5100-5999) together") in message
    assert "Fix: lower speech_services[0].replicas to at most 8, or add or enlarge AVX2 hosts" in message
    assert refused.report[0]["fits"] == 8 and refused.report[0]["unplaced"] == 10 ** 9 - 8


def test_what_the_message_says_fits_does_fit():
    assert build_plan([stt(8)], three_hosts())["summary"]["containers"] == 8


@pytest.mark.parametrize("model_memory, needs", [
    ("host", "8192 MB (+ 8192 MB speech model memory on its host)"),
    ("container", "16384 MB"),
])
def test_the_model_memory_counts_in_the_room_wherever_it_goes(model_memory, needs):
    hosts = {"h1": host(vcpus=64, memory_mb=64 * GIB)}
    with pytest.raises(PlanCapacityError, match=re.escape("5 requested, at most 4 fit, each needs 8 cpus and %s: too little "
                                                          "free memory:" % needs)):
        build_plan([stt(5)], hosts, model_memory=model_memory)


def test_the_port_range_bounds_the_containers_of_one_host():
    hosts = {"big": host(vcpus=10000, memory_mb=10 ** 7)}
    assert build_plan([lid(10)], hosts, port_base=6000, port_max=6009)["summary"]["containers"] == 10
    with pytest.raises(PlanCapacityError, match=re.escape(
            "11 requested, at most 10 fit, each needs 1 cpus and 1024 MB: too few free host ports: the fleet's 1 AVX2 host "
            "has 10000 cores, 10000000 MB and 10 host ports of speech_port_base..speech_port_max (6000-6009)")):
        build_plan([lid(11)], hosts, port_base=6000, port_max=6009)


def test_ports_held_by_something_else_are_not_room():
    hosts = {"h1": host(ports_in_use=[6000, 6001, 7000])}
    with pytest.raises(PlanCapacityError, match="at most 8 fit"):
        build_plan([lid(9)], hosts, port_base=6000, port_max=6009)


def test_reservations_are_not_room():
    hosts = {"h1": host(reserved_cpus=8, reserved_memory_mb=8 * GIB)}
    with pytest.raises(PlanCapacityError, match="at most 24 fit.*the fleet's 1 AVX2 host has 24 cores, 122880 MB"):
        build_plan([lid(25)], hosts)


def test_each_service_alone_is_reported_and_a_service_that_fits_is_not_blamed():
    with pytest.raises(PlanCapacityError) as caught:
        build_plan([stt(10 ** 12), lid(3), dict(lid(10 ** 6), name="lid-big")], three_hosts())
    assert [entry["service"] for entry in caught.value.report] == ["lid-big", "stt-en-us"]
    assert ("Fix: lower speech_services[2].replicas to at most 64 and speech_services[0].replicas to at most 8, or"
            in str(caught.value))


def test_services_that_fit_alone_but_not_together_each_say_what_fits_beside_the_others():
    with pytest.raises(PlanCapacityError) as caught:
        build_plan([stt(7), lid(10)], three_hosts())
    message = str(caught.value)
    assert "lid (speech_services[1].replicas): 10 requested, at most 8 fit" in message
    assert "of which the other services' 7 replicas take 56 cores, 114688 MB and 7 host ports" in message
    assert "stt-en-us (speech_services[0].replicas): 7 requested, at most 6 fit" in message
    assert ("Fix: lower speech_services[1].replicas to at most 8 or speech_services[0].replicas to at most 6 "
            "(or several of them by less)") in message
    assert build_plan([stt(7), lid(8)], three_hosts())["summary"]["containers"] == 15


def test_pinned_replicas_are_placed_whatever_the_room():
    """A pin is placed even where it does not fit, so the room check leaves pinned replicas out."""
    hosts = {"small": host(vcpus=2, memory_mb=2 * GIB, pins=[{"service": "stt-en-us"}])}
    plan = build_plan([stt(1)], hosts)
    assert plan["summary"]["overcommitted_hosts"] == ["small"]
    with pytest.raises(PlanCapacityError, match="2 requested, at most 1 fit"):
        build_plan([stt(2)], hosts)


@pytest.mark.parametrize("hosts, reason", [
    ({}, "speech_hosts has no hosts"),
    ({"old": host(avx2=False)}, "no host has AVX2 (the Speech containers require it)"),
])
def test_a_fleet_without_room_says_why(hosts, reason):
    with pytest.raises(PlanCapacityError, match=re.escape("2 requested, at most 0 fit, each needs 1 cpus and 1024 MB: " + reason)):
        build_plan([lid(2)], hosts)


@pytest.mark.parametrize("count, text", [
    (0, "0"), (999999999999999, "999999999999999"), (10 ** 15, "over 10^15"), (10 ** 5000, "over 10^5000"),
], ids=["0", "15 nines", "10^15", "10^5000"])
def test_counts_of_any_size_can_be_printed(count, text):
    assert _plan_capacity.count_text(count) == text


def test_a_pin_takes_the_first_idle_replica_number_without_walking_all_replicas():
    hosts = {"h1": host(pins=["lid"], current=[{"name": "speech-lid-1", "service": "lid", "host_port": 5100}]),
             "h2": host(pins=["lid"])}
    plan = build_plan([lid(2)], hosts)
    assert [container["name"] for container in plan["hosts"]["h2"]["containers"]] == ["speech-lid-2"]


# ------------------------------------------------------------------------------------ properties

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What a YAML file (or a Jinja expression) can hand the plan as replicas, beyond plain integers.
ODD_REPLICAS = st.sampled_from([
    -1, -10 ** 12, True, False, None, 0.5, 1.0, 1e9, 1e300, float("nan"), float("inf"), float("-inf"),
    "1000000000", " 12 ", "1e9", "0x10", "-5", "", "twelve", "\u00b2", "\uff11\uff12", "9" * 5000, "9" * 3999,
    10 ** 5000, -(10 ** 5000), 2 ** 63, 2 ** 64 + 1, [], {}, [1], {"replicas": 1},
])
REPLICAS = st.one_of(st.integers(0, 10 ** 12), st.integers(0, 40), ODD_REPLICAS, st.text(max_size=30))
FLEETS = st.sampled_from([
    {},
    {"old": host(avx2=False)},
    three_hosts(),
    dict(("h%02d" % number, host(vcpus=16 + number, memory_mb=(32 + number) * GIB)) for number in range(12)),
])


@PROPERTY_SETTINGS
@given(replicas=REPLICAS, others=st.integers(0, 10 ** 12), hosts=FLEETS, port_max=st.sampled_from([None, 5100, 5109, 65535]))
def test_any_replicas_value_is_answered_within_a_second_without_a_traceback(replicas, others, hosts, port_max):
    services = [stt(replicas), lid(others)]
    options = {} if port_max is None else {"port_max": port_max}
    seconds, outcome = cpu_seconds(build_plan, services, hosts, **options)
    assert seconds < SECOND, "%.2f s" % seconds
    if isinstance(outcome, PlanInputError):
        assert "speech_services[0].replicas must be an integer >= 0" in str(outcome)
    elif isinstance(outcome, PlanCapacityError):
        for entry in outcome.report:
            assert "%s.replicas" % entry["variable"] in str(outcome)
        assert "Fix: lower speech_services[" in str(outcome)
    else:
        placed = sum(len(value["containers"]) for value in outcome["hosts"].values())
        assert placed == outcome["services"]["stt-en-us"]["replicas"] + others


@PROPERTY_SETTINGS
@given(replicas=REPLICAS, hosts=FLEETS)
def test_the_plan_filter_answers_any_replicas_value_with_a_filter_error_at_worst(replicas, hosts):
    seconds, outcome = cpu_seconds(plan_filter, [stt(replicas)], hosts)
    assert seconds < SECOND, "%.2f s" % seconds
    if isinstance(outcome, Exception):
        assert isinstance(outcome, AnsibleFilterError) and "speech_services[0].replicas" in str(outcome)


@st.composite
def small_fleets(draw):
    hosts = {}
    for number in range(draw(st.integers(0, 5))):
        hosts["h%d" % number] = host(vcpus=draw(st.sampled_from((1, 4, 8, 16))), memory_mb=draw(st.sampled_from((2048, 8192, 32768))),
                                     avx2=draw(st.sampled_from((True, True, False))),
                                     ports_in_use=draw(st.lists(st.integers(5100, 5105), max_size=2)),
                                     pins=draw(st.lists(st.sampled_from(("a", "b")), max_size=1)))
    return hosts


@st.composite
def small_services(draw):
    return [{"name": name, "kind": LID, "replicas": draw(st.integers(1, 12)), "cpus": draw(st.sampled_from((0.5, 1, 2, 4))),
             "memory_mb": draw(st.sampled_from((512, 1024, 4096)))} for name in ("a", "b")]


@PROPERTY_SETTINGS
@given(services=small_services(), hosts=small_fleets(), port_max=st.sampled_from((5102, 5105, 5999)))
def test_the_room_check_refuses_only_what_placement_cannot_place_either(services, hosts, port_max):
    try:
        build_plan(services, hosts, port_max=port_max)
        return
    except PlanInputError:  # more pins than replicas
        return
    except PlanCapacityError as exc:
        refused_by_room = "fits" in exc.report[0]
    if refused_by_room:
        with mock.patch.object(planner, "shortfall", lambda services, hosts, port_range: []):
            with pytest.raises(PlanCapacityError):
                build_plan(services, hosts, port_max=port_max)
