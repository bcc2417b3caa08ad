"""Helpers for the speech emulator tests (imported by conftest.py and the test modules)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR_DIR = os.path.join(REPO, "sandbox", "emulator")
if EMULATOR_DIR not in sys.path:
    sys.path.insert(0, EMULATOR_DIR)

TEST_KEY = "emutest-key-0123456789abcdef"
OTHER_KEY = "emutest-key-fedcba9876543210"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body bytes) without raising on HTTP errors."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if isinstance(body, dict):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def get_json(url):
    status, _headers, body = http("GET", url)
    return status, json.loads(body)


def wait_until(predicate, timeout=15.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A child process whose output goes to a log file; stopped by its own PID."""

    def __init__(self, args, env, log_path):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(args, cwd=EMULATOR_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _env(extra):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("EMULATOR", "EULA", "BILLING", "APIKEY"))}
    env["PYTHONPATH"] = EMULATOR_DIR
    env.update(extra)
    return env


class Stub:
    def __init__(self, process, port, admin_port):
        self.process, self.port, self.admin_port = process, port, admin_port
        self.url = f"http://127.0.0.1:{port}/"
        self.admin = f"http://127.0.0.1:{admin_port}/admin"

    def call(self, path, body=None):
        status, _headers, data = http("POST" if body is not None else "GET", self.admin + path, body)
        assert status == 200, (path, status, data)
        return json.loads(data)


def _answers(url):
    try:
        return http("GET", url, timeout=1)[0] > 0
    except OSError:
        return False


class Emulator:
    def __init__(self, process, port):
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path):
        return http("GET", self.url + path)

    def status_of(self, path):
        """The HTTP status of GET path, 0 while nothing listens."""
        try:
            return self.get(path)[0]
        except OSError:
            return 0

    def ready(self):
        return self.status_of("/ready") == 200


def run_once(*settings, kind="speech-to-text", env=None, timeout=30):
    """Run the emulator in the foreground (a mode that exits); returns CompletedProcess."""
    environment = _env({"EMULATOR_KIND": kind, "EMULATOR_VERSION": "9.0.0", "EMULATOR_LOCALE": "en-US"})
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "speech_emulator", "Emulator:Host=127.0.0.1",
                           f"Emulator:Port={free_port()}", *settings], cwd=EMULATOR_DIR, env=environment,
                          capture_output=True, text=True, timeout=timeout, check=False)
