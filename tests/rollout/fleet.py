"""The Molecule rollout scenario's fleet as the tests see it: playbook runs, container state on the hosts,
the load balancer's server states, and a watcher that acts when a server reaches a state."""
from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
VARS = PROJECT / "molecule" / "rollout" / "vars"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# each playbook run's output, with the time of every task, is kept in tests/output/<LOG_FOLDER>/<n>-<playbook>.log
LOG_FOLDER = os.environ.get("FLEET_LOG_FOLDER", "rollout")
RUN_NUMBERS = itertools.count(1)
LB_PIDS = {}  # load balancer container -> its main process, whose /proc root holds the HAProxy admin socket


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"{name} is not set: run these tests through `molecule test -s rollout` (make molecule)")
    return value


@dataclass
class Run:
    rc: int
    output: str
    seconds: float

    def tail(self, lines=60):
        return "\n".join(self.output.splitlines()[-lines:])


def docker(*args, check=True, timeout=120):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def on_host(host, *command, check=True):
    return docker("exec", host, *command, check=check)


@dataclass
class Fleet:
    inventory: str
    artifacts: Path
    hosts: list = field(default_factory=lambda: [f"speechops-molro-host{i}" for i in (1, 2, 3)])
    lb: str = "speechops-molro-lb1"

    def playbook(self, playbook, *extra_vars, options=(), timeout=1200):
        """ansible-playbook with the scenario's inventory; extra_vars: 'k=v' strings or vars files (names in VARS, or
        paths); options: more command-line options, e.g. ("--check", "--diff")."""
        args = ["ansible-playbook", "--inventory", self.inventory, "-e", f"speech_artifacts_dir={self.artifacts}", *options]
        for extra in extra_vars:
            args += ["-e", f"@{VARS / extra}" if extra.endswith(".yml") else extra]
        args.append(str(PROJECT / playbook))
        environment = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="default",
                           ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
        started = time.time()
        result = subprocess.run(args, cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=timeout, check=False)
        run = Run(result.returncode, result.stdout + result.stderr, time.time() - started)
        log = PROJECT / "tests" / "output" / LOG_FOLDER / f"{next(RUN_NUMBERS):02d}-{Path(playbook).stem}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(args)}\n# rc {run.rc} in {run.seconds:.1f} s\n{run.output}")
        return run

    # ----- the load balancer ------------------------------------------------------------------

    @property
    def lb_address(self):
        networks = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", self.lb))
        return next(iter(networks.values()))["IPAddress"]

    def plan(self):
        return json.loads((self.artifacts / "speech-plan.json").read_text())

    def lb_url(self, service, scheme="http"):
        return f"{scheme}://{self.lb_address}:{self.plan()['services'][service]['lb_port']}"

    def _admin(self, commands):
        """The load balancer's HAProxy runtime API answer to commands. The load balancer is a container on this
        machine, so its admin socket is reached through /proc/<pid>/root, without a `docker exec` per call (the
        watchers call this five times a second)."""
        with socket.socket(socket.AF_UNIX) as admin:
            admin.settimeout(10)
            try:
                admin.connect(f"/proc/{LB_PIDS.get(self.lb)}/root/run/haproxy/admin.sock")
            except OSError:  # not looked up yet, or the load balancer's container started again
                LB_PIDS[self.lb] = docker("inspect", "--format", "{{.State.Pid}}", self.lb).strip()
                admin.connect(f"/proc/{LB_PIDS[self.lb]}/root/run/haproxy/admin.sock")
            admin.sendall(commands.encode())
            admin.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := admin.recv(65536):
                answer += chunk
        return answer.decode()

    def servers(self):
        """{(backend, server): status} from the load balancer's `show stat`."""
        text = self._admin("show stat\n").lstrip("# ")
        states = {}
        for line in text.splitlines()[1:]:
            cells = line.split(",")
            if len(cells) > 17 and cells[1] not in ("FRONTEND", "BACKEND") and cells[0] != "stats":
                states[(cells[0], cells[1])] = cells[17]
        return states

    def set_servers(self, servers, state):
        """Set (backend, server) pairs to `state` (ready, drain, maint) on the load balancer's runtime API."""
        self._admin("; ".join(f"set server {backend}/{server} state {state}" for backend, server in servers) + "\n")

    def all_up(self):
        return {server: status for server, status in self.servers().items() if status != "UP"} == {}

    def reload_lb(self):
        on_host(self.lb, "systemctl", "reload", "haproxy")

    # ----- the speech hosts -------------------------------------------------------------------

    def containers(self, host):
        """{name: {id, image, pid, env}} of the speech containers on a host (running or not)."""
        names = on_host(host, "docker", "ps", "-a", "--filter", "label=speechops.managed=true", "--format", "{{.Names}}",
                        check=False).split()
        if not names:
            return {}
        inspected = json.loads(on_host(host, "docker", "inspect", *names))
        return {item["Name"].lstrip("/"): {"id": item["Id"], "image": item["Config"]["Image"], "pid": item["State"]["Pid"],
                                           "running": item["State"]["Running"], "env": item["Config"]["Env"],
                                           "labels": item["Config"]["Labels"]} for item in inspected}

    def address(self, host):
        networks = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", host))
        return next(iter(networks.values()))["IPAddress"]

    def wait_systemd(self, host, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = subprocess.run(["docker", "exec", host, "systemctl", "is-system-running"], capture_output=True, text=True, check=False)
            if state.stdout.strip() in ("running", "degraded"):
                return
            time.sleep(1)
        raise AssertionError(f"{host}: systemd did not come back")


def get_json(url, timeout=5):
    with NO_PROXY.open(url, timeout=timeout) as answer:
        return json.loads(answer.read())


def post_json(url, body, timeout=5):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with NO_PROXY.open(request, timeout=timeout) as answer:
        return json.loads(answer.read())


class Watcher(threading.Thread):
    """Polls the load balancer's server states; calls act(states) until it returns True; records every state seen."""

    def __init__(self, fleet, act=None, interval=0.2):
        super().__init__(daemon=True)
        self.fleet, self.act, self.interval = fleet, act, interval
        self.done = threading.Event()
        self.acted = None
        self.seen = {}
        self.errors = []

    def run(self):
        while not self.done.is_set():
            try:
                states = self.fleet.servers()
            except Exception as error:  # the load balancer reloading: look again
                self.errors.append(str(error))
                time.sleep(self.interval)
                continue
            for server, status in states.items():
                self.seen.setdefault(server, set()).add(status)
            if self.act is not None and self.acted is None:
                outcome = self.act(states)
                if outcome:
                    self.acted = outcome
            time.sleep(self.interval)

    def stop(self):
        self.done.set()
        self.join(10)
