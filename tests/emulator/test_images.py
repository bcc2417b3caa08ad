"""Build the emulator images with Docker from the sandbox base image, run containers, probe them from the
host through ports published on 127.0.0.1. Everything the test creates is named speechops-emutest-* (or
tagged with the test registry prefix) and removed at the end, also on failure. The program image
(speechops/speech-emulator:bookworm) is a build cache shared with build.sh and is kept."""
import json
import os
import subprocess
import time
import uuid

import pytest

from emulator_support import EMULATOR_DIR, TEST_KEY, get_json, http, wait_until

pytestmark = pytest.mark.docker

PREFIX = "speechops-emutest.local"
SPEECH = f"{PREFIX}/azure-cognitive-services/speechservices"
DIAGNOSTIC = f"{PREFIX}/azure-cognitive-services/diagnostic:latest"
RUN_ID = uuid.uuid4().hex[:8]
NETWORK_SUBNET = "172.31.216.0/24"


def docker(*args, check=True, timeout=600):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _engine_answers():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def images():
    if not _engine_answers():
        pytest.skip("no Docker engine answers `docker info` (start one with sandbox/engine.sh)")
    base = os.environ.get("BASE_IMAGE", "speechops/base:bookworm")
    if docker("image", "inspect", base, check=False).returncode != 0:
        pytest.skip(f"base image {base} is missing (build it with sandbox/images.sh)")
    references = []
    try:
        started = time.monotonic()
        result = subprocess.run([os.path.join(EMULATOR_DIR, "build.sh"), PREFIX], capture_output=True, text=True,
                                timeout=1200, check=False)
        references = result.stdout.split()
        assert result.returncode == 0, result.stderr
        print(f"build.sh: {len(references)} images in {time.monotonic() - started:.1f}s")
        rerun = time.monotonic()
        again = subprocess.run([os.path.join(EMULATOR_DIR, "build.sh"), PREFIX], capture_output=True, text=True,
                               timeout=600, check=False)
        assert again.stdout.split() == references
        yield {"references": references, "rerun_seconds": time.monotonic() - rerun, "log": again.stderr}
    finally:
        for reference in references:
            docker("image", "rm", reference, check=False)


@pytest.fixture(scope="module")
def network(images):
    name = f"speechops-emutest-net-{RUN_ID}"
    # A fixed small subnet keeps clear of the sandbox's 172.31.213-214.0/24; if it is taken (another run), let
    # Docker choose.
    if docker("network", "create", "--label", "speechops.emutest=1", "--subnet", NETWORK_SUBNET, name,
              check=False).returncode != 0:
        docker("network", "create", "--label", "speechops.emutest=1", name)
    containers = []
    try:
        yield name, containers
    finally:
        for container in containers:
            docker("rm", "-f", container, check=False)
        docker("network", "rm", name, check=False)


def run_container(network, role, image, *settings, port=5000, env=None, alias=None, volumes=(), limits=()):
    name, containers = network
    container = f"speechops-emutest-{role}-{RUN_ID}"
    containers.append(container)
    args = ["run", "-d", "--name", container, "--network", name, "-p", f"127.0.0.1::{port}", *limits]
    for volume in volumes:
        args += ["-v", volume]
    if alias:
        args += ["--network-alias", alias]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    docker(*args, image, *settings)
    host_port = docker("port", container, f"{port}/tcp").stdout.split("\n")[0].rsplit(":", 1)[1]
    return container, f"http://127.0.0.1:{host_port}"


def logs(container):
    result = docker("logs", container, check=False)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def billing_container(network):
    return run_container(network, "billing", f"{PREFIX}/speechops/billing-stub:1.0.0", port=5002,
                         env={"BILLING_STUB_KEYS": TEST_KEY}, alias="billing.sandbox")


@pytest.fixture(scope="module")
def stack(network, billing_container):
    billing = {"Eula": "accept", "Billing": "http://billing.sandbox:5001/", "ApiKey": TEST_KEY}
    fast = ("Emulator:WarmupSeconds=1",)
    services = {
        "stt": run_container(network, "stt", f"{SPEECH}/speech-to-text:5.1.0-amd64-en-us", *fast, env=billing),
        "tts": run_container(network, "tts", f"{SPEECH}/neural-text-to-speech:4.1.0-amd64-en-us-arianeural", *fast,
                             env=billing),
        "lid": run_container(network, "lid", f"{SPEECH}/language-detection:latest", *fast, port=5003, env=billing),
        "broken": run_container(network, "broken", f"{SPEECH}/speech-to-text:5.2.0-amd64-en-us", *fast, env=billing),
    }
    for role in ("stt", "tts", "lid"):
        container, url = services[role]
        try:
            wait_until(lambda: _status(url + "/ready") == 200, timeout=60, what=f"{role} container ready")
        except AssertionError:
            raise AssertionError(logs(container)) from None
    return services


def _status(url):
    try:
        return http("GET", url, timeout=3)[0]
    except OSError:
        return 0


def test_build_script_lists_every_tag_and_reruns_fast(images):
    references = images["references"]
    assert f"{SPEECH}/speech-to-text:5.1.0-amd64-en-us" in references
    assert f"{SPEECH}/neural-text-to-speech:4.1.0-amd64-en-us-arianeural" in references
    assert f"{SPEECH}/language-detection:1.18.0-amd64-preview" in references
    assert f"{SPEECH}/speech-to-text:5.2.0-amd64-en-us" in references
    assert "already up to date" in images["log"] and "built 0 image(s)" in images["log"]
    labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}",
                               f"{SPEECH}/speech-to-text:5.2.0-amd64-en-us").stdout)
    assert labels["com.speechops.emulator.broken"] == "1"


def test_containers_get_ready_and_report_a_valid_key(stack):
    for role in ("stt", "tts", "lid"):
        status, body = get_json(stack[role][1] + "/status")
        assert status == 200 and body["apiStatus"] == "Valid", (role, body)


def test_language_detection_listens_on_5003(stack):
    container = stack["lid"][0]
    ports = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", container).stdout)
    assert ports["5003/tcp"] and "5000/tcp" not in ports  # the image exposes only the port of its kind


def test_containers_run_as_a_non_root_user(stack):
    container = stack["stt"][0]
    assert docker("exec", container, "id", "-u").stdout.strip() == "65532"


def test_tts_container_synthesizes_and_stt_container_recognizes_it(stack, tmp_path):
    sdk = pytest.importorskip("azure.cognitiveservices.speech")
    tts_url, stt_url = stack["tts"][1], stack["stt"][1]
    status, _headers, body = http("POST", tts_url + "/speech/synthesize/cognitiveservices/v1",
                                  b"<speak version='1.0'><voice name='en-US-AriaNeural'>What's the weather like?</voice></speak>",
                                  {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})
    assert status == 200 and body[:4] == b"RIFF"
    config = sdk.SpeechConfig(host=tts_url)
    config.speech_synthesis_voice_name = "en-US-AriaNeural"
    synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    result = synthesizer.speak_text_async("Turn on the lights in the kitchen.").get()
    del synthesizer
    assert result.reason == sdk.ResultReason.SynthesizingAudioCompleted
    wav = tmp_path / "sdk.wav"
    wav.write_bytes(bytes(result.audio_data))
    recognizer = sdk.SpeechRecognizer(speech_config=sdk.SpeechConfig(host=stt_url.replace("http://", "ws://")),
                                      audio_config=sdk.audio.AudioConfig(filename=str(wav)))
    recognized = recognizer.recognize_once()
    assert recognized.text == "Turn on the lights in the kitchen."


def test_engine_slots_follow_the_container_limits_and_decoder_max_count(stack, network, billing_container):
    billing = {"Eula": "accept", "Billing": "http://billing.sandbox:5001/", "ApiKey": TEST_KEY}
    lid = f"{SPEECH}/language-detection:latest"
    started = {
        4: run_container(network, "lid-small", lid, port=5003, env=billing, limits=("--cpus", "1", "--memory", "1g")),
        6: run_container(network, "lid-large", lid, port=5003, env=billing, limits=("--cpus", "2", "--memory", "2g")),
        3: run_container(network, "stt-3", f"{SPEECH}/speech-to-text:5.1.0-amd64-en-us", env=dict(billing, DECODER_MAX_COUNT="3")),
    }
    for slots, (container, url) in started.items():
        try:
            wait_until(lambda: _status(url + "/emulator/engine") == 200, timeout=60, what=f"{container} listening")
        except AssertionError:
            raise AssertionError(logs(container)) from None
        assert get_json(url + "/emulator/engine")[1]["slots"] == slots, logs(container)
        assert f"Engine: {slots} slots" in logs(container)
    assert get_json(stack["tts"][1] + "/emulator/engine")[1]["slots"] == 2


def test_broken_version_never_becomes_ready(stack):
    container, url = stack["broken"]
    wait_until(lambda: _status(url + "/status") == 200, timeout=30, what="broken container listening")
    time.sleep(3)
    assert _status(url + "/ready") == 503
    assert "Model load failed" in logs(container)


def test_container_refuses_to_start_without_eula(images):
    result = docker("run", "--rm", "--name", f"speechops-emutest-noeula-{RUN_ID}",
                    f"{SPEECH}/speech-to-text:5.1.0-amd64-en-us", "Billing=http://billing.sandbox:5001/", "ApiKey=x",
                    check=False, timeout=60)
    assert result.returncode != 0 and "Eula" in result.stderr


def test_output_mount_must_be_writable_by_the_container_user(images, tmp_path):
    folder = tmp_path / "root-owned"
    folder.mkdir(mode=0o755)
    result = docker("run", "--rm", "--name", f"speechops-emutest-ro-{RUN_ID}", "-v", f"{folder}:/output",
                    f"{SPEECH}/speech-to-text:5.1.0-amd64-en-us", "Eula=accept", "Billing=http://127.0.0.1:9/",
                    "ApiKey=x", "Logging:Disk:Format=json", "Mounts:Output=/output", check=False, timeout=60)
    assert result.returncode != 0 and "not writable by uid 65532" in result.stderr


def test_disconnected_mode_with_mounts_owned_by_the_container_user(stack, network, tmp_path):
    image = f"{SPEECH}/neural-text-to-speech:4.1.0-amd64-en-us-arianeural"
    licence, output = tmp_path / "license", tmp_path / "output"
    for folder in (licence, output):
        folder.mkdir()
        os.chown(folder, 65532, 65532)  # what `chown nonroot:nonroot` does on a host with that user
    download = docker("run", "--rm", "--name", f"speechops-emutest-dl-{RUN_ID}", "--network", network[0],
                      "-v", f"{licence}:/license", image, "Eula=accept", "Billing=http://billing.sandbox:5001/",
                      f"ApiKey={TEST_KEY}", "DownloadLicense=True", "Mounts:License=/license", check=False, timeout=60)
    assert download.returncode == 0, download.stderr
    assert json.loads((licence / "neural-text-to-speech.license").read_text())["expiresAt"]
    container, url = run_container(network, "disconnected", image, "Eula=accept", "Mounts:License=/license",
                                   "Mounts:Output=/output", "Emulator:WarmupSeconds=1",
                                   volumes=(f"{licence}:/license:ro", f"{output}:/output"))
    try:
        wait_until(lambda: _status(url + "/ready") == 200, timeout=60, what="disconnected container ready")
    except AssertionError:
        raise AssertionError(logs(container)) from None
    status, _headers, body = http("POST", url + "/cognitiveservices/v1",
                                  b"<speak version='1.0'><voice name='en-US-AriaNeural'>Offline.</voice></speak>",
                                  {"Content-Type": "application/ssml+xml",
                                   "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})
    assert status == 200 and body[:4] == b"RIFF"
    assert get_json(url + "/records/usage-logs/")[1]["meters"] == [{"name": "Characters", "quantity": 8}]
    assert list(output.glob("usage-records/*/*.jsonl"))


def test_diagnostic_container_checks_billing_and_key_and_exits(images, network, billing_container):
    """docker run --rm .../azure-cognitive-services/diagnostic eula=accept Billing=... ApiKey=... (Microsoft's diagnostics container)."""
    assert DIAGNOSTIC in images["references"]
    assert docker("image", "inspect", "-f", "{{json .Config.ExposedPorts}}", DIAGNOSTIC).stdout.strip() == "null"
    wait_until(lambda: _status(billing_container[1] + "/healthz") == 200, timeout=30, what="billing stub container")

    def diagnose(key, as_environment=False):
        name = f"speechops-emutest-diag-{uuid.uuid4().hex[:6]}-{RUN_ID}"
        network[1].append(name)  # removed at the end should `--rm` not get to it
        settings = ("eula=accept", "Billing=http://billing.sandbox:5001/", f"ApiKey={key}")
        env = [arg for setting in settings for arg in ("-e", setting)] if as_environment else []
        result = docker("run", "--rm", "--name", name, "--network", network[0], *env, DIAGNOSTIC,
                        *(() if as_environment else settings), check=False, timeout=60)
        assert key not in result.stdout + result.stderr
        return result

    valid = diagnose(TEST_KEY)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "Billing endpoint reachable: OK - billing.sandbox:5001 answered." in valid.stdout
    assert "ApiKey status: Valid" in valid.stdout
    invalid = diagnose("emutest-wrong-key", as_environment=True)
    assert invalid.returncode != 0 and "ApiKey status: Invalid" in invalid.stdout, invalid.stdout + invalid.stderr


def test_billing_outage_and_recovery_through_the_stub_container(stack, network):
    """Runs last: takes the stub's billing listener down and back up through its published admin port."""
    stub_container = [c for c in network[1] if "-billing-" in c][0]
    admin_port = docker("port", stub_container, "5002/tcp").stdout.split("\n")[0].rsplit(":", 1)[1]
    admin = f"http://127.0.0.1:{admin_port}/admin"
    stt_url = stack["stt"][1]
    try:
        assert http("POST", admin + "/mode", {"mode": "down"})[0] == 200
        assert get_json(stt_url + "/status")[1]["apiStatus"] == "CouldNotConnect"
    finally:
        assert http("POST", admin + "/mode", {"mode": "up"})[0] == 200
    assert get_json(stt_url + "/status")[1]["apiStatus"] == "Valid"


def test_the_first_rendering_in_a_fresh_container_is_the_same_as_every_later_one(images):
    """espeak-ng's first runs in a fresh container render slightly different samples; the recognizer keys exact
    fingerprints, so a container whose first rendering went into its phrase table recognized nothing the text to
    speech containers said (audio.render runs espeak-ng once, thrown away, first)."""
    script = ("import asyncio, hashlib\nfrom speech_emulator import audio\n"
              "async def main():\n"
              "    first = await audio.render(\"What's the weather like?\", 'en-us+f3', 16000)\n"
              "    audio._render_cache.clear()\n"
              "    later = await audio.render(\"What's the weather like?\", 'en-us+f3', 16000)\n"
              "    print(hashlib.sha1(first).hexdigest(), hashlib.sha1(later).hexdigest())\n"
              "asyncio.run(main())\n")
    renderings = set()
    for attempt in range(4):
        result = docker("run", "--rm", "--name", f"speechops-emutest-espeak-{RUN_ID}-{attempt}", "--entrypoint", "python3",
                        f"{SPEECH}/speech-to-text:5.1.0-amd64-en-us", "-c", script, timeout=60)
        first, later = result.stdout.split()
        assert first == later, f"fresh container {attempt}: the first rendering differs from a later one"
        renderings.add(first)
    assert len(renderings) == 1, renderings
