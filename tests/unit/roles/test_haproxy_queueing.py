# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The loadbalancer role's haproxy.cfg, rendered by Ansible from a real plan, run by the real HAProxy on 127.0.0.1
in front of small backends that hold each request 100 ms and record how many they serve at once.

Twice the capacity: every request succeeds after waiting in the queue and no backend ever serves more than its
maxconn. Five times the capacity: the queue bound answers the excess at once with the JSON 503, no server is ever
marked down, and the health checks reach the backends while all their slots are taken. A wait that outlasts
timeout queue gets the JSON 503 too. A WebSocket holds its slot until it closes; the next upgrade waits for it."""

from __future__ import annotations

import asyncio
import base64
import csv
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ansible_collections.speechops.speech.plugins.module_utils import haproxy
from ansible_collections.speechops.speech.plugins.module_utils.plan import build_plan

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "loadbalancer"
ANSIBLE = Path(sys.executable).parent / "ansible"
HOLD = 0.1  # seconds each backend takes per request
TTS_WEBSOCKET_PATH = "/cognitiveservices/websocket/v1"  # the Speech SDK synthesizer's
GIB = 1024


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # HAProxy resets a check's connection once it has read the status line


class Backend:
    """An HTTP server on 127.0.0.1 that answers /ready at once and every other request after `hold` seconds,
    recording the most requests it served at once and, for each /ready, how many it was serving then."""

    def __init__(self, hold=HOLD):
        self.hold, self.lock = hold, threading.Lock()
        self.busy = self.peak = 0
        self.busy_at_checks = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path == "/ready":
                    with backend.lock:
                        backend.busy_at_checks.append(backend.busy)
                    return self.answer(b"ready")
                with backend.lock:
                    backend.busy += 1
                    backend.peak = max(backend.peak, backend.busy)
                time.sleep(backend.hold)
                with backend.lock:  # done before the answer: HAProxy may send the next request as soon as it has it
                    backend.busy -= 1
                self.answer(b'{"ok": true}')

            def answer(self, body):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self):
        with self.lock:
            self.peak, self.busy_at_checks = 0, []

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def plan_services(backends):
    """The plan's services for a speech-to-text service with decoder_max_count 2 on len(backends) containers,
    its backends pointed at the local test servers (the plan's own host ports are not ours to bind here)."""
    plan = build_plan([{"name": "stt", "kind": "speech-to-text", "replicas": len(backends), "decoder_max_count": 2}],
                      {"h%d" % index: {"vcpus_usable": 16, "memory_usable_mb": 32 * GIB, "avx2": True, "address": "127.0.0.1"}
                       for index in range(len(backends))})
    services = plan["services"]
    for planned, backend in zip(services["stt"]["backends"], backends):
        planned["port"] = backend.port
    services["stt"]["lb_port"] = free_port()
    return services


def render(tmp_path, services, **extra_vars):
    """haproxy.cfg exactly as the role writes it (the first file of its one configuration call), by Ansible."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    variables = {"loadbalancer_services": services, "loadbalancer_bind_address": "127.0.0.1",
                 "loadbalancer_stats_socket": str(tmp_path / "admin.sock"),
                 "loadbalancer_server_state_file": str(tmp_path / "server-state"), "loadbalancer_chroot": "",
                 "loadbalancer_log_targets": ["stderr format short local0 info"], "loadbalancer_stats_port": 0,
                 "speech_lb_auth": "none"}  # queueing alone; the clients' authentication: test_haproxy_client_access.py
    variables.update(extra_vars)
    result = subprocess.run(
        [str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.debug",
         "-a", "var=__loadbalancer_config_files", "-e", "@defaults/main.yml", "-e", "@vars/main.yml",
         "-e", "@vars/Debian.yml", "-e", json.dumps(variables)],
        cwd=str(ROLE), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    files = json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["__loadbalancer_config_files"]
    config = tmp_path / "haproxy.cfg"
    config.write_text(files[0]["content"])
    return config


@contextmanager
def running_haproxy(config):
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: run scripts/system-deps.sh (make setup installs it)")
    check = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    log = open(str(config) + ".log", "w")
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_until_up(api, servers, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = api.stat()
        except haproxy.RuntimeApiError:
            stat = {}
        if all(stat.get(server, {}).get("status") == "UP" for server in servers):
            return
        time.sleep(0.05)
    raise AssertionError("servers %s not UP within %ss: %s" % (servers, timeout, stat))


def get(port, timeout=10.0):
    """(status, body, seconds) of one GET through the load balancer."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/speech/recognition", headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        connection.close()


def closed_loop(port, clients, requests_each):
    """`clients` threads, each sending its next request as soon as the last one is answered."""
    results, lock = [], threading.Lock()

    def client():
        for _request in range(requests_each):
            outcome = get(port)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=client) for _client in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a client did not finish within 60 s"
    return results


def stat_rows(api):
    """`show stat` as {(proxy, svname): row}, backends included (chkdown counts UP to DOWN transitions)."""
    text = api.command("show stat").lstrip("# ")
    return dict(((row["pxname"], row["svname"]), row) for row in csv.DictReader(text.splitlines()))


@pytest.fixture
def backends():
    started = [Backend(), Backend()]
    yield started
    for backend in started:
        backend.stop()


def test_the_rendered_backend_limits_queues_and_checks_as_the_plan_says(tmp_path, backends):
    services = plan_services(backends)
    assert (services["stt"]["concurrency"], services["stt"]["capacity"]) == (2, 4)
    text = render(tmp_path, services).read_text()
    backend = text[text.index("\nbackend stt\n"):]
    assert re.search(r"^    default-server inter 2s fall 3 rise 2 maxconn 2 slowstart 30s$", backend, re.M)
    assert re.search(r"^    http-request return status 503 content-type application/json string '\{\"error\":\{\"code\":503,"
                     r"\"message\":\"stt is at capacity: .*\"\}\}' if \{ queue\(\) ge 8 \}$", backend, re.M)
    assert re.search(r"^    http-error status 503 content-type application/json string '\{\"error\":", backend, re.M)
    assert re.search(r"^    timeout check 5s$", backend, re.M) and re.search(r"^    timeout queue 30s$", text, re.M)
    with running_haproxy(tmp_path / "haproxy.cfg") as process:
        time.sleep(0.3)
        assert process.poll() is None, (tmp_path / "haproxy.cfg.log").read_text()


def test_twice_the_capacity_waits_in_the_queue_and_five_times_gets_fast_json_503s(tmp_path, backends):
    services = plan_services(backends)
    capacity, concurrency = services["stt"]["capacity"], services["stt"]["concurrency"]
    config = render(tmp_path, services, loadbalancer_check_inter="100ms")
    api = haproxy.RuntimeApi(str(tmp_path / "admin.sock"))
    servers = [("stt", backend["container"]) for backend in services["stt"]["backends"]]
    port = services["stt"]["lb_port"]
    with running_haproxy(config):
        wait_until_up(api, servers)

        results = closed_loop(port, 2 * capacity, 10)
        assert len(results) == 2 * capacity * 10
        assert [status for status, _body, _seconds in results if status != 200] == []
        assert [backend.peak for backend in backends] == [concurrency] * len(backends)
        # every slot was taken, so requests waited in the queue: about one hold time each at twice the capacity
        assert int(stat_rows(api)[("stt", "BACKEND")]["qmax"]) >= capacity - 1
        assert sorted(seconds for _status, _body, seconds in results)[len(results) // 2] > 1.5 * HOLD
        for backend in backends:
            backend.reset()

        results = closed_loop(port, 5 * capacity, 6)
        refused = [(body, seconds) for status, body, seconds in results if status != 200]
        assert {status for status, _body, _seconds in results} == {200, 503}
        for body, seconds in refused:
            error = json.loads(body)["error"]
            assert error["code"] == 503 and "stt is at capacity" in error["message"], body
            assert seconds < HOLD, "a refusal must not wait (%.3f s)" % seconds
        assert [backend.peak for backend in backends] == [concurrency] * len(backends)
        # the queue never held more than its bound (factor 2 x capacity), give or take what HAProxy's threads admit at
        # the same instant: each evaluates queue() for its own request before any of them is queued (seen: 9 for a
        # bound of 8 on a loaded two-core machine)
        assert int(stat_rows(api)[("stt", "BACKEND")]["qmax"]) <= 2 * capacity + (os.cpu_count() or 1)
        # the health checks reached the backends while every slot was taken, and none failed
        assert all(concurrency in backend.busy_at_checks for backend in backends), [b.busy_at_checks for b in backends]
        rows = stat_rows(api)
        for server in servers:
            assert rows[server]["status"] == "UP"
            assert (rows[server]["chkfail"], rows[server]["chkdown"]) == ("0", "0"), rows[server]


def test_a_wait_longer_than_timeout_queue_gets_the_json_503(tmp_path):
    slow = Backend(hold=1.5)
    try:
        services = plan_services([slow])
        config = render(tmp_path, services, loadbalancer_timeout_queue="300ms", loadbalancer_check_inter="100ms")
        api = haproxy.RuntimeApi(str(tmp_path / "admin.sock"))
        with running_haproxy(config):
            wait_until_up(api, [("stt", services["stt"]["backends"][0]["container"])])
            results = closed_loop(services["stt"]["lb_port"], 3, 1)  # 2 served at once, the third waits 300 ms
            timed_out = [(body, seconds) for status, body, seconds in results if status == 503]
            assert len(timed_out) == 1 and sorted(status for status, _b, _s in results) == [200, 200, 503]
            body, seconds = timed_out[0]
            assert json.loads(body)["error"]["code"] == 503
            assert "stt: no container could take the request within 300ms" in json.loads(body)["error"]["message"]
            assert 0.3 <= seconds < 1.0
    finally:
        slow.stop()


class WebSocketBackend:
    """An aiohttp server on 127.0.0.1 (its own event loop in a thread) that answers /ready and holds every WebSocket
    until the client closes it, recording the most it held at once."""

    def __init__(self):
        from aiohttp import web

        self.busy = self.peak = 0
        self.loop = asyncio.new_event_loop()

        async def ready(_request):
            return web.Response(text="ready")

        async def session(request):
            socket_ = web.WebSocketResponse()
            # counted before the 101 goes out: a client that has its 101 is always counted already
            self.busy += 1
            self.peak = max(self.peak, self.busy)
            try:
                await socket_.prepare(request)
                async for _message in socket_:
                    pass
            finally:
                self.busy -= 1
            return socket_

        async def synthesis(_request):
            await asyncio.sleep(HOLD)
            return web.Response(body=b"RIFF")

        app = web.Application()
        app.router.add_get("/ready", ready)
        app.router.add_get("/speech/recognition/conversation/cognitiveservices/v1", session)
        app.router.add_get(TTS_WEBSOCKET_PATH, session)
        app.router.add_post("/cognitiveservices/v1", synthesis)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.port = free_port()
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def open_websocket(port, path="/speech/recognition/conversation/cognitiveservices/v1"):
    """A socket that has sent a WebSocket upgrade (by default for the speech-to-text path) through the load balancer."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: %s\r\n\r\n" % (path, base64.b64encode(os.urandom(16)).decode())).encode())
    return client


def status_line(client, timeout):
    """The status line of the answer to the upgrade, or None when none came within timeout."""
    client.settimeout(timeout)
    try:
        return client.recv(4096).split(b"\r\n", 1)[0].decode()
    except socket.timeout:
        return None


def test_a_websocket_holds_its_slot_for_its_whole_life_and_the_next_waits_in_the_queue(tmp_path):
    backend = WebSocketBackend()
    sockets = []
    try:
        plan = build_plan([{"name": "stt", "kind": "speech-to-text", "replicas": 1, "decoder_max_count": 1}],
                          {"h1": {"vcpus_usable": 16, "memory_usable_mb": 32 * GIB, "avx2": True, "address": "127.0.0.1"}})
        services = plan["services"]
        services["stt"]["backends"][0]["port"] = backend.port
        services["stt"]["lb_port"] = port = free_port()
        config = render(tmp_path, services, loadbalancer_check_inter="100ms")
        api = haproxy.RuntimeApi(str(tmp_path / "admin.sock"))
        with running_haproxy(config):
            wait_until_up(api, [("stt", "speech-stt-1")])
            first = open_websocket(port)
            sockets.append(first)
            assert status_line(first, 5) == "HTTP/1.1 101 Switching Protocols"
            second = open_websocket(port)
            sockets.append(second)
            time.sleep(0.5)  # the open WebSocket still holds the only slot: the second upgrade waits in the queue
            assert status_line(second, 0.5) is None
            assert stat_rows(api)[("stt", "BACKEND")]["qcur"] == "1"
            first.close()
            assert status_line(second, 5) == "HTTP/1.1 101 Switching Protocols"
            assert backend.peak == 1
            assert stat_rows(api)[("stt", "speech-stt-1")]["status"] == "UP"
    finally:
        for client in sockets:
            client.close()
        backend.stop()


def post_ssml(port):
    """(status, seconds) of one synthesis over REST through the load balancer."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/cognitiveservices/v1", body=b"<speak/>", headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def test_idle_synthesizer_websockets_take_no_slot_and_follow_their_server_through_a_drain(tmp_path):
    """Text to speech: SDK synthesizers keep a WebSocket open between syntheses. Six of them on a container of
    concurrency 2 all connect at once and REST syntheses are still served without waiting in the queue; draining
    the server stops new WebSockets too, counts their sessions, and a drain timeout shuts them down."""
    backend = WebSocketBackend()
    sockets = []
    try:
        plan = build_plan([{"name": "tts", "kind": "neural-text-to-speech", "voice": "en-us-arianeural", "replicas": 1}],
                          {"h1": {"vcpus_usable": 16, "memory_usable_mb": 32 * GIB, "avx2": True, "address": "127.0.0.1"}})
        services = plan["services"]
        services["tts"]["backends"][0]["port"] = backend.port
        services["tts"]["lb_port"] = port = free_port()
        concurrency = services["tts"]["concurrency"]
        server = {"backend": "tts", "server": services["tts"]["backends"][0]["container"]}
        text = render(tmp_path, services, loadbalancer_check_inter="100ms").read_text()
        assert "\nbackend tts_ws\n" in text and "track tts/%s" % server["server"] in text
        api = haproxy.RuntimeApi(str(tmp_path / "admin.sock"))
        with running_haproxy(tmp_path / "haproxy.cfg"):
            wait_until_up(api, [("tts", server["server"])])
            for _synthesizer in range(3 * concurrency):
                sockets.append(open_websocket(port, TTS_WEBSOCKET_PATH))
            assert [status_line(client, 5) for client in sockets] == ["HTTP/1.1 101 Switching Protocols"] * len(sockets)
            assert backend.peak == 3 * concurrency
            statuses = [post_ssml(port) for _synthesis in range(3)]
            assert [status for status, _seconds in statuses] == [200] * 3
            assert all(seconds < 10 * HOLD for _status, seconds in statuses), statuses  # no wait in the queue
            entry = api.stat()[("tts", server["server"])]
            assert (entry["sessions"], entry["websocket"]) == (3 * concurrency, True)

            api.set_state(server, haproxy.DRAINED)
            rows = stat_rows(api)
            assert rows[("tts_ws", server["server"])]["status"].startswith("DRAIN"), rows[("tts_ws", server["server"])]
            late = open_websocket(port, TTS_WEBSOCKET_PATH)
            sockets.append(late)
            assert status_line(late, 5) == "HTTP/1.1 503 Service Unavailable"
            api.shutdown_sessions(server, websocket=True)
            deadline = time.monotonic() + 5
            while api.stat()[("tts", server["server"])]["sessions"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert api.stat()[("tts", server["server"])]["sessions"] == 0

            api.set_state(server, haproxy.MAINT)
            assert stat_rows(api)[("tts_ws", server["server"])]["status"].startswith("MAINT")
    finally:
        for client in sockets:
            client.close()
        backend.stop()


VALIDATE_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Validate the load balancer's input
      ansible.builtin.include_role:
        name: speechops.speech.loadbalancer
        tasks_from: validate
"""


@pytest.mark.parametrize("extra, message", [
    ({}, None),
    ({"drop_concurrency": True}, r"a concurrency >= 1 \(concurrent requests per container: each server's maxconn\)"),
    ({"loadbalancer_maxconn": 8}, r"The services' capacity is 3 concurrent requests .* up to 9 connections are in service "
                                  r"or queued: raise loadbalancer_maxconn \(8\) to at least that"),
])
def test_the_role_refuses_services_without_concurrency_and_a_global_maxconn_below_capacity_and_queue(tmp_path, extra, message):
    service = {"kind": "speech-to-text", "lb_port": 8000, "protocol": "ws", "concurrency": 3,
               "backends": [{"container": "speech-stt-1", "address": "127.0.0.1", "port": 5100}]}
    if extra.pop("drop_concurrency", False):
        del service["concurrency"]
    (tmp_path / "validate.yml").write_text(VALIDATE_PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [str(ANSIBLE) + "-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "validate.yml"),
         "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", json.dumps(dict(extra, loadbalancer_services={"stt": service}, speech_lb_auth="none"))],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120, check=False)
    if message is None:
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert result.returncode != 0 and re.search(message, result.stdout + result.stderr), result.stdout + result.stderr
