"""Fleet operations under load: each case drives rollout.yml, rotate_keys.yml or remove.yml on the Molecule
`rollout` scenario's fleet (converged at version N) while production clients use it.

The clients are Microsoft's Speech SDK and a REST client (tests/loadgen/sdk_load.py), in a closed loop with no
pause, at 1x each service's capacity from the plan (replicas x concurrent requests per container): TTS over REST,
STT recognize_once, language identification. Draining a replica halves a service's capacity for a while, so the
excess waits in the load balancer's queue; every case ends with zero failed requests. The load report is printed
(pytest -s) and saved under the artifacts directory.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadgen"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import Fleet, Watcher, docker, env, get_json, on_host, post_json  # noqa: E402
from sdk_load import WEATHER, SdkLoad, Workload, synthesize_wav  # noqa: E402

N1 = "services-n1.yml"
VOICE = "en-US-AriaNeural"
LIGHTS = "Turn on the lights in the kitchen."


@pytest.fixture(scope="module")
def fleet():
    artifacts = Path(env("MOLECULE_EPHEMERAL_DIRECTORY")) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    fleet = Fleet(inventory=env("MOLECULE_INVENTORY_FILE"), artifacts=artifacts)
    run = fleet.playbook("playbooks/plan.yml", "services-n.yml")  # writes the plan and catalog the tests read
    assert run.rc == 0, run.tail()
    return fleet


@pytest.fixture(scope="module")
def audio(fleet, tmp_path_factory):
    """WAV files for the recognizers, synthesized once by the fleet's own TTS service through the load balancer."""
    folder = tmp_path_factory.mktemp("audio")
    url = fleet.lb_url("tts-aria")
    return {"once": synthesize_wav(url, VOICE, WEATHER, folder / "weather.wav"),
            "long": synthesize_wav(url, VOICE, [WEATHER, LIGHTS] * 6, folder / "long.wav", pause=1.0)}


def capacity(fleet, service):
    """Concurrent requests the service takes at once: the plan's replicas x concurrency per container."""
    return int(fleet.plan()["services"][service]["capacity"])


@pytest.fixture
def load(fleet, audio, request):
    """1x capacity through the load balancer during the test; after it, the report must show no failure.

    Parameters (indirect): "long" adds one continuous recognition of a ~40 s file in a loop (sessions that span
    drains and reloads; it takes one STT slot, so recognize_once gets the rest); "no-lid" leaves language
    identification out (for a test that removes it)."""
    options = set(getattr(request, "param", ()) or ())
    stt_slots = capacity(fleet, "stt-en-us")
    workloads = [Workload("tts", kind="tts_rest", url=fleet.lb_url("tts-aria"), clients=capacity(fleet, "tts-aria"),
                          voice=VOICE)]
    if "long" in options:
        workloads.append(Workload("stt_long", kind="stt_continuous", url=fleet.lb_url("stt-en-us", "ws"), clients=1,
                                  audio=audio["long"], expect=LIGHTS, timeout=120))
        stt_slots -= 1
    workloads.append(Workload("stt", kind="stt_once", url=fleet.lb_url("stt-en-us", "ws"), clients=stt_slots,
                              audio=audio["once"], expect=WEATHER))
    if "no-lid" not in options:
        workloads.append(Workload("lid", kind="lid", url=fleet.lb_url("lid", "ws"), clients=capacity(fleet, "lid"),
                                  audio=audio["once"], expect="en-US"))
    generator = SdkLoad(workloads, grace=60, stop_timeout=90).start()
    assert generator.wait_ready(90), generator.report()
    yield generator
    report = generator.stop()
    name = request.node.name
    (fleet.artifacts / f"load-{name}.json").write_text(json.dumps(report, indent=1))
    print(f"\nLOAD REPORT {name}: " + " | ".join(
        f"{workload} clients={numbers['clients']} sent={numbers['sent']} failed={numbers['failed']} "
        f"p50={numbers['p50_ms']}ms p99={numbers['p99_ms']}ms"
        for workload, numbers in report["workloads"].items() if numbers["sent"]))
    assert report["totals"]["failed"] == 0, report["failures"][:20]
    assert all(numbers["ok"] > 0 for numbers in report["workloads"].values()), report["workloads"]
    assert report["stuck_clients"] == 0, report


def images(fleet):
    return {host: {name: c["image"] for name, c in fleet.containers(host).items()} for host in fleet.hosts}


def test_t1_an_image_that_does_not_exist_stops_before_any_host_changes(fleet, load):
    before = {host: fleet.containers(host) for host in fleet.hosts}
    run = fleet.playbook("playbooks/rollout.yml", "services-n1.yml", "speech_allow_unknown_tags=true",
                         '{"speech_services": [{"name": "stt-en-us", "kind": "speech-to-text", "version": "9.9.9", '
                         '"locale": "en-US", "replicas": 2, "cpus": 0.25, "memory_mb": 256, "model_memory_mb": 0}, {"name": "tts-aria", '
                         '"kind": "neural-text-to-speech", "version": "4.0.0", "voice": "en-US-AriaNeural", "replicas": 2, '
                         '"cpus": 0.25, "memory_mb": 256}, {"name": "lid", "kind": "language-detection", "version": "1.17.0", '
                         '"replicas": 2, "cpus": 0.25, "memory_mb": 256}]}')
    assert run.rc != 0
    assert "9.9.9" in run.output and "Pull" in run.output, run.tail()
    assert {host: fleet.containers(host) for host in fleet.hosts} == before
    assert fleet.all_up(), fleet.servers()


@pytest.mark.parametrize("load", [("long",)], indirect=True)
def test_upgrade_every_service_with_a_reload_during_a_drain(fleet, load):
    """HAProxy is reloaded while a server is drained, and continuous recognitions of a ~40 s file run through the drains."""
    def reload_during_drain(states):
        drained = [server for server, status in states.items() if status.startswith(("MAINT", "DRAIN"))]
        if not drained:
            return None
        fleet.reload_lb()
        time.sleep(0.5)
        return {server: fleet.servers().get(server) for server in drained}

    watcher = Watcher(fleet, reload_during_drain)
    watcher.start()
    run = fleet.playbook("playbooks/rollout.yml", N1)
    watcher.stop()
    assert run.rc == 0, run.tail()
    for host, containers in images(fleet).items():
        for name, image in containers.items():
            assert image.split(":")[-1].startswith(("5.1.0", "4.1.0", "1.18.0")), (host, name, image)
    assert watcher.acted, "no server was seen drained during the rollout"
    assert all(status.startswith(("MAINT", "DRAIN")) for status in watcher.acted.values()), watcher.acted
    assert fleet.all_up(), fleet.servers()
    long_sessions = load.report()["workloads"]["stt_long"]
    assert long_sessions["ok"] >= 1 and long_sessions["failed"] == 0, long_sessions


def test_t2_a_broken_version_fails_the_canary_and_rolls_it_back(fleet, load):
    before = {host: fleet.containers(host) for host in fleet.hosts}
    run = fleet.playbook("playbooks/rollout.yml", "services-broken.yml", "speech_ready_timeout=20")
    assert run.rc != 0
    assert "failed its health gate on speechops-molro-host1" in run.output, run.tail()
    assert "The previous container was put back and answers /ready again" in run.output, run.tail()
    after = {host: fleet.containers(host) for host in fleet.hosts}
    for host in fleet.hosts[1:]:  # not touched at all: same containers, same IDs
        assert {name: c["id"] for name, c in after[host].items()} == {name: c["id"] for name, c in before[host].items()}
    canary_stt = [name for name in after["speechops-molro-host1"] if name.startswith("speech-stt-en-us")]
    assert canary_stt and all(after["speechops-molro-host1"][name]["image"].endswith("5.1.0-amd64-en-us") for name in canary_stt)
    assert not any(name.endswith("-previous") for name in after["speechops-molro-host1"])
    assert fleet.all_up(), fleet.servers()


def test_t3_a_host_stopped_in_its_batch_stops_the_rollout(fleet, load):
    victim = "speechops-molro-host3"
    victim_servers = [server["server"] for server in lb_servers(fleet, victim)]

    def stop_when_drained(states):
        if victim_servers and all(states.get((backend, server), "").startswith("MAINT")
                                  for (backend, server) in states if server in victim_servers):
            docker("stop", "-t", "5", victim)
            return True
        return None

    watcher = Watcher(fleet, stop_when_drained)
    watcher.start()
    run = fleet.playbook("playbooks/rollout.yml", N1, "speech_log_level=Warning")
    watcher.stop()
    assert watcher.acted, "the victim was never drained"
    assert run.rc != 0
    # Through `docker exec` a stopped host fails its tasks (through SSH it is unreachable and the end-of-batch
    # check names it); either way the recap names it and no other host failed.
    recap = run.output[run.output.rindex("PLAY RECAP"):]
    assert re.search(victim + r"\s*:.*(failed=[1-9]|unreachable=[1-9])", recap), run.tail()
    assert not re.search(r"speechops-molro-host[12]\s*:.*(failed=[1-9]|unreachable=[1-9])", recap), run.tail()
    states = fleet.servers()
    for (backend, server), status in states.items():
        if server in victim_servers:
            assert not status.startswith(("UP", "DRAIN")), (server, status)
        else:
            assert status == "UP", (server, status)


def test_t7_a_rerun_after_the_partial_failure_converges_and_leaves_nothing_drained(fleet, load):
    docker("start", "speechops-molro-host3")
    fleet.wait_systemd("speechops-molro-host3")
    run = fleet.playbook("playbooks/rollout.yml", N1, "speech_log_level=Warning")
    assert run.rc == 0, run.tail()
    assert fleet.all_up(), fleet.servers()
    for host in fleet.hosts:
        for name, container in fleet.containers(host).items():
            assert "Logging__Console__LogLevel__Default=Warning" in container["env"], (host, name)
            assert container["running"] and not name.endswith("-previous"), (host, name)


def test_t4_key_rotation_gates_on_the_new_key_and_moves_the_fleet(fleet, load):
    admin = env("SANDBOX_BILLING").rstrip("/").rsplit(":", 1)[0] + ":5002"  # the billing stub's admin API
    state = Path(env("SANDBOX_STATE"))
    primary, secondary = ((state / name).read_text().strip() for name in ("api-key", "api-key-secondary"))
    # T4: the second key revoked first: the canary's gate sees /status Invalid and the rollout stops, changing nothing.
    post_json(admin + "/admin/keys/revoke", {"key": secondary})
    try:
        before = {host: fleet.containers(host) for host in fleet.hosts}
        run = fleet.playbook("playbooks/rotate_keys.yml", N1, "speech_log_level=Warning", "speech_api_key_in_use=secondary")
        assert run.rc != 0 and "the ApiKey is not valid" in run.output, run.tail()
        for host in fleet.hosts:
            assert {n: c["labels"].get("speechops.api_key") for n, c in fleet.containers(host).items()} == \
                {n: c["labels"].get("speechops.api_key") for n, c in before[host].items()}
        assert fleet.all_up(), fleet.servers()
    finally:
        post_json(admin + "/admin/keys", {"key": secondary, "status": "Valid"})

    run = fleet.playbook("playbooks/rotate_keys.yml", N1, "speech_log_level=Warning", "speech_api_key_in_use=secondary")
    assert run.rc == 0, run.tail()
    assert "Every speech container uses the secondary key" in run.output
    post_json(admin + "/admin/keys/revoke", {"key": primary})
    try:
        for host in fleet.hosts:
            for name, container in fleet.containers(host).items():
                assert container["labels"]["speechops.api_key"] == "secondary", (host, name)
                port = container["labels"]["speechops.host_port"]
                status = get_json(f"http://{fleet.address(host)}:{port}/status")
                assert status["apiStatus"] == "Valid", (host, name, status)
        assert fleet.all_up(), fleet.servers()
    finally:
        post_json(admin + "/admin/keys", {"key": primary, "status": "Valid"})


def test_t8_a_docker_restart_with_live_restore_keeps_containers_and_the_lb_green(fleet, load):
    host = "speechops-molro-host1"
    before = {name: c["pid"] for name, c in fleet.containers(host).items()}
    watcher = Watcher(fleet)
    watcher.start()
    on_host(host, "systemctl", "restart", "docker")
    time.sleep(8)  # several health-check intervals of the load balancer
    watcher.stop()
    assert {name: c["pid"] for name, c in fleet.containers(host).items()} == before
    # While dockerd restarts, a health check may fail ("UP 2/3": going down, still in
    # service); loadbalancer_check_fall (3) is there to absorb that. No server may leave service.
    assert {server: seen for server, seen in watcher.seen.items()
            if not all(status.startswith("UP") for status in seen)} == {}
    deadline = time.monotonic() + 30
    while not fleet.all_up() and time.monotonic() < deadline:
        time.sleep(1)
    assert fleet.all_up(), fleet.servers()


@pytest.mark.parametrize("load", [("no-lid",)], indirect=True)
def test_remove_a_service_drains_it_and_keeps_docker(fleet, load):
    run = fleet.playbook("playbooks/remove.yml", N1, "speech_log_level=Warning", "speech_api_key_in_use=secondary",
                         '{"speech_remove_services": ["lid"]}')
    assert run.rc == 0, run.tail()
    for host in fleet.hosts:
        assert not [name for name in fleet.containers(host) if name.startswith("speech-lid")]
        assert on_host(host, "sh", "-c", "ls /etc/speechops | grep -c '^speech-lid' || true").strip() == "0"
        assert on_host(host, "systemctl", "is-active", "docker").strip() == "active"
    assert not [server for server in fleet.servers() if server[0] == "lid"]
    assert fleet.all_up(), fleet.servers()


def lb_servers(fleet, host):
    return [{"backend": name, "server": backend["container"]} for name, service in fleet.plan()["services"].items()
            for backend in service["backends"] if backend["host"] == host]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v", "-s"] + os.sys.argv[1:]))
