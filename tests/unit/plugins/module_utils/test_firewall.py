# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech hosts' firewall (module_utils/firewall.py): which sources it admits, what stops it before any host
changes, and a ruleset that only ever drops connections Docker forwards to the speech ports, never SSH."""
from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.speechops.speech.plugins.module_utils import firewall

LB1 = {"primary_ipv4": "10.20.0.51", "ansible_host": "lb1.example.internal"}
LB2 = {"primary_ipv4": "10.20.0.52", "vip": "10.20.0.100"}

# fleet shapes: {load balancer: what is known of it}, speech_firewall_allow
SHAPES = {
    "one load balancer": ({"lb1": LB1}, []),
    "two behind a VIP, with monitoring": ({"lb1": dict(LB1, vip="10.20.0.100"), "lb2": LB2}, ["192.0.2.0/24", "198.51.100.7"]),
    "multi-homed, speech_address and ansible_host": ({"lb1": {"speech_address": "203.0.113.5", "primary_ipv4": "10.20.0.51",
                                                              "ansible_host": "10.30.0.51"}}, []),
    "IPv6 load balancer and IPv6 monitoring": ({"lb1": {"speech_address": "2001:db8::51"}}, ["2001:db8:1::/64", "10.0.0.0/8"]),
    "no load balancer, clients listed": ({}, ["10.0.0.0/8"]),
    "load balancer inside an allowed network": ({"lb1": LB1}, ["10.20.0.0/16"]),
}


def rendered(shape, port_base=5100, port_max=5999):
    load_balancers, allow = SHAPES[shape]
    return firewall.ruleset(load_balancers, allow, port_base, port_max)


def chains(text):
    """{chain: [its statement lines]} of the ruleset's one table."""
    found, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        match = re.match(r"^chain (\S+) \{$", line)
        if match:
            current = found.setdefault(match.group(1), [])
        elif line == "}":
            current = None
        elif current is not None and line:
            current.append(line)
    return found


def set_elements(text, name):
    match = re.search(r"set %s \{[^}]*?elements = \{ ([^}]*) \}" % name, text)
    return [ipaddress.ip_network(item) for item in match.group(1).split(", ")] if match else []


def assert_never_locks_out_ssh(text, port_base, port_max):
    """What the issue asks of every ruleset: forwarded traffic to the speech ports only; nothing for the input, output
    or any other hook, nothing about port 22, every drop behind the one rule that matches the published speech ports."""
    statements = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    hooks = re.findall(r"\bhook (\w+)", text)
    assert hooks == ["forward"], hooks
    assert "type filter hook forward priority filter; policy accept;" in statements
    # no port is matched but the published one before DNAT (SSH's 22 included), no other hook is named
    rules = [line for line in statements if not line.startswith(("elements = ", "type ipv", "flags "))]
    assert not re.search(r"\b(dport|sport|th|ssh|input|output|prerouting|postrouting|ingress|egress)\b", "\n".join(rules))
    assert not re.search(r"\b(reject|flush ruleset|policy drop)\b", text)
    found = chains(text)
    assert sorted(found) == ["forward", "speech_ports"]
    assert found["forward"] == [
        "type filter hook forward priority filter; policy accept;",
        "ct direction original ct status dnat meta l4proto tcp ct original proto-dst %d-%d jump speech_ports"
        % (port_base, port_max)]
    assert found["speech_ports"] == ["ip saddr @allowed_ipv4 return", "ip6 saddr @allowed_ipv6 return", "drop"]
    # the only table touched is our own, replaced whole in one transaction
    assert statements[:3] == ["table inet speechops_firewall", "delete table inet speechops_firewall",
                              "table inet speechops_firewall {"]
    assert not re.search(r"^(flush|delete|add|table) ", "\n".join(statements[3:]), re.M)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_fleet_shape_drops_only_forwarded_traffic_to_the_speech_ports(shape):
    assert_never_locks_out_ssh(rendered(shape), 5100, 5999)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_load_balancer_address_and_allowed_network_is_admitted(shape):
    load_balancers, allow = SHAPES[shape]
    text = rendered(shape)
    admitted = set_elements(text, "allowed_ipv4") + set_elements(text, "allowed_ipv6")
    wanted = [ipaddress.ip_network(address) for entry in load_balancers.values() for address in firewall.lb_addresses(entry)]
    wanted += [ipaddress.ip_network(entry) for entry in allow]
    for network in wanted:
        assert any(network.version == other.version and network.subnet_of(other) for other in admitted), (network, admitted)
    assert sum(network.num_addresses for network in admitted) == sum(
        network.num_addresses for version in (4, 6)
        for network in ipaddress.collapse_addresses(network for network in wanted if network.version == version))


def test_the_ruleset_of_two_load_balancers_reads_as_written():
    assert rendered("two behind a VIP, with monitoring", 5100, 5199) == """\
# speechops.speech host firewall (role speechops.speech.firewall), written by Ansible: do not edit.
# The speech containers' published ports 5100-5199 answer only the sources below; every other connection Docker
# forwards to them is dropped. Forwarded traffic only: nothing here filters what the host itself receives or
# sends (SSH included), nor its own connections to 127.0.0.1:<port>.
#   load balancer lb1: 10.20.0.51
#   load balancer lb2: 10.20.0.52
#   speech_firewall_allow: 192.0.2.0/24, 198.51.100.7
table inet speechops_firewall
delete table inet speechops_firewall
table inet speechops_firewall {
\tset allowed_ipv4 {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 10.20.0.51, 10.20.0.52, 192.0.2.0/24, 198.51.100.7 }
\t}
\tset allowed_ipv6 {
\t\ttype ipv6_addr
\t\tflags interval
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tct direction original ct status dnat meta l4proto tcp ct original proto-dst 5100-5199 jump speech_ports
\t}
\tchain speech_ports {
\t\tip saddr @allowed_ipv4 return
\t\tip6 saddr @allowed_ipv6 return
\t\tdrop
\t}
}
"""


def test_the_same_inputs_give_the_same_ruleset_in_any_order():
    load_balancers, allow = SHAPES["two behind a VIP, with monitoring"]
    reordered = dict(reversed(list(load_balancers.items())))
    assert firewall.ruleset(reordered, allow, 5100, 5999) == firewall.ruleset(load_balancers, allow, 5100, 5999)


def test_a_load_balancer_is_admitted_from_each_of_its_own_addresses_but_never_from_the_vip():
    assert [str(address) for address in firewall.lb_addresses(
        {"speech_address": "203.0.113.5", "primary_ipv4": "10.20.0.51", "ansible_host": "10.30.0.51"})] == [
        "10.20.0.51", "10.30.0.51", "203.0.113.5"]
    # a DNS name is no source; the VIP is not one either, even where an inventory names it
    assert firewall.lb_addresses({"speech_address": "lb1.example.internal", "primary_ipv4": None, "ansible_host": "lb1"}) == []
    assert firewall.lb_addresses({"speech_address": "10.20.0.100", "vip": "10.20.0.100"}) == []
    assert [str(address) for address in firewall.lb_addresses(
        {"primary_ipv4": "10.20.0.51", "speech_address": "10.20.0.100", "vip": "10.20.0.100"})] == ["10.20.0.51"]


def test_a_load_balancer_without_a_known_address_stops_it_naming_the_host_and_the_fix():
    problems = firewall.check({"lb1": LB1, "lb2": {"ansible_host": "lb2", "vip": "10.20.0.100",
                                                   "speech_address": "10.20.0.100"}}, [])
    assert problems == [
        "speech_firewall is on, but the load balancer lb2 has no known address: host_facts did not read its primary IPv4 "
        "in this run (not reached, or left out by --limit) and neither its speech_address nor its ansible_host is an IP "
        "address. Set speech_address for lb2 to the address its connections to the speech hosts come from, include it in "
        "the run, or set speech_firewall: false"]
    with pytest.raises(firewall.FirewallInputError, match="load balancer lb2 has no known address"):
        firewall.ruleset({"lb2": {}}, [], 5100, 5999)


def test_no_load_balancer_and_nothing_allowed_would_admit_no_one():
    assert firewall.check({}, ["10.0.0.0/8"]) == []
    assert firewall.check({}, []) == [
        "speech_firewall is on, but there is no load balancer (the group speech_lb is empty) and speech_firewall_allow is "
        "empty: the containers' ports would answer no one. List the clients' networks in speech_firewall_allow, or set "
        "speech_firewall: false"]


@pytest.mark.parametrize("entry, reason", [
    ("10.0.0.5/24", "has host bits set"),
    ("10.0.0.0/33", "not an address or a network"),
    ("monitoring.example.internal", "not an address or a network"),
    (" 10.0.0.0/8", "not an address or a network"),
    ("", "not an address or a network"),
    (10, "not an address or a network"),
])
def test_a_bad_allowed_entry_is_named_with_its_position_and_the_fix(entry, reason):
    problems = firewall.check({"lb1": LB1}, ["192.0.2.0/24", entry])
    assert problems == ["speech_firewall_allow[1] is %r (%s): write a network as address/prefix with the host bits zero "
                        "(198.51.100.0/24, 2001:db8::/64) or one address (192.0.2.10)" % (entry, reason)]


def test_allow_must_be_a_list():
    assert firewall.check({"lb1": LB1}, "10.0.0.0/8")[0].startswith("speech_firewall_allow must be a list")


@pytest.mark.parametrize("base, top", [(0, 10), (5999, 5100), (5100, 65536), ("5100", 5999)])
def test_a_port_range_outside_1_to_65535_is_refused(base, top):
    with pytest.raises(firewall.FirewallInputError, match="speech_port_base and speech_port_max"):
        firewall.ruleset({"lb1": LB1}, [], base, top)


ADDRESS = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), st.sampled_from(["", None, "lb.example"]))
LOAD_BALANCER = st.fixed_dictionaries({}, optional={"speech_address": ADDRESS, "primary_ipv4": st.ip_addresses(v=4).map(str),
                                                    "ansible_host": ADDRESS, "vip": st.ip_addresses(v=4).map(str)})
NETWORK = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str),
                    st.builds(lambda address, prefix: str(ipaddress.ip_network("%s/%d" % (address, prefix), strict=False)),
                              st.ip_addresses(v=4), st.integers(8, 32)))


@settings(max_examples=60)
@given(load_balancers=st.dictionaries(st.from_regex(r"^lb[0-9]{1,3}$", fullmatch=True), LOAD_BALANCER, max_size=5),
       allow=st.lists(NETWORK, max_size=6), ports=st.tuples(st.integers(1, 65535), st.integers(0, 1000)))
def test_any_fleet_either_fails_before_writing_or_never_locks_out_ssh(load_balancers, allow, ports):
    port_base, port_max = ports[0], min(65535, ports[0] + ports[1])
    problems = firewall.check(load_balancers, allow)
    if problems:
        with pytest.raises(firewall.FirewallInputError):
            firewall.ruleset(load_balancers, allow, port_base, port_max)
        return
    assert_never_locks_out_ssh(firewall.ruleset(load_balancers, allow, port_base, port_max), port_base, port_max)
