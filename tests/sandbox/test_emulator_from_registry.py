"""The emulator images travel the way Microsoft's do: pulled from the sandbox registry (TLS, basic auth),
run on the sandbox network against its billing stub, and used by the real Speech SDK."""
from __future__ import annotations

import time

import pytest

from sandbox_support import docker, http_get, http_json

sdk = pytest.importorskip("azure.cognitiveservices.speech")

SPEECH = "azure-cognitive-services/speechservices"
PHRASE = "Turn on the lights in the kitchen."


def wait_ready(url, container, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_get(url + "/ready")[0] == 200:
            return
        time.sleep(0.3)
    raise AssertionError(f"{container} not ready after {timeout}s:\n{docker('logs', container, check=False).stderr[-2000:]}")


@pytest.fixture(scope="module")
def pulled(sandbox, registry_client):
    references = [f"{sandbox.registry_local}/{SPEECH}/speech-to-text:5.1.0-amd64-en-us",
                  f"{sandbox.registry_local}/{SPEECH}/neural-text-to-speech:4.1.0-amd64-en-us-arianeural"]
    try:
        for reference in references:
            docker("rmi", reference, check=False)  # a stale local tag must not stand in for the pull
            docker("pull", "-q", reference, env=registry_client)
        yield dict(zip(("stt", "tts"), references))
    finally:
        for reference in references:
            docker("rmi", reference, check=False)


@pytest.fixture(scope="module")
def running(sandbox, pulled, tmp_path_factory):
    env_file = tmp_path_factory.mktemp("env") / "speech.env"
    env_file.write_text(f"Eula=accept\nBilling={sandbox.billing}\nApiKey={sandbox.file('api-key')}\n")
    env_file.chmod(0o600)
    started = {}
    try:
        for role, reference in pulled.items():
            name = f"{sandbox.prefix}-pytest-{role}-{sandbox.run_id}"
            docker("run", "-d", "--name", name, "--network", sandbox.network, "--env-file", str(env_file),
                   "-p", "127.0.0.1::5000", reference, "Emulator:WarmupSeconds=1")
            port = docker("port", name, "5000/tcp").stdout.split("\n")[0].rsplit(":", 1)[1]
            started[role] = (name, f"http://127.0.0.1:{port}")
        for name, url in started.values():
            wait_ready(url, name)
        yield started
    finally:
        for name, _url in started.values():
            docker("rm", "-f", name, check=False)


def test_pulled_containers_report_a_valid_key(running):
    for name, url in running.values():
        status, body = http_json(url + "/status")
        assert status == 200 and body["apiStatus"] == "Valid", (name, body)


def test_the_sdk_synthesizes_and_recognizes_through_pulled_containers(running, tmp_path):
    config = sdk.SpeechConfig(host=running["tts"][1])
    config.speech_synthesis_voice_name = "en-US-AriaNeural"
    config.set_speech_synthesis_output_format(sdk.SpeechSynthesisOutputFormat.Riff16Khz16BitMonoPcm)
    synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    result = synthesizer.speak_text_async(PHRASE).get()
    del synthesizer
    assert result.reason == sdk.ResultReason.SynthesizingAudioCompleted
    audio = bytes(result.audio_data)
    assert audio[:4] == b"RIFF" and len(audio) > 16000  # more than half a second of 16 kHz speech

    wav = tmp_path / "phrase.wav"
    wav.write_bytes(audio)
    recognizer = sdk.SpeechRecognizer(speech_config=sdk.SpeechConfig(host=running["stt"][1].replace("http://", "ws://")),
                                      audio_config=sdk.audio.AudioConfig(filename=str(wav)))
    recognized = recognizer.recognize_once()
    del recognizer
    assert recognized.reason == sdk.ResultReason.RecognizedSpeech
    assert recognized.text == PHRASE
