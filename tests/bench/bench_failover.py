# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Failover of the load balancers' VIP under closed-loop Speech SDK load, on the demo fleet (`make demo`: two load
balancers behind the sandbox's VIP). Prints one line per event:

    failover event=<name> seconds_without_service=<s> failed=<n> sent=<n> holder_before=<lb> holder_after=<lb>

Events, each on the load balancer holding the VIP at the time: its HAProxy stopped (then started and reconciled by
playbooks/loadbalancer.yml), the whole host stopped at once (docker kill; then started and reconciled), and a
graceful maintenance (playbooks/loadbalancer.yml -e speech_lb_maintenance=<holder>; then brought back). Seconds
without service: the longest run of failed probes (a new TCP connection and GET /ready through the VIP every 50 ms).

    python tests/bench/bench_failover.py [--clients 2] [--settle 15]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "loadgen"))

from sdk_load import WEATHER, SdkLoad, Workload, synthesize_wav  # noqa: E402
from vip_probe import VipProber, vip_holder  # noqa: E402

STATE = Path(os.environ.get("SANDBOX_STATE", ROOT / ".sandbox"))


def sandbox_env():
    values = {}
    for line in (STATE / "sandbox.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def sh(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def playbook(*args):
    env = dict(os.environ, ANSIBLE_VAULT_PASSWORD_FILE=str(STATE / "vault-password"))
    run = subprocess.run(["ansible-playbook", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit("ansible-playbook %s failed:\n%s" % (" ".join(args), run.stdout[-3000:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2, help="closed-loop clients per workload")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds of load after each event")
    args = parser.parse_args()
    sandbox = sandbox_env()
    vip = sandbox.get("SANDBOX_LB_VIP")
    if not vip:
        raise SystemExit("the demo sandbox has no VIP: make demo brings two load balancers up with one")
    lbs = ["%s-lb%d" % (sandbox["SANDBOX_PREFIX"], index) for index in range(1, int(sandbox["SANDBOX_LBS"]) + 1)]
    catalog = json.loads((STATE / "artifacts" / "speech-endpoints.json").read_text())
    services = catalog["services"]
    tts = next(entry for entry in services.values() if entry["kind"] == "neural-text-to-speech")
    stt = next(entry for entry in services.values() if entry["kind"] == "speech-to-text")
    audio = synthesize_wav(tts["url"], "en-US-AriaNeural", WEATHER, Path("/tmp") / "speechops-failover.wav")
    prober = VipProber(vip, int(tts["url"].rsplit(":", 1)[1])).start()
    load = SdkLoad([Workload("tts", kind="tts_rest", url=tts["url"], clients=args.clients),
                    Workload("stt", kind="stt_once", url=stt["url"], clients=args.clients, audio=str(audio))]).start()
    if not load.wait_ready(60):
        raise SystemExit("the load never had an ok request: %s" % load.report()["failures"][:3])

    def event(name, act, restore):
        before = load.report()["totals"]
        first = vip_holder(lbs, vip)
        began = time.time()
        act(first)
        time.sleep(args.settle)
        after = load.report()["totals"]
        print("failover event=%s seconds_without_service=%s failed=%d sent=%d holder_before=%s holder_after=%s"
              % (name, prober.outage(began), after["failed"] - before["failed"], after["sent"] - before["sent"],
                 first, vip_holder(lbs, vip)), flush=True)
        restore(first)
        time.sleep(3)

    def bring_back(lb):
        playbook("playbooks/loadbalancer.yml")

    def start_host(lb):
        sh("docker", "start", lb)
        for _attempt in range(60):
            if sh("docker", "exec", lb, "systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded"):
                break
            time.sleep(1)
        playbook("playbooks/loadbalancer.yml")

    try:
        event("haproxy_stopped", lambda lb: sh("docker", "exec", lb, "systemctl", "stop", "haproxy"), bring_back)
        event("host_stopped", lambda lb: sh("docker", "kill", lb), start_host)
        event("graceful_maintenance", lambda lb: playbook("playbooks/loadbalancer.yml", "-e", "speech_lb_maintenance=" + lb),
              bring_back)
    finally:
        report = load.stop()
        prober.stop()
        print("failover totals sent=%d failed=%d by_reason=%s" % (
            report["totals"]["sent"], report["totals"]["failed"],
            {name: w["failed_by_reason"] for name, w in report["workloads"].items()}), flush=True)
        for failure in report["failures"][:20]:
            print("failover failure %s" % failure, flush=True)


if __name__ == "__main__":
    main()
