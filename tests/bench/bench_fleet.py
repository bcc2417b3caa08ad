# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet benchmark: site.yml and its peer, the playbook an operator writes with community.docker, side by side.

For each fleet size (3, 6 and 12 speech hosts and one load balancer by default; the sandbox's services with
their replicas scaled to the fleet, 6 containers per 3 hosts) it builds a bench sandbox (`speechops-bench-*`,
172.31.215.0/24; images from its registry) and times, first with this collection:

  converge  site.yml on new hosts: Docker, GStreamer, HAProxy and every container
  noop      site.yml again, nothing to change (best of --noop-runs; the recap must say changed=0)
  rollout   playbooks/rollout.yml with one service (tts-aria) moved to another version
  rotation  playbooks/rotate_keys.yml to the secondary key

then, on a new sandbox of the same size, the same four runs of tests/bench/peer/site.yml (the placement given
as the plan site.yml wrote). The peer's end state after its converge must match ours (tests/bench/fleet_state.py:
the containers, the Docker daemon, the load balancers' frontends and servers), or the benchmark fails.
floor_s is tests/bench/ansible_floor.yml, one ping per host: what any playbook that looks at its hosts costs.

Prints one line per size and run, `fleet hosts=H run=R ours_s=… peer_s=… floor_s=… ours/peer=… ours/floor=…`,
then the scaling of each run from the first size to the others.

Usage: python tests/bench/bench_fleet.py [--hosts 3,6,12] [--noop-runs 2] [--json FILE] [--keep]
Needs `make setup` and a Docker engine (sandbox/engine.sh); removes its sandbox afterwards. About an hour.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_state import differences, fleet_state  # noqa: E402  pylint: disable=wrong-import-position

PROJECT = Path(__file__).resolve().parents[2]
PEER = PROJECT / "tests" / "bench" / "peer" / "site.yml"
ANSIBLE_FLOOR = PROJECT / "tests" / "bench" / "ansible_floor.yml"
SANDBOX_GROUP_VARS = PROJECT / "inventories" / "sandbox" / "group_vars"
PREFIX = "speechops-bench"
SANDBOX_ENV = {
    "SANDBOX_PREFIX": PREFIX,
    "SANDBOX_NETWORK": PREFIX + "-net",
    "SANDBOX_SUBNET": "172.31.215.0/24",
    "REGISTRY_LOCAL_PORT": "127.0.0.1:5445",
    "SANDBOX_BILLING": "http://172.31.215.3:5001/",
    "SANDBOX_LBS": "1",
}
BASE_HOSTS = 3  # the sandbox's services.yml is sized for 3 hosts
ROLLOUT_SERVICE = "tts-aria"
ROLLOUT_VERSION = "4.0.0"  # the sandbox runs 4.1.0 (the emulator's 4.2.0 never gets ready)
RUNS = ("converge", "noop", "rollout", "rotation")
INVENTORY_PLUGIN = {
    "plugin": "community.docker.docker_containers",
    "connection_type": "docker-cli",
    "filters": [
        {"include": "docker_state.Running and docker_config.Labels.get('speechops.sandbox') == '%s'"
                    " and docker_config.Labels.get('speechops.sandbox.role') in ['speech_host', 'speech_lb']" % PREFIX},
        {"exclude": True},
    ],
    "groups": {
        "speech_hosts": "docker_config.Labels.get('speechops.sandbox.role') == 'speech_host'",
        "speech_lb": "docker_config.Labels.get('speechops.sandbox.role') == 'speech_lb'",
    },
}
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", re.MULTILINE)


def environment(**extra):
    env = dict(os.environ, **SANDBOX_ENV, **extra)
    env.setdefault("SANDBOX_STATE", str(PROJECT / ".sandbox"))
    env.update(ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_VAULT_PASSWORD_FILE=str(Path(env["SANDBOX_STATE"]) / "vault-password"))
    env["PATH"] = "%s:%s" % (PROJECT / ".venv" / "bin", env["PATH"])
    return env


def controller_cpu():
    """CPU seconds of every finished child process: ansible-playbook, its workers and the connections they ran."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command, env, what):
    started, cpu_before = time.monotonic(), controller_cpu()
    result = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    seconds, cpu = time.monotonic() - started, controller_cpu() - cpu_before
    if result.returncode != 0:
        log = Path(tempfile.gettempdir()) / "speechops-bench-failed.log"
        log.write_text(result.stdout + result.stderr)
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit("bench: %s failed (rc %d); its whole output is in %s" % (what, result.returncode, log))
    print("bench: %s %.1f s (controller CPU %.1f s)" % (what, seconds, cpu), flush=True)
    return seconds, result.stdout


def sandbox(action, env):
    subprocess.run(["bash", "sandbox/sandbox.sh", action], cwd=PROJECT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def scaled_services(hosts, version=None):
    services = yaml.safe_load((SANDBOX_GROUP_VARS / "all" / "services.yml").read_text())["speech_services"]
    for service in services:
        service["replicas"] = max(1, math.ceil(service["replicas"] * hosts / BASE_HOSTS))
        if version and service["name"] == ROLLOUT_SERVICE:
            service["version"] = version
    return {"speech_services": services}


class Bench:
    """One fleet size: its sandbox, inventory and extra-vars files."""

    def __init__(self, hosts, workdir):
        self.hosts = hosts
        self.env = environment(SANDBOX_HOSTS=str(hosts))
        self.workdir = workdir / ("fleet-%d" % hosts)
        self.inventory = self.workdir / "inventory"
        self.inventory.mkdir(parents=True)
        (self.inventory / "group_vars").symlink_to(SANDBOX_GROUP_VARS)
        (self.inventory / "bench.docker.yml").write_text(yaml.safe_dump(INVENTORY_PLUGIN, sort_keys=False))
        self.artifacts = self.workdir / "artifacts"
        self.speech_hosts = ["%s-host%d" % (PREFIX, number) for number in range(1, hosts + 1)]
        self.load_balancers = ["%s-lb1" % PREFIX]

    def extra_vars(self, name, content):
        path = self.workdir / name
        path.write_text(json.dumps(content))
        return "@%s" % path

    def playbook(self, playbook, what, *extra_vars):
        command = ["ansible-playbook", "-i", str(self.inventory), "-e", "speech_artifacts_dir=%s" % self.artifacts]
        for extra in extra_vars:
            command += ["-e", extra]
        return timed(command + [str(playbook)], self.env, "hosts=%d %s" % (self.hosts, what))

    def noop(self, playbook, runs, who, *extra_vars):
        seconds = []
        for number in range(runs):
            run_seconds, output = self.playbook(playbook, "%s no-op %d" % (who, number + 1), *extra_vars)
            changed = sorted(host for host, count in RECAP.findall(output) if int(count))
            if changed:
                raise SystemExit("bench: %s's no-op changed %s" % (who, ", ".join(changed)))
            seconds.append(run_seconds)
        return min(seconds)

    def fresh_sandbox(self):
        sandbox("down", self.env)
        sandbox("up", self.env)

    def ours(self, noop_runs):
        services = self.extra_vars("services.json", scaled_services(self.hosts))
        rolled = self.extra_vars("services-rolled.json", scaled_services(self.hosts, ROLLOUT_VERSION))
        self.fresh_sandbox()
        times = {"converge": self.playbook("site.yml", "ours converge", services)[0]}
        state = fleet_state(self.speech_hosts, self.load_balancers)
        # the placement the peer is given: the converged one, not the rolled out one the artifacts hold at the end
        plan = json.loads((self.artifacts / "speech-plan.json").read_text())
        times["noop"] = self.noop("site.yml", noop_runs, "ours", services)
        times["floor"] = min(self.playbook(ANSIBLE_FLOOR, "ansible floor")[0] for run in range(noop_runs))
        times["rollout"] = self.playbook("playbooks/rollout.yml", "ours rollout", rolled)[0]
        times["rotation"] = self.playbook("playbooks/rotate_keys.yml", "ours rotation", rolled,
                                          "speech_api_key_in_use=secondary")[0]
        return times, state, plan

    def peer(self, plan, noop_runs):
        planned = self.extra_vars("peer-plan.json", {"peer_plan": plan})
        converged = sorted({container["image"] for host in plan["hosts"].values() for container in host["containers"]
                            if container["service"] == ROLLOUT_SERVICE})
        if any(":%s-" % ROLLOUT_VERSION in image for image in converged):
            raise SystemExit("bench: the peer's rollout would change nothing, it converges to %s" % ", ".join(converged))
        for host in plan["hosts"].values():
            for container in host["containers"]:
                if container["service"] == ROLLOUT_SERVICE:
                    container["image"] = re.sub(r":\d+\.\d+\.\d+-", ":%s-" % ROLLOUT_VERSION, container["image"])
        rolled = self.extra_vars("peer-plan-rolled.json", {"peer_plan": plan})
        self.fresh_sandbox()
        times = {"converge": self.playbook(PEER, "peer converge", planned)[0]}
        state = fleet_state(self.speech_hosts, self.load_balancers)
        times["noop"] = self.noop(PEER, noop_runs, "peer", planned)
        times["rollout"] = self.playbook(PEER, "peer rollout", rolled)[0]
        times["rotation"] = self.playbook(PEER, "peer rotation", rolled, "peer_key=secondary")[0]
        return times, state


def bench_fleet(hosts, noop_runs, workdir):
    bench = Bench(hosts, workdir)
    ours, our_state, plan = bench.ours(noop_runs)
    peer, peer_state = bench.peer(plan, noop_runs)
    mismatches = differences(our_state, peer_state)
    if mismatches:
        raise SystemExit("bench: the peer's end state differs from site.yml's:\n  " + "\n  ".join(mismatches[:40]))
    containers = sum(len(host["containers"]) for host in our_state["speech_hosts"].values())
    print("bench: hosts=%d the peer's end state matches ours (%d containers)" % (hosts, containers), flush=True)
    return {"hosts": hosts, "containers": containers, "ours": ours, "peer": peer}


def lines(result):
    floor = result["ours"]["floor"]
    for run in RUNS:
        ours, peer = result["ours"][run], result["peer"][run]
        yield ("fleet hosts=%d run=%s ours_s=%.1f peer_s=%.1f floor_s=%.1f ours/peer=%.2f ours/floor=%.1f"
               % (result["hosts"], run, ours, peer, floor, ours / peer, ours / floor))


def report(results):
    out = [line for result in results for line in lines(result)]
    first = results[0]
    for result in results[1:]:
        for run in RUNS:
            out.append("scaling run=%s hosts=%d/%d ours=%.2fx peer=%.2fx" % (
                run, result["hosts"], first["hosts"], result["ours"][run] / first["ours"][run],
                result["peer"][run] / first["peer"][run]))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="3,6,12", help="fleet sizes, comma-separated (default 3,6,12)")
    parser.add_argument("--noop-runs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="leave the last bench sandbox running")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="speechops-bench.") as workdir:
        try:
            for hosts in [int(size) for size in args.hosts.split(",")]:
                results.append(bench_fleet(hosts, args.noop_runs, Path(workdir)))
                print(report(results[-1:]), flush=True)
        finally:
            if not args.keep:
                sandbox("down", environment())
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
