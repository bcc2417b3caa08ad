# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Views of a finished plan: the text table, the endpoints catalog and its Markdown, the load balancers'
servers, and the plan without some services or hosts (private glue of plan.py; the filter speech_plan_view calls them).

Pure functions over the plan's output; stdlib only; Python 3.8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.speechops.speech.plugins.module_utils._plan_inputs import PlanInputError, _as_int, _is_mapping


def _percent(part, whole):
    return "%d%%" % (part * 100 // whole) if whole else "-"


def _table(rows):
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _model_cell(container):
    """A container's speech model memory and where it counts: "8192 host", "8192 in --memory", or "-"."""
    model = container.get("model_memory_mb") or 0
    if not model:
        return "-"
    return "%d %s" % (model, "in --memory" if container.get("model_memory") == "container" else "host")


def plan_table(plan):
    """The plan as a text table: one row per container (MEMORY_MB is its --memory, MODEL_MB its speech model memory
    and where that counts), then one utilisation row per host (MEMORY_MB: the containers' limits plus the model
    memory counted beside them, MODEL_MB, against what the host has)."""
    rows = [("HOST", "CONTAINER", "SERVICE", "PORT", "CPUS", "MEMORY_MB", "MODEL_MB")]
    for host_name, host in plan["hosts"].items():
        for container in host["containers"]:
            rows.append((host_name, container["name"], container["service"], str(container["host_port"]),
                         "%g" % container["cpus"], str(container["memory_mb"]), _model_cell(container)))
    usage = [("HOST", "CONTAINERS", "CPUS", "CPU%", "MEMORY_MB", "MEM%", "MODEL_MB", "NOTE")]
    for host_name, host in plan["hosts"].items():
        capacity, allocated = host["capacity"], host["allocated"]
        usage.append((host_name, str(len(host["containers"])), "%g/%g" % (allocated["cpus"], capacity["cpus"]),
                      _percent(allocated["cpus"], capacity["cpus"]),
                      "%d/%d" % (allocated["memory_mb"], capacity["memory_mb"]),
                      _percent(allocated["memory_mb"], capacity["memory_mb"]),
                      str(allocated.get("model_memory_mb", 0)),
                      "OVERCOMMITTED by speech_pinned: preflight rejects it" if host.get("overcommitted") else ""))
    lines = _table(rows) + [""] + _table(usage)
    return "\n".join(lines) + "\n"


def _url(scheme, address, port):
    host = "[%s]" % address if ":" in address else address
    return "%s://%s:%d" % (scheme, host, port)


def endpoints(plan, lb_address=None, lb_ports=None, lb_tls=False):
    """Endpoints catalog: service -> load-balancer URL (when lb_address and its port are known) and backends.
    lb_tls: the load balancer terminates TLS, so its URLs are https/wss."""
    lb_ports = lb_ports or {}
    if not _is_mapping(lb_ports):
        raise PlanInputError("the load balancer ports must map service names to frontend ports, got %r" % (lb_ports,))
    catalog_data = {}
    for name, service in plan["services"].items():
        scheme = "http" if service["protocol"] == "http" else "ws"
        lb_scheme = scheme.replace("http", "https") if scheme == "http" and lb_tls else ("wss" if lb_tls else scheme)
        lb_port = lb_ports.get(name, service.get("lb_port"))
        catalog_data[name] = {
            "kind": service["kind"],
            "protocol": service["protocol"],
            "url": _url(lb_scheme, str(lb_address), _as_int(lb_port, "the load balancer port of %s" % name, 1)) if lb_address and lb_port else None,
            "replicas": service["replicas"],
            "concurrency": service["concurrency"],
            "capacity": service["capacity"],
            "backends": [dict(backend, url=_url(scheme, backend["address"], backend["port"]),
                              ready_url=_url("http", backend["address"], backend["port"]) + "/ready")
                         for backend in service["backends"]],
        }
    return {"services": catalog_data}


def without(plan, services=(), hosts=()):
    """A copy of the plan without the given services and without anything on the given hosts
    (playbooks/remove.yml: what the load balancers keep while those are removed)."""
    services, hosts = set(services or ()), set(hosts or ())
    kept = copy.deepcopy(plan)
    kept["services"] = dict((name, service) for name, service in kept["services"].items() if name not in services)
    for service in kept["services"].values():
        service["backends"] = [backend for backend in service["backends"] if backend["host"] not in hosts]
    kept["hosts"] = dict((name, host) for name, host in kept["hosts"].items() if name not in hosts)
    for host in kept["hosts"].values():
        host["containers"] = [container for container in host["containers"] if container["service"] not in services]
    return kept


def lb_servers(plan, hosts=None):
    """The load balancers' servers of the containers planned on `hosts` (all hosts when None):
    [{backend: service, server: container, ready_url}], the haproxy_servers module's input."""
    wanted = None if hosts is None else set(hosts)
    servers = []
    for name, service in plan["services"].items():
        for backend in service["backends"]:
            if wanted is None or backend["host"] in wanted:
                servers.append({"backend": name, "server": backend["container"],
                                "ready_url": _url("http", backend["address"], backend["port"]) + "/ready"})
    return servers


def endpoints_markdown(catalog_data):
    """The endpoints catalog as a Markdown table."""
    lines = ["| Service | Kind | Endpoint | Concurrent requests per container | Capacity | Backends |",
             "|---|---|---|---|---|---|"]
    for name, service in catalog_data["services"].items():
        backends = "<br>".join("`%s` (%s)" % (backend["url"], backend["container"]) for backend in service["backends"])
        lines.append("| %s | %s | %s | %d | %d | %s |" % (
            name, service["kind"], "`%s`" % service["url"] if service["url"] else "-", service["concurrency"],
            service["capacity"], backends or "-"))
    return "\n".join(lines) + "\n"
