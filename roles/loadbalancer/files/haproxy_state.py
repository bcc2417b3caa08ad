# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HAProxy runtime state helper installed by the speechops.speech.loadbalancer role.

Run with an explicit interpreter (python3, standard library only):

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

STATE_FORMAT = "1"
SECTION_KEYWORDS = ("global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist",
                    "mailers", "program", "http-errors", "ring", "cache", "fcgi-app", "crt-store", "traces")


class RuntimeApiError(Exception):
    pass


class NoListener(RuntimeApiError):
    """The socket file is missing or nothing listens on it."""


def runtime_command(path, command, timeout=10.0):
    """One command over the stats socket (non-interactive: HAProxy answers and closes)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NoListener("%s: %s" % (path, exc))
        sock.sendall(command.encode("utf-8") + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except (OSError, socket.timeout) as exc:
        raise RuntimeApiError("%s: %s" % (path, exc))
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


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


def save(args):
    try:
        dump = runtime_command(args.socket, "show servers state", args.timeout)
    except NoListener as exc:
        # Nothing serves the socket (first start, a socket path just changed, a stale file): no runtime
        # state can be read, and an old file must not bring back old drains.
        if os.path.exists(args.state_file):
            os.unlink(args.state_file)
        print("%s: no runtime state to keep; removed any old %s" % (exc, args.state_file), file=sys.stderr)
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
    print(message, file=sys.stderr)
    return 0


def runtime_stats(path, timeout):
    """(proxies: {(name, 'FRONTEND'|'BACKEND')}, servers: [{backend, server, status, check_status, address}])."""
    rows = csv.reader(runtime_command(path, "show stat", timeout).lstrip("# ").splitlines())
    header = next(rows, None)
    if not header or "pxname" not in header:
        raise RuntimeApiError("unexpected answer to 'show stat'")
    proxies, servers = set(), []
    for row in rows:
        if not row:
            continue
        record = dict(zip(header, row))
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


def wait(args):
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
    print(json.dumps({"summary": summary, "pending": pending, "servers": servers}, indent=1))
    return 1 if pending else 0


def command(args):
    sys.stdout.write(runtime_command(args.socket, " ".join(args.words), args.timeout))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (socket I/O; for wait: the whole wait)")
    sub = parser.add_subparsers(dest="action")
    sub.required = True
    saving = sub.add_parser("save", help="dump 'show servers state' into the server-state file")
    saving.add_argument("--socket", required=True)
    saving.add_argument("--state-file", required=True)
    saving.add_argument("--config", help="the configuration about to be loaded")
    saving.set_defaults(func=save)
    waiting = sub.add_parser("wait", help="wait for every server's first health check")
    waiting.add_argument("--socket", required=True)
    waiting.add_argument("--expect-services", help="JSON file ('-': stdin) of the plan's services: wait until the "
                         "running worker has exactly their frontends, backends and servers")
    waiting.set_defaults(func=wait)
    sending = sub.add_parser("cmd", help="send one runtime API command")
    sending.add_argument("--socket", required=True)
    sending.add_argument("words", nargs="+")
    sending.set_defaults(func=command)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeApiError, OSError) as exc:
        print("haproxy_state %s: %s" % (args.action, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
