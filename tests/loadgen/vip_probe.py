# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who holds the load balancers' VIP, and how long it went unanswered: for the failover tests and benchmark.

    prober = VipProber(vip, port).start()       # a new connection and GET /ready through the VIP every 50 ms
    ...
    prober.outage(since)                          # the longest run of failed probes after `since` (time.time())
"""
from __future__ import annotations

import socket
import subprocess
import threading
import time


def vip_holder(load_balancers, vip):
    """The load-balancer container that has the VIP on eth0, or None."""
    for container in load_balancers:
        addresses = subprocess.run(["docker", "exec", container, "ip", "-4", "-o", "addr", "show", "dev", "eth0"],
                                   capture_output=True, text=True, check=False).stdout
        if " %s/" % vip in addresses:
            return container
    return None


class VipProber(threading.Thread):
    """A new TCP connection and GET /ready through the VIP every 50 ms; keeps each probe's time and outcome."""

    def __init__(self, vip, port, interval=0.05, timeout=2.0):
        super().__init__(daemon=True)
        self.address = (vip, port)
        self.interval = interval
        self.timeout = timeout  # a /ready that waits in HAProxy's queue under load is late, not missing
        self.probes = []
        self.done = threading.Event()

    def probe(self):
        try:
            with socket.create_connection(self.address, timeout=self.timeout) as client:
                client.settimeout(self.timeout)
                client.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
                return client.recv(64).startswith(b"HTTP/1.0 200")
        except OSError:
            return False

    def start(self):
        super().start()
        return self

    def run(self):
        while not self.done.is_set():
            self.probes.append((time.time(), self.probe()))
            self.done.wait(self.interval)

    def stop(self):
        self.done.set()
        self.join(5)

    def outages(self, since):
        """Every run of failed probes after `since`: [(seconds after since, seconds long)], from its first failed
        probe to the next good one (a run still going lasts up to the last probe)."""
        runs, start, moment = [], None, since
        for moment, ok in list(self.probes):
            if moment < since:
                continue
            if not ok and start is None:
                start = moment
            elif ok and start is not None:
                runs.append((round(start - since, 2), round(moment - start, 2)))
                start = None
        if start is not None:
            runs.append((round(start - since, 2), round(moment - start, 2)))
        return runs

    def outage(self, since):
        """The longest run of failed probes after `since`, in seconds."""
        return max((length for _start, length in self.outages(since)), default=0.0)
