"""The diagnostics container (azure-cognitive-services/diagnostic) as a process on 127.0.0.1 against the billing stub:
one report line per check on stdout, exit 0 only when every check passed, the ApiKey never shown."""
import subprocess
import sys

import pytest

from emulator_support import EMULATOR_DIR, OTHER_KEY, TEST_KEY, _env, free_port

from speech_emulator import billing_client


def diagnose(*settings, env=None, timeout=30):
    """`docker run --rm .../diagnostic <settings>` without Docker: the image runs `python3 -m speech_emulator` with
    EMULATOR_KIND=diagnostic. Checks that no key the tests use appears in the output."""
    environment = _env({"EMULATOR_KIND": "diagnostic", "EMULATOR_VERSION": "1.0.0"})
    environment.update(env or {})
    result = subprocess.run([sys.executable, "-m", "speech_emulator", *settings], cwd=EMULATOR_DIR, env=environment,
                            capture_output=True, text=True, timeout=timeout, check=False)
    for key in (TEST_KEY, OTHER_KEY, "not-a-key-the-stub-knows"):
        assert key not in result.stdout + result.stderr
    return result


def lines(result):
    return result.stdout.splitlines()


def connected(url, key=TEST_KEY):
    return ("eula=accept", f"Billing={url}", f"ApiKey={key}")


def test_valid_key_passes_every_check_and_exits_0(stub):
    result = diagnose(*connected(stub.url))
    assert result.returncode == 0, result.stdout + result.stderr
    report = lines(result)
    assert report[1:] == [
        "Eula accepted: OK",
        f"Billing URI valid: OK - {stub.url}",
        f"Billing endpoint reachable: OK - 127.0.0.1:{stub.port} answered.",
        "ApiKey status: Valid - Api Key is valid, no action needed.",
        "Diagnostics passed: all 4 checks OK.",
    ]
    assert result.stderr == ""


def test_settings_as_environment_variables_like_the_other_images(stub):
    result = diagnose(env={"EULA": "accept", "billing": stub.url, "ApiKey": TEST_KEY})
    assert result.returncode == 0, result.stdout
    assert "ApiKey status: Valid - Api Key is valid, no action needed." in lines(result)


def test_invalid_key_fails_with_the_invalid_line(stub):
    result = diagnose(*connected(stub.url, key="not-a-key-the-stub-knows"))
    assert result.returncode != 0
    assert "Billing endpoint reachable: OK" in result.stdout
    assert "ApiKey status: Invalid - The Api Key is invalid. Check the ApiKey and Billing settings." in lines(result)
    assert lines(result)[-1] == "Diagnostics failed: 1 of 4 checks failed."


@pytest.mark.parametrize("status", ["Mismatch", "OutOfQuota", "ContainerUseUnauthorized"])
def test_other_key_statuses_are_reported_as_the_stub_answers(stub, status):
    stub.call("/keys", {"key": OTHER_KEY, "status": status})
    result = diagnose(*connected(stub.url, key=OTHER_KEY))
    assert result.returncode != 0
    assert f"ApiKey status: {status} - {billing_client.message_for(status)}" in lines(result)


def test_busy_billing_endpoint_is_reachable_but_the_key_not_valid(start_stub):
    busy = start_stub()
    busy.call("/mode", {"mode": "busy"})
    result = diagnose(*connected(busy.url))
    assert result.returncode != 0
    assert "Billing endpoint reachable: OK" in result.stdout
    assert "ApiKey status: BillingEndpointBusy - The billing endpoint is busy. Retry later." in lines(result)


@pytest.mark.parametrize("down", ["stub in mode down", "nothing listens"])
def test_unreachable_billing_endpoint_fails_with_an_unreachable_line(start_stub, down):
    if down == "stub in mode down":
        stopped = start_stub()
        stopped.call("/mode", {"mode": "down"})
        url, port = stopped.url, stopped.port
    else:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
    result = diagnose(*connected(url))
    assert result.returncode != 0
    assert f"Billing endpoint reachable: FAILED - cannot connect to 127.0.0.1:{port}: Connection refused." in lines(result)
    assert "ApiKey status: SKIPPED - the billing endpoint is unreachable." in lines(result)
    assert lines(result)[-1] == "Diagnostics failed: 1 of 4 checks failed, 1 skipped."


def test_unresolvable_billing_host_is_unreachable():
    result = diagnose(*connected("http://billing.invalid:5001/"))
    assert result.returncode != 0
    assert "Billing endpoint reachable: FAILED - cannot connect to billing.invalid:5001: the name does not resolve" \
        in result.stdout


@pytest.mark.parametrize("uri", ["not-a-url", "billing.sandbox:5001", "ftp://billing.sandbox/", "http://:5001/",
                                 "http://billing.sandbox:port/"])
def test_bad_billing_uri_is_an_invalid_billing_endpoint_uri(uri):
    result = diagnose(*connected(uri))
    assert result.returncode != 0
    assert "Billing URI valid: FAILED - Invalid Billing Endpoint URI." in lines(result)
    assert "Billing endpoint reachable: SKIPPED - no valid Billing URI." in lines(result)


def test_missing_settings_fail_their_checks(stub):
    result = diagnose("eula=accept", f"Billing={stub.url}")
    assert result.returncode != 0
    assert "Billing endpoint reachable: OK - 127.0.0.1:%d accepts connections." % stub.port in lines(result)
    assert "ApiKey status: FAILED - Missing required setting ApiKey." in lines(result)
    result = diagnose("eula=accept", f"ApiKey={TEST_KEY}")
    assert result.returncode != 0
    assert any(line.startswith("Billing URI valid: FAILED - Missing required setting Billing") for line in lines(result))


def test_eula_not_accepted_fails_and_skips_the_network_checks(stub):
    result = diagnose(f"Billing={stub.url}", f"ApiKey={TEST_KEY}")
    assert result.returncode != 0
    assert lines(result)[1].startswith("Eula accepted: FAILED - The Eula setting must be 'accept'.")
    assert "ApiKey status: SKIPPED - Eula not accepted: no network checks." in lines(result)


def test_a_key_pasted_into_the_billing_uri_is_masked(stub):
    result = diagnose(*connected(f"{stub.url}{TEST_KEY}"))  # diagnose() asserts the key is not in the output
    assert f"Billing URI valid: OK - {stub.url}***" in lines(result)
    assert result.returncode != 0  # the stub has no billing API under that path


def test_unreadable_argument_is_an_error_on_stderr():
    result = diagnose("eula=accept", "=oops")
    assert result.returncode != 0 and result.stdout == "" and "expected Key=Value" in result.stderr


@pytest.mark.parametrize("uri, valid", [
    ("http://billing.sandbox:5001/", True), ("https://contoso.cognitiveservices.azure.com", True),
    ("http://[::1]:5001/", True), ("not-a-url", False), ("http://:5001/", False), ("ftp://host/", False),
    ("http://host:99999/", False), ("", False), (None, False),
])
def test_valid_endpoint_is_shared_with_the_speech_containers(uri, valid):
    assert billing_client.valid_endpoint(uri) is valid
