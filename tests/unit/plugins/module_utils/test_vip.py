# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The load balancers' virtual IP against their subnets and the hosts' own addresses (module_utils/vip.py)."""
from __future__ import annotations

import pytest

from ansible_collections.speechops.speech.plugins.module_utils.vip import vip_problems

PAIR = {"lb1": {"interface": "eth0", "cidr": "10.20.0.51/24"}, "lb2": {"interface": "eth0", "cidr": "10.20.0.52/24"}}
HOSTS = {"lb1": ["10.20.0.51"], "lb2": ["10.20.0.52"], "host1": ["10.20.0.11"]}


def test_a_free_address_in_the_subnet_of_two_load_balancers_passes():
    assert vip_problems("10.20.0.100", PAIR, HOSTS) == []


@pytest.mark.parametrize("vip,words", [
    ("10.20.0.100/24", "one IPv4 address (no prefix)"),
    ("lb.example.com", "one IPv4 address"),
    ("fd00::1", "one IPv4 address"),
    ("", "one IPv4 address"),
    ("10.30.0.100", "outside lb1's subnet 10.20.0.0/24"),
    ("10.20.0.255", "network or broadcast address"),
    ("10.20.0.0", "network or broadcast address"),
    ("10.20.0.11", "own address of host1"),
    ("10.20.0.52", "own address of lb2"),
    ("127.0.0.5", "not a unicast address"),
    ("169.254.1.1", "not a unicast address"),
])
def test_each_unusable_vip_is_refused_naming_the_variable(vip, words):
    problems = vip_problems(vip, PAIR, HOSTS)
    assert problems and any(words in problem for problem in problems), problems
    assert all("speech_lb_vip" in problem for problem in problems)


def test_one_load_balancer_is_not_enough():
    problems = vip_problems("10.20.0.100", {"lb1": PAIR["lb1"]}, HOSTS)
    assert any("has 1 host(s)" in problem for problem in problems)


def test_a_load_balancer_without_an_address_on_the_interface_names_the_interface_variable():
    problems = vip_problems("10.20.0.100", dict(PAIR, lb2={"interface": "eth1", "cidr": None}), HOSTS)
    assert any("lb2 has no IPv4 address on interface eth1" in problem and "speech_lb_vip_interface" in problem
               for problem in problems)


def test_a_load_balancer_in_another_subnet_is_named():
    problems = vip_problems("10.20.0.100", dict(PAIR, lb2={"interface": "eth0", "cidr": "10.21.0.52/24"}), HOSTS)
    assert problems == ["speech_lb_vip 10.20.0.100 is outside lb2's subnet 10.21.0.0/24 on eth0: the VIP must be in "
                        "the subnet of the interface it moves on (speech_lb_vip_interface)"]
