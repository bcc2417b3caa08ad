# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HAProxy's runtime API (the stats socket): the collection's one client of it.

Standard library only, Python 3.8+, no Ansible import, so that this one file serves twice:

- the modules speechops.speech.haproxy_servers and speechops.speech.haproxy_client_keys import it to drain, enable
  and reconcile speech backends, and to replace the client keys' maps, without a reload (RuntimeApi and the pure
  functions below);
- the role speechops.speech.loadbalancer installs this very file on each load balancer as its state helper
  (loadbalancer_state_script, default /usr/local/lib/speechops/haproxy_state.py) and runs it with python3 from
  its systemd drop-in and its tasks (main() below).

Pure parts (reading `show stat`, naming a server's admin state, choosing what to do, filtering a server-state
dump) are plain functions the unit tests reach without HAProxy; runtime_command() alone talks to the socket.

As a script:

  python3 haproxy_state.py [--timeout N] save --socket S --state-file F [--config C]
      Dump "show servers state" from the stats socket into the server-state file, atomically
      (temporary file in the same folder, fsync, rename). haproxy.service runs it on every reload
      (between the configuration check and the reload signal) and on stop, through the role's
      systemd drop-in, so that the next process loads it (load-server-state-from-file global) and
      drained or disabled servers stay so.
      With --config, the lines of servers whose address or port in that configuration differs from
      the running one are left out: HAProxy would otherwise restore the old address and port from
      the file (haproxy/haproxy#985); a server at a new address starts afresh (ready, checked).
      When nothing serves the stats socket (no socket file, or nobody listening on it) there is no
      runtime state to keep: the file is removed, so that an old one cannot bring back a stale drain.
      Any other failure (timeout, unexpected answer) fails, and with it the reload.

  python3 haproxy_state.py [--timeout N] wait --socket S [--expect-services FILE|-]
      Wait until the running worker has exactly the frontends (fe_<service>), backends (<service>)
      and servers (<container>) of the given services (the plan's: the new configuration is live)
      and every server with health checks has had its first check (none left in check status INI);
      print every server's state as JSON; exit 1 when that does not happen within the timeout.

  python3 haproxy_state.py [--timeout N] cmd --socket S COMMAND...
      Send one runtime API command (e.g. "show servers state", "set server stt/c1 state drain")
      and print the answer: the stats socket without socat.

The script writes to sys.stdout and sys.stderr and ends with SystemExit, never with print() or sys.exit():
ansible-test's pylint forbids those in module_utils (a module's stdout is its JSON result), and no module ever
reaches main().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import csv
import ipaddress
import json
import os
import socket
import sys
import tempfile
import time

READY = "ready"
DRAINED = "drained"
MAINT = "maint"
RECONCILE = "reconcile"
STATES = (READY, DRAINED, MAINT, RECONCILE)

# haproxy.cfg.j2 gives a text to speech service a second backend <service>_ws for WebSocket upgrades, whose
# servers track <service>/<container> (its health, drain and maintenance apply to them).
WEBSOCKET_BACKEND_SUFFIX = "_ws"

STATE_FORMAT = "1"  # the first line of "show servers state"
SECTION_KEYWORDS = ("global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist",
                    "mailers", "program", "http-errors", "ring", "cache", "fcgi-app", "crt-store", "traces")


class RuntimeApiError(Exception):
    pass


class SocketError(RuntimeApiError):
    """The stats socket could not be used; .reason is the socket's error."""

    def __init__(self, path, reason):
        super(SocketError, self).__init__("%s: %s" % (path, reason))
        self.path = path
        self.reason = reason


class NoListener(SocketError):
    """The socket file is missing or nothing listens on it."""


# ------------------------------------------------------------------------------------ the socket

def runtime_command(path, line, timeout=10.0, encoding="utf-8"):
    """One command over the stats socket, and its whole answer (HAProxy's non-interactive mode: one command per
    connection, HAProxy answers and closes). Raises NoListener when there is no socket file or nothing listens on
    it, SocketError on any other failure of the socket."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        try:
            client.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as error:
            raise NoListener(path, error)
        client.sendall(line.encode(encoding) + b"\n")
        chunks = []
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except (OSError, socket.timeout) as error:
        raise SocketError(path, error)
    finally:
        client.close()
    return b"".join(chunks).decode("utf-8", "replace")


def stat_records(text):
    """`show stat` CSV -> (header, [{column: value}] for each non-empty row); the header is [] without one."""
    rows = csv.reader(text.lstrip("# ").splitlines())
    header = next(rows, None) or []
    return header, [dict(zip(header, row)) for row in rows if row]


# -------------------------------------------------------------- the module's view (haproxy_servers)

def parse_stat(text):
    """`show stat` CSV -> {(backend, server): {status, sessions, weight, check, websocket}} for real servers only.

    A server in a service's WebSocket backend is not listed on its own: its sessions are added to those of the
    server it tracks, whose `websocket` is then True (a drain waits for both and shuts both down)."""
    servers, websocket_sessions = {}, {}
    for row in stat_records(text)[1]:
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


# srv_admin_state bits of "show servers state" (HAProxy's SRV_ADMF_FDRAIN and SRV_ADMF_IDRAIN): drained by an
# operator, or through the server it tracks.
ADMIN_DRAIN_BITS = 0x08 | 0x10


def drained_servers(text):
    """`show servers state` -> {(backend, server)} of the servers whose admin state includes a drain."""
    lines = text.splitlines()
    header = next((line.lstrip("#").split() for line in lines if line.startswith("#")), [])
    try:
        backend, server, admin = (header.index(name) for name in ("be_name", "srv_name", "srv_admin_state"))
    except ValueError:
        raise RuntimeApiError("unexpected 'show servers state' header: %r" % text[:200])
    drained = set()
    for line in lines:
        values = line.split()
        if line.startswith("#") or len(values) <= max(backend, server, admin) or not values[admin].isdigit():
            continue
        if int(values[admin]) & ADMIN_DRAIN_BITS:
            drained.add((values[backend], values[server]))
    return drained


def with_hidden_drains(servers, drained):
    """`show stat` names a drained server DRAIN only while its checks pass; one that is DOWN (its container being
    replaced) shows plain DOWN. Name the drain there too, e.g. "DRAIN (DOWN 1/2)", so that the admin state read
    from a status is the real one (an enable must set such a server ready, not take it for ready already)."""
    for key, entry in servers.items():
        if key in drained and admin_state(entry["status"]) == READY:
            entry["status"] = "DRAIN (%s)" % entry["status"]
    return servers


def reconcile_target(healthy):
    """Reconcile: a backend whose container answers /ready takes traffic; any other is kept in maint, never drain."""
    return READY if healthy else MAINT


def parse_map(text):
    """`show map <file>` -> {key: value} ("<reference> <key> <value>" a line); None when HAProxy has no such map (the
    running configuration does not use the file)."""
    if text.startswith("Unknown map identifier"):
        return None
    entries = {}
    for line in text.splitlines():
        words = line.split(None, 2)
        if len(words) == 3 and words[0].startswith("0x"):
            entries[words[1]] = words[2]
    return entries


def new_map_version(answer):
    """The version `prepare map` created ("New version created: 3")."""
    words = answer.strip().rsplit(":", 1)
    if not answer.startswith("New version created") or len(words) != 2 or not words[1].strip().isdigit():
        raise RuntimeApiError("unexpected answer to 'prepare map': %r" % answer[:200])
    return int(words[1])


class RuntimeApiUnavailable(RuntimeApiError):
    """Nothing answered on the stats socket (HAProxy stopped, or stopping); .reason is the socket's error."""

    def __init__(self, message, reason):
        super(RuntimeApiUnavailable, self).__init__(message)
        self.reason = reason


class RuntimeApi:
    """The stats socket for the module: one command per connection, refusals raised as RuntimeApiError, a socket
    nothing answers on as RuntimeApiUnavailable."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout

    def command(self, line):
        try:
            answer = runtime_command(self.path, line, self.timeout, encoding="ascii")
        except SocketError as error:
            raise RuntimeApiUnavailable("HAProxy stats socket %s: %s (is HAProxy running, with 'stats socket %s level "
                                        "admin'?)" % (self.path, error.reason, self.path), error.reason)
        if answer.strip() and not line.startswith("show") and "No such" in answer:
            raise RuntimeApiError("HAProxy refused %r: %s" % (line, answer.strip()))
        return answer

    def stat(self):
        servers = parse_stat(self.command("show stat"))
        return with_hidden_drains(servers, drained_servers(self.command("show servers state")))

    def set_state(self, server, admin, current=READY):
        self.command(state_command(server, admin, current))

    def show_map(self, path):
        """The map's entries {key: value}, or None when the running configuration does not use the file."""
        return parse_map(self.command("show map %s" % path))

    def replace_map(self, path, entries):
        """Replace the map's entries at once: a new version is filled, then committed, so that every request sees
        either all the old entries or all the new ones (HAProxy 2.4 and later)."""
        version = new_map_version(self.command("prepare map %s" % path))
        for key, value in sorted(entries.items()):
            self._silent("add map @%d %s %s %s" % (version, path, key, value))
        self._silent("commit map @%d %s" % (version, path))

    def _silent(self, line):
        """A command that answers nothing when it succeeds."""
        answer = self.command(line).strip()
        if answer:
            # the command's first words only: its key is a client key's hash
            raise RuntimeApiError("HAProxy refused %r: %s" % (" ".join(line.split(" ", 3)[:3]), answer[:200]))

    def shutdown_sessions(self, server, websocket=False):
        """Shut down the server's sessions, and with websocket those of its twin in <backend>_ws."""
        self.command("shutdown sessions server %s" % server_ref(server))
        if websocket:
            twin = dict(server, backend=server["backend"] + WEBSOCKET_BACKEND_SUFFIX)
            self.command("shutdown sessions server %s" % server_ref(twin))


# ------------------------------------------------------------- the state helper's view (the script)

def _split_address(text):
    """'10.0.0.1:5000', 'ipv4@10.0.0.1:5000', 'ipv6@::1:5000', '[::1]:5000', 'name:5000' -> (address, port)."""
    for prefix in ("ipv4@", "ipv6@"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if text.startswith("["):
        address, _sep, rest = text[1:].partition("]")
        return address, rest.lstrip(":") or None
    if ":" not in text:
        return text, None
    address, _sep, port = text.rpartition(":")
    return address, port


def configured_servers(config_text):
    """{(backend, server): (address, port)} from the backend and listen sections of a configuration.

    Only what the role writes needs to be understood (one "server <name> <address>:<port> ..." line
    per server); anything else is ignored and the state of a server not found here is kept."""
    servers = {}
    section = None
    for raw in config_text.splitlines():
        line = raw.split("#", 1)[0]
        words = line.split()
        if not words:
            continue
        if not raw[:1].isspace() and words[0] in SECTION_KEYWORDS:
            section = words[1] if words[0] in ("backend", "listen") and len(words) > 1 else None
            continue
        if section is not None and words[0] == "server" and len(words) >= 3:
            servers[(section, words[1])] = _split_address(words[2])
    return servers


def _is_ip(address):
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def filter_state(dump, servers):
    """Return (text to write, names of the servers left out because their address or port moved)."""
    lines = dump.splitlines()
    if not lines or lines[0].strip() != STATE_FORMAT or len(lines) < 2 or not lines[1].startswith("#"):
        raise RuntimeApiError("unexpected answer to 'show servers state': %r" % dump[:200])
    fields = lines[1].lstrip("#").split()
    try:
        be_name, srv_name, srv_addr, srv_port = (fields.index(name) for name in
                                                 ("be_name", "srv_name", "srv_addr", "srv_port"))
    except ValueError:
        raise RuntimeApiError("unexpected 'show servers state' header: %r" % lines[1])
    kept, dropped = lines[:2], []
    for line in lines[2:]:
        values = line.split()
        if not values or line.startswith("#") or len(values) <= max(be_name, srv_name, srv_addr, srv_port):
            kept.append(line)
            continue
        configured = servers.get((values[be_name], values[srv_name]))
        if configured is not None:
            address, port = configured
            moved_port = port is not None and port != values[srv_port]
            # A name resolved at startup is compared by port only: its address may legitimately differ.
            moved_address = _is_ip(address) and _is_ip(values[srv_addr]) and \
                ipaddress.ip_address(address) != ipaddress.ip_address(values[srv_addr])
            if moved_port or moved_address:
                dropped.append("%s/%s" % (values[be_name], values[srv_name]))
                continue
        kept.append(line)
    return "\n".join(kept) + "\n", dropped


def write_atomically(path, text):
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=folder)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def runtime_stats(path, timeout):
    """(proxies: {(name, 'FRONTEND'|'BACKEND')}, servers: [{backend, server, status, check_status, address}])."""
    header, records = stat_records(runtime_command(path, "show stat", timeout))
    if "pxname" not in header:
        raise RuntimeApiError("unexpected answer to 'show stat'")
    proxies, servers = set(), []
    for record in records:
        if record.get("svname") in ("FRONTEND", "BACKEND"):
            proxies.add((record["pxname"], record["svname"]))
            continue
        servers.append({"backend": record["pxname"], "server": record["svname"], "status": record.get("status", ""),
                        "check_status": record.get("check_status", ""), "address": record.get("addr", "")})
    return proxies, servers


def _config_differences(expected, proxies, servers):
    """What the running worker lacks or has in excess compared to the expected services
    ({service: {backends: [{container}]}}: frontend fe_<service>, backend <service>, one server per container)."""
    differences = []
    running = {}
    for item in servers:
        running.setdefault(item["backend"], set()).add(item["server"])
    frontends = {name for name, kind in proxies if kind == "FRONTEND" and name.startswith("fe_")}
    backends = {name for name, kind in proxies if kind == "BACKEND"}
    for name, service in sorted(expected.items()):
        if "fe_" + name not in frontends:
            differences.append("frontend fe_%s missing" % name)
        if name not in backends:
            differences.append("backend %s missing" % name)
            continue
        want = {backend["container"] for backend in service.get("backends") or []}
        have = running.get(name, set())
        differences.extend("server %s/%s missing" % (name, server) for server in sorted(want - have))
        differences.extend("server %s/%s not planned" % (name, server) for server in sorted(have - want))
    differences.extend("frontend %s not planned" % name for name in sorted(frontends - {"fe_" + n for n in expected}))
    return differences


# ---------------------------------------------------------------------------------- the script

CLI_NAME = "haproxy_state"
CLI_DESCRIPTION = "HAProxy runtime state helper installed by the speechops.speech.loadbalancer role."


def cli_save(args):
    try:
        dump = runtime_command(args.socket, "show servers state", args.timeout)
    except NoListener as exc:
        # Nothing serves the socket (first start, a socket path just changed, a stale file): no runtime
        # state can be read, and an old file must not bring back old drains.
        if os.path.exists(args.state_file):
            os.unlink(args.state_file)
        sys.stderr.write("%s: no runtime state to keep; removed any old %s\n" % (exc, args.state_file))
        return 0
    servers = {}
    if args.config:
        with open(args.config) as stream:
            servers = configured_servers(stream.read())
    text, dropped = filter_state(dump, servers)
    write_atomically(args.state_file, text)
    count = len([line for line in text.splitlines()[2:] if line and not line.startswith("#")])
    message = "saved the state of %d servers to %s" % (count, args.state_file)
    if dropped:
        message += "; left out (address or port changed in %s): %s" % (args.config, ", ".join(dropped))
    sys.stderr.write(message + "\n")
    return 0


def cli_wait(args):
    expected = None
    if args.expect_services:
        source = sys.stdin if args.expect_services == "-" else open(args.expect_services)
        with source:
            expected = json.load(source)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            proxies, servers = runtime_stats(args.socket, min(args.timeout, 10.0))
            pending = _config_differences(expected, proxies, servers) if expected is not None else []
            pending.extend("server %s/%s not checked yet" % (item["backend"], item["server"])
                           for item in servers if item["check_status"].lstrip("* ") == "INI")
        except RuntimeApiError as exc:
            servers, pending = [], [str(exc)]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    summary = ["%s/%s %s %s%s" % (item["backend"], item["server"], item["address"], item["status"],
                                  " (%s)" % item["check_status"] if item["check_status"] else "")
               for item in servers]
    sys.stdout.write(json.dumps({"summary": summary, "pending": pending, "servers": servers}, indent=1) + "\n")
    return 1 if pending else 0


def cli_command(args):
    sys.stdout.write(runtime_command(args.socket, " ".join(args.words), args.timeout))
    return 0


def main(argv=None):
    """The state helper's command line (see the module docstring); returns the exit code."""
    parser = argparse.ArgumentParser(description=CLI_DESCRIPTION)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (socket I/O; for wait: the whole wait)")
    sub = parser.add_subparsers(dest="action")
    sub.required = True
    saving = sub.add_parser("save", help="dump 'show servers state' into the server-state file")
    saving.add_argument("--socket", required=True)
    saving.add_argument("--state-file", required=True)
    saving.add_argument("--config", help="the configuration about to be loaded")
    saving.set_defaults(func=cli_save)
    waiting = sub.add_parser("wait", help="wait for every server's first health check")
    waiting.add_argument("--socket", required=True)
    waiting.add_argument("--expect-services", help="JSON file ('-': stdin) of the plan's services: wait until the "
                         "running worker has exactly their frontends, backends and servers")
    waiting.set_defaults(func=cli_wait)
    sending = sub.add_parser("cmd", help="send one runtime API command")
    sending.add_argument("--socket", required=True)
    sending.add_argument("words", nargs="+")
    sending.set_defaults(func=cli_command)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeApiError, OSError) as exc:
        sys.stderr.write("%s %s: %s\n" % (CLI_NAME, args.action, exc))
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
