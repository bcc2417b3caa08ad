# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The end state of a sandbox fleet as the clients and the containers see it, for comparing two playbooks.

What both must agree on: on each speech host, every speech container's image, published port, CPU and memory
limits, restart policy, security options, running state and its Eula, Billing and ApiKey (compared by hash); the
Docker daemon's settings and the GStreamer tools; on each load balancer, every frontend port that listens and
the distinct sets of servers (address and port) behind them. Names, labels and files of their own may differ.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

CONTAINER_ENV = ("Eula", "Billing", "ApiKey")
SERVERS_STATE = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
                 " s.sendall(b'show servers state\\n'); print(s.makefile().read())")


def on_host(host, *command):
    return subprocess.run(["docker", "exec", host, *command], capture_output=True, text=True, check=True).stdout


def digest(value):
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def container_state(inspect):
    config, host_config = inspect["Config"], inspect["HostConfig"]
    env = dict(entry.split("=", 1) for entry in config["Env"])
    return {
        "image": config["Image"],
        "running": inspect["State"]["Running"],
        "ports": sorted("%s:%s->%s" % (binding["HostIp"], binding["HostPort"], port)
                        for port, bindings in (host_config["PortBindings"] or {}).items() for binding in bindings),
        "nano_cpus": host_config["NanoCpus"],
        "memory": host_config["Memory"],
        "restart": host_config["RestartPolicy"]["Name"],
        "security_opt": sorted(host_config["SecurityOpt"] or []),
        "env": {name: digest(env.get(name, "")) for name in CONTAINER_ENV},
    }


def speech_host_state(host):
    names = on_host(host, "docker", "ps", "-a", "--filter", "name=^speech-", "--format", "{{.Names}}").split()
    containers = {}
    if names:
        for inspect in json.loads(on_host(host, "docker", "inspect", *names)):
            containers[inspect["Name"].lstrip("/")] = container_state(inspect)
    return {
        "containers": containers,
        "daemon": json.loads(on_host(host, "cat", "/etc/docker/daemon.json")),
        "gst_launch": bool(on_host(host, "sh", "-c", "command -v gst-launch-1.0 || true").strip()),
    }


def load_balancer_state(host):
    backends = {}
    for line in on_host(host, "python3", "-c", SERVERS_STATE).splitlines()[2:]:
        fields = line.split()
        if len(fields) > 19:  # be_id be_name srv_id srv_name srv_addr ... srv_port (field 18)
            backends.setdefault(fields[1], []).append("%s:%s" % (fields[4], fields[18]))
    listening = [line.split()[3] for line in on_host(host, "ss", "-Hltn").split("\n") if line.strip()]
    # what clients reach: not a port bound to the loopback (ours: the HAProxy stats page on 127.0.0.1:8404)
    ports = sorted({int(address.rsplit(":", 1)[1]) for address in listening if not address.startswith(("127.", "[::1]"))})
    return {
        # a service may have more than one backend with the same servers (ours: WebSocket TTS apart from REST)
        "servers": sorted({tuple(sorted(servers)) for servers in backends.values()}),
        "frontend_ports": [port for port in ports if 8000 <= port < 9000],
    }


def fleet_state(speech_hosts, load_balancers):
    return {
        "speech_hosts": {host: speech_host_state(host) for host in speech_hosts},
        "load_balancers": {host: load_balancer_state(host) for host in load_balancers},
    }


def differences(ours, peer, path=""):
    """Every path where the two states differ, as 'path: ours != peer' lines."""
    if isinstance(ours, dict) and isinstance(peer, dict):
        lines = []
        for key in sorted(set(ours) | set(peer)):
            lines += differences(ours.get(key), peer.get(key), "%s/%s" % (path, key))
        return lines
    return [] if ours == peer else ["%s: %r != %r" % (path or "/", ours, peer)]
