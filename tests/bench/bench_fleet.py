# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet benchmark: wall time of site.yml and rollout.yml on a sandbox fleet, against a shell baseline.

For each fleet size (3 and 6 speech hosts and one load balancer by default) it builds a bench sandbox
(`speechops-bench-*`, 172.31.215.0/24; images come from its registry), then times:

  (a) converge  site.yml on new hosts: Docker, GStreamer, HAProxy and every container
  (b) no-op     site.yml again, nothing to change (best of --noop-runs; the recap must say changed=0)
  (c) rollout   rollout.yml with one service (tts-aria, 2 replicas) moved to another version

and the same container work done by tests/bench/baseline.sh with docker commands (docker exec into
the hosts, every host in parallel): the physical floor. (a)'s floor covers the containers only (pull,
run, wait for /ready), not the installs. Also times tests/bench/ansible_floor.yml, one ping per host:
what any playbook that looks at its hosts costs. Prints one table with the ratios and the per-host cost
of the no-op run as the fleet grows. Targets: (b) on 3 hosts under 30 s and within 3x its floor.

Usage: python tests/bench/bench_fleet.py [--hosts 3,6] [--noop-runs 2] [--json FILE] [--keep]
Needs `make setup` and a Docker engine (sandbox/engine.sh); removes its sandbox afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
BASELINE = PROJECT / "tests" / "bench" / "baseline.sh"
ANSIBLE_FLOOR = PROJECT / "tests" / "bench" / "ansible_floor.yml"
SANDBOX_GROUP_VARS = PROJECT / "inventories" / "sandbox" / "group_vars"
PREFIX = "speechops-bench"
SANDBOX_ENV = {
    "SANDBOX_PREFIX": PREFIX,
    "SANDBOX_SUBNET": "172.31.215.0/24",
    "REGISTRY_LOCAL_PORT": "127.0.0.1:5445",
    "SANDBOX_BILLING": "http://172.31.215.3:5001/",
    "SANDBOX_LBS": "1",
}
ROLLOUT_SERVICE = "tts-aria"
ROLLOUT_VERSIONS = ("4.1.0", "4.0.0")  # the sandbox's version, and the one rollout.yml moves to (the emulator's 4.2.0 never gets ready)
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


def timed(command, env, what):
    started = time.monotonic()
    result = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        log = Path(tempfile.gettempdir()) / "speechops-bench-failed.log"
        log.write_text(result.stdout + result.stderr)
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit("bench: %s failed (rc %d); its whole output is in %s" % (what, result.returncode, log))
    return seconds, result.stdout


def sandbox(action, env):
    subprocess.run(["bash", "sandbox/sandbox.sh", action], cwd=PROJECT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def speech_hosts(hosts):
    return ["%s-host%d" % (PREFIX, number) for number in range(1, hosts + 1)]


def run_playbook(inventory, artifacts, playbook, env, what, extra_vars_file=None):
    command = ["ansible-playbook", "-i", str(inventory), "-e", "speech_artifacts_dir=%s" % artifacts]
    if extra_vars_file:
        command += ["-e", "@%s" % extra_vars_file]
    return timed(command + [playbook], env, what)


def changed_hosts(output):
    return sorted(host for host, changed in RECAP.findall(output) if int(changed))


def note(result, key):
    print("bench: hosts=%d %s=%.1f s" % (result["hosts"], key, result[key]), flush=True)


def bench_fleet(hosts, noop_runs, workdir):
    env = environment(SANDBOX_HOSTS=str(hosts))
    inventory = workdir / ("inventory-%d" % hosts)
    inventory.mkdir()
    (inventory / "group_vars").symlink_to(SANDBOX_GROUP_VARS)
    (inventory / "bench.docker.yml").write_text(yaml.safe_dump(INVENTORY_PLUGIN, sort_keys=False))
    artifacts = workdir / ("artifacts-%d" % hosts)
    names = speech_hosts(hosts)
    result = {"hosts": hosts}

    sandbox("down", env)
    sandbox("up", env)
    result["converge"] = run_playbook(inventory, artifacts, "site.yml", env, "site.yml (first converge)")[0]
    note(result, "converge")
    noops = []
    for number in range(noop_runs):
        seconds, output = run_playbook(inventory, artifacts, "site.yml", env, "site.yml (no-op %d)" % (number + 1))
        if changed_hosts(output):
            raise SystemExit("bench: the no-op site.yml changed %s" % ", ".join(changed_hosts(output)))
        noops.append(seconds)
    result["noop"] = min(noops)
    note(result, "noop")
    result["ansible_floor"] = min(run_playbook(inventory, artifacts, str(ANSIBLE_FLOOR), env, "ansible floor")[0]
                                  for run in range(noop_runs))
    note(result, "ansible_floor")

    services = yaml.safe_load((SANDBOX_GROUP_VARS / "all" / "services.yml").read_text())["speech_services"]
    for service in services:
        if service["name"] == ROLLOUT_SERVICE:
            service["version"] = ROLLOUT_VERSIONS[1]
    extra_vars = workdir / ("rollout-%d.yml" % hosts)
    extra_vars.write_text(yaml.safe_dump({"speech_services": services}))
    result["rollout"] = run_playbook(inventory, artifacts, "playbooks/rollout.yml", env, "rollout.yml",
                                     extra_vars_file=extra_vars)[0]
    note(result, "rollout")

    baseline = ["bash", str(BASELINE)]
    result["noop_floor"] = min(timed(baseline + ["noop"] + names, env, "baseline noop")[0] for run in range(noop_runs))
    note(result, "noop_floor")
    plan = json.loads((artifacts / "speech-plan.json").read_text())
    rolled = [container for host in plan["hosts"].values() for container in host["containers"]
              if container["service"] == ROLLOUT_SERVICE]
    back = rolled[0]["image"].replace(ROLLOUT_VERSIONS[1], ROLLOUT_VERSIONS[0])
    rollout_hosts = [host for host in names if any(container["service"] == ROLLOUT_SERVICE
                                                   for container in plan["hosts"][host]["containers"])]
    result["rollout_floor"] = timed(baseline + ["rollout", ROLLOUT_SERVICE, back] + rollout_hosts, env,
                                    "baseline rollout")[0]
    note(result, "rollout_floor")

    for host in names:  # the floor of a first converge starts without containers or images
        subprocess.run(["docker", "exec", host, "sh", "-c",
                        "docker rm -f $(docker ps -aq --filter name=^speech-) >/dev/null 2>&1;"
                        " docker image prune -af >/dev/null"], check=True)
    result["converge_floor"] = timed(baseline + ["converge"] + names, env, "baseline converge")[0]
    note(result, "converge_floor")
    return result


def report(results):
    lines = ["| hosts | run | ansible s | shell floor s | ratio |", "| --- | --- | --- | --- | --- |"]
    for result in results:
        for run in ("converge", "noop", "rollout"):
            ansible, floor = result[run], result[run + "_floor"]
            lines.append("| %d | %s | %.1f | %.1f | %.1fx |" % (result["hosts"], run, ansible, floor, ansible / floor))
    for result in results:
        lines.append("ansible-playbook with one ping per host, %d hosts: %.1f s (the no-op is %.1fx that)" % (
            result["hosts"], result["ansible_floor"], result["noop"] / result["ansible_floor"]))
    for result in results:
        lines.append("no-op per host, %d hosts: %.1f s (floor %.1f s)" % (
            result["hosts"], result["noop"] / result["hosts"], result["noop_floor"] / result["hosts"]))
    if len(results) > 1:
        first, last = results[0], results[-1]
        added = last["hosts"] - first["hosts"]
        lines.append("no-op cost of each host added from %d to %d: %.1f s (floor %.1f s)" % (
            first["hosts"], last["hosts"], (last["noop"] - first["noop"]) / added,
            (last["noop_floor"] - first["noop_floor"]) / added))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="3,6", help="fleet sizes, comma-separated (default 3,6)")
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
