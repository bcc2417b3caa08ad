# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""haproxy_servers against a real HAProxy (the Debian package, `scripts/system-deps.sh`) on 127.0.0.1.

Two backends are small HTTP servers in this process: /ready answers 200 or 503 as a test sets it,
/hold?seconds=N answers after N seconds, so a request through HAProxy is a session that a drain waits for.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.speechops.speech.plugins.module_utils import haproxy
from ansible_collections.speechops.speech.plugins.modules import haproxy_servers

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients cut by a drain timeout are part of the tests


class Backend:
    """An HTTP server on 127.0.0.1 standing in for a speech container."""

    def __init__(self):
        self.ready = True
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/ready":
                    self._answer(200 if backend.ready else 503, b"ready" if backend.ready else b"notready")
                elif url.path == "/hold":
                    time.sleep(float(parse_qs(url.query)["seconds"][0]))
                    self._answer(200, b"held")
                else:
                    self._answer(404, b"")

            def _answer(self, code, body):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def ready_url(self):
        return "http://127.0.0.1:%d/ready" % self.port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CONFIG = """
global
    stats socket {socket} mode 600 level admin
    server-state-file {state}
defaults
    mode http
    load-server-state-from-file global
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option redispatch
    retries 3
frontend fe_svc
    bind 127.0.0.1:{port}
    default_backend svc
backend svc
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 200ms fall 2 rise 1
{servers}
"""


@pytest.fixture
def lb(tmp_path):
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: run scripts/system-deps.sh (make setup installs it)")
    backends = {"s1": Backend(), "s2": Backend()}
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG.format(
        socket=tmp_path / "admin.sock", state=tmp_path / "state", port=port,
        servers="\n".join("    server %s 127.0.0.1:%d check" % (name, backend.port) for name, backend in backends.items())))
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    api = haproxy.RuntimeApi(str(tmp_path / "admin.sock"))
    lb = type("LB", (), {})()
    lb.socket, lb.port, lb.backends, lb.api, lb.process = str(tmp_path / "admin.sock"), port, backends, api, process
    try:
        wait_for(lambda: all(haproxy.is_up(api.stat()[("svc", name)]["status"]) for name in backends), "both servers UP")
        yield lb
    finally:
        process.terminate()
        process.wait(10)
        for backend in backends.values():
            backend.close()


def wait_for(condition, what, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if condition():
                return
        except (OSError, haproxy.RuntimeApiError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def run_module(capfd, **args):
    with pytest.raises(SystemExit):
        with patch_module_args(args):
            haproxy_servers.main()
    return json.loads(capfd.readouterr().out)


def servers(lb, *names):
    return [{"backend": "svc", "server": name, "ready_url": lb.backends[name].ready_url} for name in names]


def status(lb, name):
    return lb.api.stat()[("svc", name)]["status"]


def hold(lb, seconds, outcome):
    """A request through the load balancer that lasts `seconds`; its HTTP code or error lands in outcome."""
    def request():
        try:
            outcome.append(NO_PROXY.open("http://127.0.0.1:%d/hold?seconds=%s" % (lb.port, seconds), timeout=30).getcode())
        except (urllib.error.URLError, OSError) as error:
            outcome.append(error)
    thread = threading.Thread(target=request)
    thread.start()
    return thread


def test_drain_waits_for_the_open_session_then_sets_maint(lb, capfd):
    lb.api.set_state({"backend": "svc", "server": "s2"}, haproxy.MAINT)  # the held request can only go to s1
    outcome = []
    thread = hold(lb, 1.5, outcome)
    wait_for(lambda: lb.api.stat()[("svc", "s1")]["sessions"] == 1, "the held session on s1")
    result = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="drained", drain_timeout=20, interval=0.1)
    thread.join()
    assert outcome == [200]
    assert result["changed"] is True
    (s1,) = result["servers"]
    assert (s1["before"], s1["sessions"], s1["cut_sessions"], s1["target"]) == ("UP", 1, 0, "drained")
    assert s1["after"].startswith("MAINT") and s1["reason"].startswith("drained in")
    assert 1.0 <= result["waited_seconds"] < 20


def test_drain_only_stops_new_sessions_and_returns(lb, capfd):
    result = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="drain")
    assert result["changed"] is True and result["waited_seconds"] == 0
    assert status(lb, "s1").startswith("DRAIN")
    assert run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="drain")["changed"] is False
    drained = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="drained", interval=0.1)
    assert drained["changed"] is True and status(lb, "s1").startswith("MAINT")
    assert run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="drained", interval=0.1)["changed"] is False


def test_drain_timeout_shuts_the_remaining_session_down(lb, capfd):
    lb.api.set_state({"backend": "svc", "server": "s2"}, haproxy.MAINT)
    outcome = []
    thread = hold(lb, 10, outcome)
    wait_for(lambda: lb.api.stat()[("svc", "s1")]["sessions"] == 1, "the held session on s1")
    result = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="drained", drain_timeout=1, interval=0.1)
    thread.join()
    assert result["servers"][0]["cut_sessions"] == 1
    assert "1 session(s) still open after the 1 s drain timeout were shut down" in result["servers"][0]["reason"]
    assert outcome and outcome[0] != 200  # the client saw its session cut, as the report says
    assert status(lb, "s1").startswith("MAINT")


def test_ready_waits_for_the_health_check_and_fails_for_a_server_that_stays_down(lb, capfd):
    for name in ("s1", "s2"):
        lb.api.set_state({"backend": "svc", "server": name}, haproxy.MAINT)
    lb.backends["s2"].ready = False
    result = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1", "s2"), state="ready", up_timeout=3, interval=0.1)
    assert result["failed"] is True
    assert "HAProxy does not see svc/s2 UP" in result["msg"] and "svc/s1" not in result["msg"].split(":")[0]
    by_name = {entry["server"]: entry for entry in result["servers"]}
    assert by_name["s1"]["after"].startswith("UP") and by_name["s1"]["reason"] == "UP"
    assert by_name["s2"]["after"].startswith("DOWN")


def test_ready_enables_a_drained_server_whose_checks_still_fail(lb, capfd):
    # A drained server whose container is being replaced fails its checks, and `show stat` then says plain DOWN,
    # not DRAIN: the enable that follows must still set it ready, or it stays drained once its checks pass.
    lb.api.set_state({"backend": "svc", "server": "s1"}, haproxy.DRAINED)
    lb.backends["s1"].ready = False
    wait_for(lambda: haproxy.parse_stat(lb.api.command("show stat"))[("svc", "s1")]["status"].startswith("DOWN"),
             "s1 drained and DOWN")
    lb.backends["s1"].ready = True
    result = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="ready", up_timeout=5, interval=0.1)
    assert not result.get("failed"), result
    assert result["changed"] is True and result["servers"][0]["before"].startswith("DRAIN (DOWN")
    assert status(lb, "s1") == "UP"


def test_reconcile_leaves_no_server_drained(lb, capfd):
    for name in ("s1", "s2"):
        lb.api.set_state({"backend": "svc", "server": name}, haproxy.DRAINED)
    lb.backends["s2"].ready = False
    result = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1", "s2"), state="reconcile", up_timeout=5, interval=0.1)
    assert not result.get("failed"), result
    by_name = {entry["server"]: entry for entry in result["servers"]}
    assert (by_name["s1"]["healthy"], by_name["s1"]["target"]) == (True, "ready")
    assert (by_name["s2"]["healthy"], by_name["s2"]["target"]) == (False, "maint")
    assert "answered 503" in by_name["s2"]["reason"]
    assert status(lb, "s1").startswith("UP") and status(lb, "s2").startswith("MAINT")
    again = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1", "s2"), state="reconcile", interval=0.1)
    assert again["changed"] is False


def test_no_url_password_goes_into_the_result(lb, capfd):
    wanted = [dict(server, ready_url=server["ready_url"].replace("http://", "http://probe:Pr0be-Pw@"))
              for server in servers(lb, "s1")]
    result = run_module(capfd, socket=lb.socket, servers=wanted, state="reconcile", interval=0.1)
    shown = json.dumps(dict((key, value) for key, value in result.items() if key != "invocation"))
    assert "Pr0be-Pw" not in shown and "http://probe:<masked>@127.0.0.1" in result["servers"][0]["reason"]


def test_check_mode_reports_without_changing(lb, capfd):
    result = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="maint", _ansible_check_mode=True)
    assert result["changed"] is True
    assert status(lb, "s1").startswith("UP")


def test_missing_servers_fail_unless_ignored(lb, capfd):
    wanted = servers(lb, "s1") + [{"backend": "svc", "server": "s9"}]
    result = run_module(capfd, socket=lb.socket, servers=wanted, state="maint")
    assert result["failed"] is True and "has no server svc/s9: apply the loadbalancer role first" in result["msg"]
    assert status(lb, "s1").startswith("UP")  # nothing changed before the refusal
    result = run_module(capfd, socket=lb.socket, servers=wanted, state="maint", missing="ignore")
    assert result["missing"] == ["svc/s9"] and status(lb, "s1").startswith("MAINT")


def test_a_socket_nobody_listens_on_is_a_clear_error(tmp_path, capfd):
    result = run_module(capfd, socket=str(tmp_path / "none.sock"), servers=[{"backend": "svc", "server": "s1"}], state="ready")
    assert result["failed"] is True and "is HAProxy running" in result["msg"]


def test_a_socket_nobody_listens_on_is_skipped_when_asked(tmp_path, capfd):
    result = run_module(capfd, socket=str(tmp_path / "none.sock"), servers=[{"backend": "svc", "server": "s1"}],
                        state="drained", unavailable="skip")
    assert not result.get("failed") and result["unavailable"] is True and result["changed"] is False
    assert "skipped" in result["msg"]


def test_haproxy_stopping_during_a_drain_is_skipped_when_asked(lb, capfd):
    """The load balancer's HAProxy stops while the module waits for a session to end: skip, not fail."""
    lb.api.set_state({"backend": "svc", "server": "s2"}, haproxy.MAINT)  # the held request can only go to s1
    outcome = []
    held = hold(lb, 20, outcome)
    wait_for(lambda: lb.api.stat()[("svc", "s1")]["sessions"] == 1, "the held session on s1")
    stopper = threading.Timer(1.5, lb.process.kill)
    stopper.start()
    result = run_module(capfd, socket=lb.socket, servers=servers(lb, "s1"), state="drained", drain_timeout=20,
                        unavailable="skip")
    stopper.join()
    held.join(30)
    assert not result.get("failed") and result["unavailable"] is True, result


def test_reconcile_needs_ready_urls(capfd, tmp_path):
    result = run_module(capfd, socket=str(tmp_path / "none.sock"), servers=[{"backend": "svc", "server": "s1"}], state="reconcile")
    assert result["failed"] is True and "needs servers[].ready_url; missing for svc/s1" in result["msg"]


@pytest.mark.parametrize("status_text, admin, up", [
    ("UP", haproxy.READY, True), ("UP 1/2", haproxy.READY, False), ("DOWN", haproxy.READY, False),
    ("no check", haproxy.READY, True), ("NOLB", haproxy.READY, False), ("DRAIN", haproxy.DRAINED, False),
    ("DRAIN (agent)", haproxy.DRAINED, False), ("MAINT", haproxy.MAINT, False), ("MAINT (resolution)", haproxy.MAINT, False),
    ("", haproxy.READY, False),
])
def test_admin_state_and_up(status_text, admin, up):
    assert haproxy.admin_state(status_text) == admin
    assert haproxy.is_up(status_text) is up


def test_parse_stat_keeps_servers_only():
    text = ("# pxname,svname,scur,weight,status,check_status,\n"
            "fe_svc,FRONTEND,3,,OPEN,,\n"
            "svc,speech-svc-1,2,1,UP,L7OK,\n"
            "svc,speech-svc-2,0,1,MAINT,,\n"
            "svc,BACKEND,2,2,UP,,\n"
            "tts,speech-tts-1,1,1,DRAIN,L7OK,\n"
            "tts_ws,speech-tts-1,4,1,DRAIN,,\n"
            "tts_ws,BACKEND,4,1,UP,,\n")
    assert haproxy.parse_stat(text) == {
        ("svc", "speech-svc-1"): {"status": "UP", "sessions": 2, "weight": 1, "check": "L7OK", "websocket": False},
        ("svc", "speech-svc-2"): {"status": "MAINT", "sessions": 0, "weight": 1, "check": "", "websocket": False},
        # a text to speech server's WebSocket twin (tracking it) is folded into it: its sessions count too
        ("tts", "speech-tts-1"): {"status": "DRAIN", "sessions": 5, "weight": 1, "check": "L7OK", "websocket": True},
    }
    assert haproxy.state_command({"backend": "svc", "server": "speech-svc-1"}, haproxy.DRAINED) == \
        "set server svc/speech-svc-1 state drain"
    assert haproxy.state_command({"backend": "svc", "server": "s"}, haproxy.READY, haproxy.MAINT) == \
        "set server svc/s state ready; set server svc/s health down"


def test_a_server_leaving_maint_gets_no_traffic_before_its_checks_pass(lb, capfd):
    """HAProxy alone would mark it "UP 1/2" and send it requests until its checks fail."""
    lb.api.set_state({"backend": "svc", "server": "s2"}, haproxy.MAINT)
    lb.backends["s2"].ready = False
    lb.api.set_state({"backend": "svc", "server": "s2"}, haproxy.READY, haproxy.MAINT)
    seen = set()
    for _look in range(10):
        seen.add(status(lb, "s2"))
        time.sleep(0.05)
    assert seen == {"DOWN"}
