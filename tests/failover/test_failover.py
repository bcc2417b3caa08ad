# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Failover of the load balancers' VIP under load (Molecule scenario `failover`: two speech hosts, two load balancers).

The clients are the real Speech SDK (recognize_once) and closed-loop REST syntheses, at half each service's capacity
(what one of its two replicas takes alone while a rollout replaces the other), through the VIP. Each event strikes
the load balancer holding the VIP at the time. A VIP prober opens a new connection through the VIP every 50 ms:
"seconds without service" is its longest run of failures. Only requests that were in flight on the failed load
balancer, or sent before the VIP moved, may fail: no failure may end later than the outage plus SETTLE seconds, and a
graceful maintenance fails none. Every event adds its row to the failover table, printed at the end (FAILOVER lines)
and written to the scenario's artifacts.
"""
from __future__ import annotations

import datetime
import json
import re
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadgen"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rollout"))

from fleet import Fleet, docker, env, on_host  # noqa: E402
from sdk_load import WEATHER, SdkLoad, Workload, synthesize_wav  # noqa: E402
from vip_probe import VipProber, vip_holder  # noqa: E402

SCENARIO = Path(__file__).resolve().parents[2] / "molecule" / "failover"
SERVICES = str(SCENARIO / "vars" / "services.yml")
UPGRADE = str(SCENARIO / "vars" / "services-upgrade.yml")  # text to speech 4.0.0 -> 4.1.0
LBS = ["speechops-molfo-lb1", "speechops-molfo-lb2"]
HOSTS = ["speechops-molfo-host1", "speechops-molfo-host2"]
MARK = "/run/speechops/loadbalancer-reconciled"
MAX_OUTAGE = 3.0  # seconds: the bound for a host stop
SETTLE = 2.0  # seconds after the outage in which requests that were in flight may still end failed
TABLE = []


@pytest.fixture(scope="module")
def fleet():
    artifacts = Path(env("MOLECULE_EPHEMERAL_DIRECTORY")) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    fleet = Fleet(inventory=env("MOLECULE_INVENTORY_FILE"), artifacts=artifacts, hosts=HOSTS, lb=LBS[0])
    run = fleet.playbook("playbooks/plan.yml", SERVICES)  # the converge wrote the same artifacts there, with the health summary
    assert run.rc == 0, run.tail()
    yield fleet
    (artifacts / "failover-table.json").write_text(json.dumps(TABLE, indent=1))
    for row in TABLE:
        print("FAILOVER event=%(event)s seconds_without_service=%(outage)s failed=%(failed)d sent=%(sent)d "
              "holder_before=%(before)s holder_after=%(after)s" % row)


@pytest.fixture(scope="module")
def endpoints(fleet):
    return json.loads((fleet.artifacts / "speech-endpoints.json").read_text())["services"]


@pytest.fixture(scope="module")
def vip(endpoints):
    return re.match(r"^\w+://([0-9.]+):", endpoints["tts-aria"]["url"]).group(1)


@pytest.fixture(scope="module")
def audio(endpoints, tmp_path_factory):
    return synthesize_wav(endpoints["tts-aria"]["url"], "en-US-AriaNeural", WEATHER,
                          tmp_path_factory.mktemp("audio") / "weather.wav")


@pytest.fixture
def load(endpoints, vip, audio):
    """Both services at half their capacity through the VIP (what one replica takes while a rollout replaces the
    other), and the VIP prober, for one test."""
    workloads = [Workload("tts", kind="tts_rest", url=endpoints["tts-aria"]["url"],
                          clients=max(1, endpoints["tts-aria"]["capacity"] // 2)),
                 Workload("stt", kind="stt_once", url=endpoints["stt-en-us"]["url"],
                          clients=max(1, endpoints["stt-en-us"]["capacity"] // 2), audio=str(audio), expect=WEATHER)]
    generator = SdkLoad(workloads, grace=30, stop_timeout=60).start()
    prober = VipProber(vip, int(endpoints["tts-aria"]["url"].rsplit(":", 1)[1])).start()
    assert generator.wait_ready(60), generator.report()
    yield generator, prober
    prober.stop()
    report = generator.stop()
    assert report["stuck_clients"] == 0, report
    assert all(numbers["ok"] > 0 for numbers in report["workloads"].values()), report["workloads"]


def mark(lb):
    return on_host(lb, "cat", MARK, check=False).strip()


def wait_for_holder(vip, other_than, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        holder = vip_holder(LBS, vip)
        if holder and holder != other_than:
            return holder
        time.sleep(0.2)
    raise AssertionError("the VIP did not move away from %s within %d s" % (other_than, timeout))


def ended_at(failure):
    return datetime.datetime.fromisoformat(failure["time"]).timestamp()


def record(event, began, before, generator, prober, holder_before, holder_after):
    """The event's row: the outage, and the failures since it began (each must end within outage + SETTLE)."""
    time.sleep(SETTLE + 1)
    after = generator.report()
    outage = prober.outage(began)
    failures = [failure for failure in after["failures"] if ended_at(failure) >= began]
    row = {"event": event, "outage": outage, "failed": after["totals"]["failed"] - before["totals"]["failed"],
           "sent": after["totals"]["sent"] - before["totals"]["sent"], "before": holder_before, "after": holder_after,
           "last_failure_s": round(max((ended_at(failure) - began for failure in failures), default=0.0), 2),
           "outages": prober.outages(began)}
    TABLE.append(row)
    return row, failures


def test_site_on_the_converged_two_lb_fleet_changes_nothing(fleet):
    run = fleet.playbook("site.yml", SERVICES)
    assert run.rc == 0, run.tail()
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.output, re.M)
    assert {host for host, _changed in recap} >= set(LBS + HOSTS), recap
    assert all(changed == "0" for _host, changed in recap), recap


def test_graceful_maintenance_fails_no_request_and_the_load_balancer_comes_back(fleet, vip, load):
    generator, prober = load
    holder = vip_holder(LBS, vip)
    assert holder in LBS
    before, began = generator.report(), time.time()
    run = fleet.playbook("playbooks/loadbalancer.yml", SERVICES, f"speech_lb_maintenance={holder}",
                         "loadbalancer_maintenance_timeout=120")
    assert run.rc == 0, run.tail()
    # HAProxy stopped because its connections ended, not because systemd killed it at the timeout
    assert on_host(holder, "systemctl", "show", "haproxy", "-p", "Result").strip() == "Result=success"
    new_holder = vip_holder(LBS, vip)
    row, failures = record("graceful maintenance", began, before, generator, prober, holder, new_holder)
    assert new_holder not in (None, holder)
    assert on_host(holder, "systemctl", "is-active", "haproxy", check=False).strip() != "active"
    assert row["failed"] == 0 and row["outage"] == 0.0, (row, failures[:10])
    assert "speechops_handoff" not in on_host(new_holder, "nft", "list", "tables")

    run = fleet.playbook("playbooks/loadbalancer.yml", SERVICES)
    assert run.rc == 0, run.tail()
    assert on_host(holder, "systemctl", "is-active", "haproxy").strip() == "active"
    assert mark(holder) == "0"
    assert vip_holder(LBS, vip) == new_holder, "a load balancer that comes back must not take the VIP back"


def test_haproxy_stopped_on_the_holder_moves_the_vip_and_it_comes_back_only_reconciled(fleet, vip, load):
    generator, prober = load
    holder = vip_holder(LBS, vip)
    before, began = generator.report(), time.time()
    on_host(holder, "systemctl", "stop", "haproxy")
    new_holder = wait_for_holder(vip, holder)
    row, failures = record("HAProxy stopped on the holder", began, before, generator, prober, holder, new_holder)
    assert row["outage"] <= MAX_OUTAGE, row
    assert row["last_failure_s"] <= row["outage"] + SETTLE, (row, failures[-5:])

    on_host(holder, "systemctl", "start", "haproxy")
    time.sleep(3)
    assert mark(holder) == "1", "HAProxy's start must mark the load balancer as not reconciled"
    run = fleet.playbook("playbooks/loadbalancer.yml", SERVICES)
    assert run.rc == 0, run.tail()
    assert mark(holder) == "0"
    assert vip_holder(LBS, vip) == new_holder


def test_the_holder_stopped_whole_moves_the_vip_and_it_comes_back_only_reconciled(fleet, vip, load):
    generator, prober = load
    holder = vip_holder(LBS, vip)
    before, began = generator.report(), time.time()
    docker("kill", holder)
    new_holder = wait_for_holder(vip, holder)
    row, failures = record("the holder stopped at once (docker kill)", began, before, generator, prober, holder,
                           new_holder)
    assert row["outage"] <= MAX_OUTAGE, row
    assert row["last_failure_s"] <= row["outage"] + SETTLE, (row, failures[-5:])

    docker("start", holder)
    fleet.wait_systemd(holder)
    time.sleep(3)
    assert mark(holder) != "0", "after a boot the load balancer must not count as reconciled"
    assert vip_holder(LBS, vip) == new_holder
    run = fleet.playbook("playbooks/loadbalancer.yml", SERVICES)
    assert run.rc == 0, run.tail()
    assert mark(holder) == "0"
    assert vip_holder(LBS, vip) == new_holder


def test_a_rollout_goes_on_when_the_holder_loses_haproxy_midway(fleet, vip, load):
    generator, prober = load
    holder = vip_holder(LBS, vip)
    outcome = {}
    rollout = threading.Thread(target=lambda: outcome.setdefault("run", fleet.playbook(
        "playbooks/rollout.yml", UPGRADE)))
    rollout.start()
    fleet.lb = holder
    deadline = time.time() + 300
    while time.time() < deadline and rollout.is_alive():
        try:
            if any(status.startswith(("DRAIN", "MAINT")) for status in fleet.servers().values()):
                break
        except (OSError, RuntimeError):  # HAProxy reloading
            pass
        time.sleep(0.2)
    assert rollout.is_alive(), "the rollout ended before any container was drained: %s" % outcome["run"].tail()
    before, began = generator.report(), time.time()
    on_host(holder, "systemctl", "stop", "haproxy")
    new_holder = wait_for_holder(vip, holder)
    rollout.join(900)
    row, failures = record("HAProxy stopped on the holder during a rollout", began, before, generator, prober, holder,
                           new_holder)
    run = outcome["run"]
    assert run.rc == 0, run.tail()
    assert "Skipped (down, or HAProxy does not answer" in run.output, run.tail()
    assert row["outage"] <= MAX_OUTAGE, row
    assert row["last_failure_s"] <= row["outage"] + SETTLE, (row, failures[-5:])
    images = {name: c["image"] for host in HOSTS for name, c in fleet.containers(host).items()}
    assert all(":4.1.0-" in image for name, image in images.items() if "tts-aria" in name), images

    run = fleet.playbook("playbooks/loadbalancer.yml", UPGRADE)
    assert run.rc == 0, run.tail()
    assert mark(holder) == "0"
