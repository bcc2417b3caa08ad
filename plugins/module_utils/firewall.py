# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech hosts' firewall: which sources may reach the published speech ports, and the nftables ruleset that
admits only them. Pure functions, for the filters speech_firewall_check and speech_firewall_ruleset; stdlib only;
Python 3.8+.

Docker publishes a port with a DNAT in PREROUTING, so a connection from another host to a container crosses the
forward hook with the container's own address and port; the ruleset matches it there, by the published port as the
client sent it (ct original proto-dst), and drops it unless its source is a load balancer or speech_firewall_allow.
Nothing is matched on the input or output hooks: what the host itself receives (SSH included) or sends, and its
own connections to 127.0.0.1:<port> (Docker's OUTPUT DNAT or docker-proxy), are never filtered.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

TABLE = "speechops_firewall"
ALLOW_VARIABLE = "speech_firewall_allow"


class FirewallInputError(ValueError):
    """Inputs the ruleset cannot be made from; the message names the variables and the fix."""


def _ip(text):
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        return None


def allow_problem(entry):
    """Why one entry of speech_firewall_allow is not a network or an address; None when it is one."""
    if not isinstance(entry, str) or not entry or entry != entry.strip():
        return "not an address or a network"
    try:
        ipaddress.ip_network(entry, strict=True)
    except ValueError as error:
        return "has host bits set" if "host bits" in str(error) else "not an address or a network"
    return None


def allow_networks(allow):
    """The networks of speech_firewall_allow (a list of addresses and address/prefix networks)."""
    if not isinstance(allow, (list, tuple)):
        raise FirewallInputError("%s must be a list of networks (address/prefix) or addresses, got %r: write it as a "
                                 "YAML list, e.g. [192.0.2.10, 198.51.100.0/24]" % (ALLOW_VARIABLE, allow))
    problems = []
    for index, entry in enumerate(allow):
        problem = allow_problem(entry)
        if problem is not None:
            problems.append("%s[%d] is %r (%s): write a network as address/prefix with the host bits zero "
                            "(198.51.100.0/24, 2001:db8::/64) or one address (192.0.2.10)"
                            % (ALLOW_VARIABLE, index, entry, problem))
    if problems:
        raise FirewallInputError("; ".join(problems))
    return [ipaddress.ip_network(entry) for entry in allow]


def lb_addresses(load_balancer):
    """The addresses a load balancer's connections may come from, sorted: its speech_address, the primary IPv4
    host_facts read in this run and its ansible_host, each when it is an IP address, and never its VIP (a moving
    address HAProxy does not connect from). load_balancer: {speech_address, primary_ipv4, ansible_host, vip}."""
    vip = _ip(load_balancer.get("vip") or "")
    found = set()
    for key in ("speech_address", "primary_ipv4", "ansible_host"):
        address = _ip(load_balancer.get(key) or "")
        if address is not None and address != vip:
            found.add(address)
    return sorted(found, key=lambda address: (address.version, address))


def lb_problems(load_balancers):
    """A sentence per load balancer without a known address ({name: {speech_address, primary_ipv4, ansible_host,
    vip}}), each naming the variable and the fix."""
    return ["speech_firewall is on, but the load balancer %s has no known address: host_facts did not read its primary "
            "IPv4 in this run (not reached, or left out by --limit) and neither its speech_address nor its ansible_host "
            "is an IP address. Set speech_address for %s to the address its connections to the speech hosts come "
            "from, include it in the run, or set speech_firewall: false" % (name, name)
            for name in sorted(load_balancers) if not lb_addresses(load_balancers[name])]


def check(load_balancers, allow):
    """Every reason the firewall cannot be made for these load balancers and speech_firewall_allow; [] when it can."""
    try:
        networks = allow_networks(allow)
    except FirewallInputError as error:
        return [str(error)]
    problems = lb_problems(load_balancers)
    if not load_balancers and not networks:
        problems.append("speech_firewall is on, but there is no load balancer (the group speech_lb is empty) and "
                        "speech_firewall_allow is empty: the containers' ports would answer no one. List the clients' "
                        "networks in speech_firewall_allow, or set speech_firewall: false")
    return problems


def _elements(networks):
    """nftables set elements, overlaps merged (an interval set refuses them): an address alone, a network as a prefix."""
    merged = ipaddress.collapse_addresses(networks)
    return [str(network.network_address) if network.num_addresses == 1 else str(network) for network in merged]


def _set_lines(name, kind, networks):
    lines = ["\tset %s {" % name, "\t\ttype %s" % kind, "\t\tflags interval"]
    elements = _elements(networks)
    if elements:
        lines.append("\t\telements = { %s }" % ", ".join(elements))
    return lines + ["\t}"]


def ruleset(load_balancers, allow, port_base, port_max, table=TABLE):
    """The nftables ruleset of one speech host, as a file for `nft -f`: it replaces the table `table` whole (declare,
    delete, define: one transaction), so loading it again changes nothing. Raises FirewallInputError with every
    problem of check()."""
    problems = check(load_balancers, allow)
    if problems:
        raise FirewallInputError("; ".join(problems))
    if not (isinstance(port_base, int) and isinstance(port_max, int) and 1 <= port_base <= port_max <= 65535):
        raise FirewallInputError("the speech port range must lie within 1..65535, got %r..%r: set speech_port_base and "
                                 "speech_port_max" % (port_base, port_max))
    sources = dict((name, lb_addresses(load_balancers[name])) for name in sorted(load_balancers))
    networks = [ipaddress.ip_network(address) for addresses in sources.values() for address in addresses]
    networks += allow_networks(allow)
    lines = [
        "# speechops.speech host firewall (role speechops.speech.firewall), written by Ansible: do not edit.",
        "# The speech containers' published ports %d-%d answer only the sources below; every other connection Docker"
        % (port_base, port_max),
        "# forwards to them is dropped. Forwarded traffic only: nothing here filters what the host itself receives or",
        "# sends (SSH included), nor its own connections to 127.0.0.1:<port>.",
    ]
    lines += ["#   load balancer %s: %s" % (name, ", ".join(str(address) for address in addresses))
              for name, addresses in sources.items()]
    lines.append("#   %s: %s" % (ALLOW_VARIABLE, ", ".join(str(entry) for entry in allow) or "none"))
    lines += ["table inet %s" % table, "delete table inet %s" % table, "table inet %s {" % table]
    lines += _set_lines("allowed_ipv4", "ipv4_addr", [network for network in networks if network.version == 4])
    lines += _set_lines("allowed_ipv6", "ipv6_addr", [network for network in networks if network.version == 6])
    lines += [
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy accept;",
        # the published port as the client sent it, before Docker's DNAT; the client's packets only, not the replies
        "\t\tct direction original ct status dnat meta l4proto tcp ct original proto-dst %d-%d jump speech_ports"
        % (port_base, port_max),
        "\t}",
        "\tchain speech_ports {",
        "\t\tip saddr @allowed_ipv4 return",
        "\t\tip6 saddr @allowed_ipv6 return",
        "\t\tdrop",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"
