# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HAProxy's runtime API, for draining and enabling speech backends without a reload.

Pure parts (reading `show stat`, naming a server's admin state, choosing what to do) are plain
functions the unit tests reach without HAProxy; RuntimeApi talks to the stats socket.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import socket

READY = "ready"
DRAINED = "drained"
MAINT = "maint"
RECONCILE = "reconcile"
STATES = (READY, DRAINED, MAINT, RECONCILE)


class RuntimeApiError(Exception):
    pass


# haproxy.cfg.j2 gives a text to speech service a second backend <service>_ws for WebSocket upgrades, whose
# servers track <service>/<container> (its health, drain and maintenance apply to them).
WEBSOCKET_BACKEND_SUFFIX = "_ws"


def parse_stat(text):
    """`show stat` CSV -> {(backend, server): {status, sessions, weight, check, websocket}} for real servers only.

    A server in a service's WebSocket backend is not listed on its own: its sessions are added to those of the
    server it tracks, whose `websocket` is then True (a drain waits for both and shuts both down)."""
    text = text.lstrip("# ")
    servers, websocket_sessions = {}, {}
    for row in csv.DictReader(text.splitlines()):
        name = row.get("svname")
        if not name or name in ("FRONTEND", "BACKEND"):
            continue
        if row["pxname"].endswith(WEBSOCKET_BACKEND_SUFFIX):
            websocket_sessions[(row["pxname"][:-len(WEBSOCKET_BACKEND_SUFFIX)], name)] = int(row.get("scur") or 0)
            continue
        servers[(row["pxname"], name)] = {
            "status": row.get("status") or "",
            "sessions": int(row.get("scur") or 0),
            "weight": int(row.get("weight") or 0),
            "check": (row.get("check_status") or "").lstrip("* "),  # "* L7OK": a check is running
            "websocket": False,
        }
    for key, sessions in websocket_sessions.items():
        if key in servers:
            servers[key]["sessions"] += sessions
            servers[key]["websocket"] = True
    return servers


def admin_state(status):
    """The operator-set part of a `show stat` status: maint, drained or ready.

    HAProxy reports MAINT (also "MAINT (via ...)", "MAINT (resolution)") and DRAIN (also
    "DRAIN (agent)") for admin states; UP, DOWN, NOLB and "no check" mean the server is ready
    and only its health decides.
    """
    status = (status or "").upper()
    if status.startswith("MAINT"):
        return MAINT
    if status.startswith("DRAIN"):
        return DRAINED
    return READY


def is_up(status):
    """Health checks pass (plain UP; "UP 1/3" is a server failing its checks on its way down) or it has none."""
    status = (status or "").upper()
    return status == "UP" or status == "NO CHECK"


def server_ref(server):
    return "%s/%s" % (server["backend"], server["server"])


def missing_servers(servers, stat):
    return [server_ref(server) for server in servers if (server["backend"], server["server"]) not in stat]


def state_command(server, admin, current=READY):
    """The runtime API command that puts one server into an admin state.

    HAProxy runs no checks in MAINT and lets a server leaving it take traffic at once ("UP 1/2") until
    its checks fail. Leaving MAINT therefore also forces its health down, in the same command line, so
    that it gets traffic only after `rise` passing checks.
    """
    word = {READY: "ready", DRAINED: "drain", MAINT: "maint"}[admin]
    command = "set server %s state %s" % (server_ref(server), word)
    if current == MAINT and admin != MAINT:
        command += "; set server %s health down" % server_ref(server)
    return command


def reconcile_target(healthy):
    """Reconcile: a backend whose container answers /ready takes traffic; any other is kept in maint, never drain."""
    return READY if healthy else MAINT


class RuntimeApi:
    """One command per connection on the stats socket (HAProxy's non-interactive mode)."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout

    def command(self, line):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(self.timeout)
        try:
            client.connect(self.path)
            client.sendall(line.encode("ascii") + b"\n")
            chunks = []
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (OSError, socket.timeout) as error:
            raise RuntimeApiError("HAProxy stats socket %s: %s (is HAProxy running, with 'stats socket %s level admin'?)"
                                  % (self.path, error, self.path))
        finally:
            client.close()
        answer = b"".join(chunks).decode("utf-8", "replace")
        if answer.strip() and not line.startswith("show") and "No such" in answer:
            raise RuntimeApiError("HAProxy refused %r: %s" % (line, answer.strip()))
        return answer

    def stat(self):
        return parse_stat(self.command("show stat"))

    def set_state(self, server, admin, current=READY):
        self.command(state_command(server, admin, current))

    def shutdown_sessions(self, server, websocket=False):
        """Shut down the server's sessions, and with websocket those of its twin in <backend>_ws."""
        self.command("shutdown sessions server %s" % server_ref(server))
        if websocket:
            twin = dict(server, backend=server["backend"] + WEBSOCKET_BACKEND_SUFFIX)
            self.command("shutdown sessions server %s" % server_ref(twin))
