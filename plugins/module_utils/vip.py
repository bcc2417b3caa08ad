# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The load balancers' virtual IP (speech_lb_vip) against the load balancers' networks and every host's own
addresses: pure functions, for the speech_vip_check filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress


def _address(text):
    try:
        return ipaddress.IPv4Address(str(text))
    except ValueError:
        return None


def vip_problems(vip, load_balancers, host_addresses):
    """Every reason the VIP cannot work, each naming the variable and the fix; [] when it can.

    load_balancers: {host: {"interface": name, "cidr": "address/prefix" or None}}, the interface the VIP goes on and
    the host's own address on it. host_addresses: {host: [address, ...]}, the addresses every inventory host (load
    balancers included) owns, without the VIP itself."""
    problems = []
    address = _address(vip)
    if address is None:
        return ["speech_lb_vip is %r: set it to one IPv4 address (no prefix), a free address in the load balancers' "
                "subnet" % (vip,)]
    if address.is_loopback or address.is_multicast or address.is_unspecified or address.is_link_local:
        problems.append("speech_lb_vip %s is not a unicast address clients can reach: pick a free address in the "
                        "load balancers' subnet" % address)
    if len(load_balancers) < 2:
        problems.append("speech_lb_vip is set but the group speech_lb has %d host(s): a VIP moves between two or more "
                        "load balancers; add one, or leave speech_lb_vip empty" % len(load_balancers))
    for host, entry in sorted(load_balancers.items()):
        cidr = entry.get("cidr")
        if not cidr:
            problems.append("%s has no IPv4 address on interface %s: set speech_lb_vip_interface to the interface "
                            "that faces the clients" % (host, entry.get("interface") or "(none)"))
            continue
        network = ipaddress.IPv4Interface(str(cidr)).network
        if address not in network:
            problems.append("speech_lb_vip %s is outside %s's subnet %s on %s: the VIP must be in the subnet of the "
                            "interface it moves on (speech_lb_vip_interface)"
                            % (address, host, network, entry.get("interface")))
        elif address in (network.network_address, network.broadcast_address) and network.prefixlen < 31:
            problems.append("speech_lb_vip %s is the network or broadcast address of %s: pick a host address"
                            % (address, network))
    owners = sorted(host for host, addresses in host_addresses.items()
                    if str(address) in {str(item) for item in addresses or []})
    if owners:
        problems.append("speech_lb_vip %s is the own address of %s: the VIP must be an address no host has"
                        % (address, ", ".join(owners)))
    return problems
