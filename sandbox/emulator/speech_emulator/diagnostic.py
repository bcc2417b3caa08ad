"""The diagnostics container (Microsoft Learn, Azure AI containers diagnostics): ``mcr.microsoft.com/azure-cognitive-services/diagnostic``.

    docker run --rm <registry>/azure-cognitive-services/diagnostic eula=accept Billing={ENDPOINT_URI} ApiKey={API_KEY}

Microsoft documents only that it "tests for network connectivity to the billing endpoint" and diagnoses
"common errors in your deployment environment"; one user got ``Invalid Billing Endpoint URI.`` from it.
No port, no service: it reads the same settings as the Speech containers (arguments and environment
variables, settings.py), runs its checks once, prints one line per check to stdout and exits 0 when every
check passed, 1 otherwise. The key check is the call a Speech container makes at start
(``BillingClient.check``). The ApiKey is never printed.
"""
import asyncio
import collections
import logging
import os
import socket
import sys
import urllib.parse

from . import billing_client
from .settings import Settings, SettingsError

KIND = "diagnostic"
TIMEOUT_SECONDS = 5.0
HEADER = "Azure AI services container diagnostics (speech emulator)"

Check = collections.namedtuple("Check", "name result detail passed")


def _ok(name, detail=""):
    return Check(name, "OK", detail, True)


def _failed(name, detail):
    return Check(name, "FAILED", detail, False)


def _skipped(name, why):
    return Check(name, "SKIPPED", why, False)


def _masked(text, api_key):
    """User input shown in the report, with the ApiKey masked should it appear in it (e.g. pasted into Billing)."""
    return text.replace(api_key, "***") if api_key else text


async def _connect(host, port, timeout):
    """None when a TCP connection to host:port opens, else why not."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return f"no answer within {timeout:g} s"
    except socket.gaierror as error:
        return f"the name does not resolve ({error.strerror})"
    except OSError as error:  # asyncio words a refusal "Connect call failed (...)": show the errno's text
        return os.strerror(error.errno) if error.errno else str(error)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return None


async def run_checks(settings, environ, timeout=TIMEOUT_SECONDS):
    """The list of Checks, in report order."""
    checks = []
    eula = (settings.get("Eula") or "").strip().lower() == "accept"
    checks.append(_ok("Eula accepted") if eula else
                  _failed("Eula accepted", "The Eula setting must be 'accept'. Start the container with Eula=accept."))

    endpoint, api_key = settings.get("Billing"), settings.get("ApiKey")
    if endpoint is None:
        checks.append(_failed("Billing URI valid", "Missing required setting Billing (the endpoint URI of the Speech "
                                                   "resource, e.g. https://<name>.cognitiveservices.azure.com)."))
    elif not billing_client.valid_endpoint(endpoint):
        checks.append(_failed("Billing URI valid", "Invalid Billing Endpoint URI."))
    else:
        checks.append(_ok("Billing URI valid", _masked(endpoint, api_key)))
    uri_ok = checks[-1].passed
    key_missing = _failed("ApiKey status", "Missing required setting ApiKey.") if api_key is None else None

    if not eula:
        why = "Eula not accepted: no network checks."
        checks += [_skipped("Billing endpoint reachable", why), _skipped("ApiKey status", why)]
        return checks
    if not uri_ok:
        why = "no valid Billing URI."
        checks += [_skipped("Billing endpoint reachable", why), key_missing or _skipped("ApiKey status", why)]
        return checks

    parsed = urllib.parse.urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = _masked(f"[{parsed.hostname}]:{port}" if ":" in parsed.hostname else f"{parsed.hostname}:{port}", api_key)
    problem = await _connect(parsed.hostname, port, timeout)
    if problem:
        checks += [_failed("Billing endpoint reachable", f"cannot connect to {address}: {problem}."),
                   key_missing or _skipped("ApiKey status", "the billing endpoint is unreachable.")]
        return checks
    if key_missing:
        checks += [_ok("Billing endpoint reachable", f"{address} accepts connections."), key_missing]
        return checks

    client = billing_client.BillingClient(endpoint, api_key, KIND, environ.get("EMULATOR_VERSION", "1.0.0"),
                                          socket.gethostname(), interval=0, retries=1, timeout=timeout)
    try:
        status = await client.check()
    finally:
        await client.close()
    if status == "CouldNotConnect":
        checks += [_failed("Billing endpoint reachable", f"{address} accepts connections, but the billing API did not "
                                                         f"answer ({billing_client.message_for(status)})"),
                   _skipped("ApiKey status", "the billing endpoint is unreachable.")]
        return checks
    checks.append(_ok("Billing endpoint reachable", f"{address} answered."))
    detail = billing_client.message_for(status) if status in billing_client.MESSAGES and status != "Unknown" else \
        "The endpoint answered, but not as a billing endpoint does. Check the Billing URI."
    checks.append(Check("ApiKey status", status, detail, status == "Valid"))
    return checks


def report(checks):
    """The report lines: a header, one line per check, a summary."""
    lines = [HEADER]
    for check in checks:
        lines.append(f"{check.name}: {check.result}" + (f" - {check.detail}" if check.detail else ""))
    skipped = sum(check.result == "SKIPPED" for check in checks)
    failed = sum(not check.passed for check in checks) - skipped
    if not failed and not skipped:
        lines.append(f"Diagnostics passed: all {len(checks)} checks OK.")
    else:
        lines.append(f"Diagnostics failed: {failed} of {len(checks)} checks failed" + (f", {skipped} skipped." if skipped else "."))
    return lines


def main(argv=None, environ=None):
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    environ = os.environ if environ is None else environ
    try:
        settings = Settings.from_sources(sys.argv[1:] if argv is None else argv, environ)
    except SettingsError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 1
    checks = asyncio.run(run_checks(settings, environ))
    print("\n".join(report(checks)), flush=True)
    return 0 if all(check.passed for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
