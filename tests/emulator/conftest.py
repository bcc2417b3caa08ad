"""Fixtures for the speech emulator tests: the emulator and the billing stub as processes on 127.0.0.1."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator_support import (TEST_KEY, Emulator, Process, Stub, _answers, _env,  # noqa: E402
                              free_port, wait_until)


def pytest_configure(config):
    config.addinivalue_line("markers", "docker: needs a Docker engine (builds and runs the emulator images)")


@pytest.fixture(scope="module")
def start_stub(tmp_path_factory):
    started = []

    def start(keys=(TEST_KEY,), extra_args=()):
        port, admin_port = free_port(), free_port()
        log = tmp_path_factory.mktemp("stub") / "stub.log"
        process = Process([sys.executable, "-m", "speech_emulator.billing_stub", "--host", "127.0.0.1",
                           "--port", str(port), "--admin-port", str(admin_port), *extra_args],
                          _env({"BILLING_STUB_KEYS": ",".join(keys)}), log)
        started.append(process)
        stub = Stub(process, port, admin_port)
        wait_until(lambda: _answers(f"http://127.0.0.1:{admin_port}/healthz"), what="billing stub")
        return stub

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def stub(start_stub):
    return start_stub()


@pytest.fixture(scope="module")
def start_emulator(tmp_path_factory):
    """start(kind, *settings, locale=, voice=, broken=, wait_ready=True) -> Emulator on a free port."""
    started = []

    def start(kind, *settings, locale="", voice="", broken=False, wait_ready=True, env=None):
        port = free_port()
        log = tmp_path_factory.mktemp("emulator") / "emulator.log"
        environment = _env({"EMULATOR_KIND": kind, "EMULATOR_VERSION": "9.0.0", "EMULATOR_LOCALE": locale,
                            "EMULATOR_VOICE": voice, "EMULATOR_BROKEN": "1" if broken else ""})
        environment.update(env or {})
        args = [sys.executable, "-m", "speech_emulator", "Emulator:Host=127.0.0.1", f"Emulator:Port={port}",
                "Emulator:WarmupSeconds=0.2", *settings]
        process = Process(args, environment, log)
        started.append(process)
        emulator = Emulator(process, port)
        if wait_ready:
            wait_until(lambda: process.proc.poll() is not None or emulator.ready(), what=f"{kind} ready")
            assert process.proc.poll() is None, process.output()
        return emulator

    yield start
    for process in started:
        process.stop()
