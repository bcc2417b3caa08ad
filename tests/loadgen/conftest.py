"""Fixtures for the SDK load tests: emulator and billing stub processes on 127.0.0.1 (tests/emulator helpers)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "emulator"))

import sdk_load  # noqa: E402
from emulator_support import TEST_KEY, Emulator, Process, _answers, _env, free_port, http, wait_until  # noqa: E402


@pytest.fixture(scope="session")
def billing_url(tmp_path_factory):
    port, admin_port = free_port(), free_port()
    process = Process([sys.executable, "-m", "speech_emulator.billing_stub", "--host", "127.0.0.1", "--port", str(port),
                       "--admin-port", str(admin_port)], _env({"BILLING_STUB_KEYS": TEST_KEY}),
                      tmp_path_factory.mktemp("stub") / "stub.log")
    wait_until(lambda: _answers(f"http://127.0.0.1:{admin_port}/healthz"), what="billing stub")
    yield f"http://127.0.0.1:{port}/"
    process.stop()


@pytest.fixture(scope="session")
def start_emulator(tmp_path_factory, billing_url):
    """start(kind, locale=, voice=) -> Emulator (connected to the billing stub), ready, on a free port."""
    started = []

    def start(kind, locale="en-US", voice=""):
        port = free_port()
        environment = {"EMULATOR_KIND": kind, "EMULATOR_VERSION": "9.0.0", "EMULATOR_LOCALE": locale,
                       "EMULATOR_VOICE": voice}
        args = [sys.executable, "-m", "speech_emulator", "Emulator:Host=127.0.0.1", f"Emulator:Port={port}",
                "Emulator:WarmupSeconds=0.2", "Eula=accept", f"Billing={billing_url}", f"ApiKey={TEST_KEY}"]
        process = Process(args, _env(environment), tmp_path_factory.mktemp("emulator") / "emulator.log")
        started.append(process)
        emulator = Emulator(process, port)
        wait_until(lambda: process.proc.poll() is not None or emulator.ready(), what=f"{kind} ready")
        assert process.proc.poll() is None, process.output()
        return emulator

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def tts(start_emulator):
    return start_emulator("neural-text-to-speech", voice="en-US-AriaNeural")


@pytest.fixture(scope="session")
def stt(start_emulator):
    return start_emulator("speech-to-text")


@pytest.fixture(scope="session")
def audio_file(tts, tmp_path_factory):
    """A WAV of a catalog phrase, as the TTS emulator speaks it (16 kHz 16-bit mono)."""
    status, _headers, body = http("POST", tts.url + sdk_load.TTS_PATH,
                                  sdk_load.ssml("en-US-AriaNeural", "Turn on the lights in the kitchen.").encode(),
                                  {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": sdk_load.TTS_FORMAT})
    assert status == 200, body
    path = tmp_path_factory.mktemp("audio") / "kitchen.wav"
    path.write_bytes(body)
    return str(path)
