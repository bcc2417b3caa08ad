"""Connected mode against the billing stub: key status, revocation, outages and the retry limit."""
import json

from emulator_support import OTHER_KEY, TEST_KEY, get_json, http, wait_until

SSML = "<speak version='1.0'><voice name='en-US-AriaNeural'>hello</voice></speak>"


def synthesize(emulator):
    return http("POST", emulator.url + "/cognitiveservices/v1", SSML.encode(),
                {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})


def start_tts(start_emulator, stub, key=TEST_KEY, retries=3):
    return start_emulator("neural-text-to-speech", "Eula=accept", f"Billing={stub.url}", f"ApiKey={key}",
                          "Emulator:BillingIntervalSeconds=0.3", f"Emulator:BillingRetries={retries}",
                          locale="en-US", voice="en-US-AriaNeural")


def api_status(emulator):
    status, body = get_json(emulator.url + "/status")
    assert status == 200
    return body["apiStatus"]


def test_unknown_key_is_invalid_and_not_served_but_the_container_keeps_running(start_emulator, stub):
    tts = start_tts(start_emulator, stub, key="not-a-key-the-stub-knows")
    assert api_status(tts) == "Invalid"
    status, _headers, body = synthesize(tts)
    assert status == 401 and b"invalid" in body
    assert tts.process.proc.poll() is None
    assert "not-a-key-the-stub-knows" not in tts.process.output()


def test_revoking_a_key_stops_service_and_restoring_it_resumes(start_emulator, start_stub):
    stub = start_stub(keys=(TEST_KEY, OTHER_KEY))
    tts = start_tts(start_emulator, stub)
    other = start_tts(start_emulator, stub, key=OTHER_KEY)
    assert synthesize(tts)[0] == 200 and synthesize(other)[0] == 200
    stub.call("/keys/revoke", {"key": TEST_KEY})
    assert api_status(tts) == "Invalid"
    wait_until(lambda: synthesize(tts)[0] == 401, what="revoked key refused")
    assert api_status(other) == "Valid" and synthesize(other)[0] == 200
    stub.call("/keys", {"key": TEST_KEY, "status": "Valid"})
    wait_until(lambda: synthesize(tts)[0] == 200, what="restored key served")
    usage = stub.call("/usage", {"key": OTHER_KEY})
    wait_until(lambda: stub.call("/usage", {"key": OTHER_KEY})["meters"].get("Characters", 0) >= 10,
               what="usage of the other key")
    assert all(r["keyId"] == usage["keyId"] for r in stub.call("/usage", {"key": OTHER_KEY})["records"])
    state = stub.call("/state")
    assert TEST_KEY not in json.dumps(state) and OTHER_KEY not in json.dumps(state)


def test_outage_stops_queries_until_billing_is_back(start_emulator, start_stub):
    stub = start_stub()
    tts = start_tts(start_emulator, stub, retries=100)  # 30 s before it would give up for good
    assert synthesize(tts)[0] == 200
    stub.call("/mode", {"mode": "down"})
    _status, headers, body = http("GET", tts.url + "/status")
    assert json.loads(body)["apiStatus"] == "CouldNotConnect" and headers["Retry-After"]
    wait_until(lambda: synthesize(tts)[0] == 503, timeout=5, what="queries refused during the outage")
    assert tts.ready()  # still running and ready; only queries stop
    stub.call("/mode", {"mode": "up"})
    wait_until(lambda: synthesize(tts)[0] == 200, timeout=5, what="service back with billing")


def test_after_the_retries_the_container_stops_serving_for_good(start_emulator, start_stub):
    stub = start_stub()
    tts = start_tts(start_emulator, stub)
    stub.call("/mode", {"mode": "down"})
    wait_until(lambda: tts.status_of("/ready") == 503, timeout=10, what="retries exhausted")
    assert "retries" in tts.process.output()
    stub.call("/mode", {"mode": "up"})
    status, body = get_json(tts.url + "/status")
    assert body["apiStatus"] == "CouldNotConnect" and "no longer serves" in body["apiStatusMessage"]
    assert synthesize(tts)[0] == 503
    assert tts.process.proc.poll() is None


def test_busy_billing_endpoint(start_emulator, start_stub):
    stub = start_stub()
    tts = start_tts(start_emulator, stub)
    stub.call("/mode", {"mode": "busy"})
    assert api_status(tts) == "BillingEndpointBusy"
    stub.call("/mode", {"mode": "up"})
    assert api_status(tts) == "Valid"


def test_admin_api_validates_input(stub):
    assert http("POST", stub.admin + "/mode", {"mode": "sideways"})[0] == 400
    assert http("POST", stub.admin + "/keys", {"key": "k", "status": "Maybe"})[0] == 400
    assert stub.call("/state")["mode"] == "up"
