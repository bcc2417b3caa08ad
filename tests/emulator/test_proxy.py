"""Billing calls through a forward proxy: HTTP_PROXY (or http_proxy), HTTP_PROXY_CREDS and NO_PROXY.

The proxy is a tiny HTTP forward proxy in the test process: it records every request, answers 407 without the
right Proxy-Authorization, and relays the others to the billing stub."""
import base64
import collections
import http.server
import json
import threading
import urllib.error
import urllib.request

import pytest

from emulator_support import TEST_KEY, get_json, run_once, wait_until

CREDENTIALS = "proxyuser:proxy-secret"
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY_CREDS", "NO_PROXY", "no_proxy")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}

Seen = collections.namedtuple("Seen", "method url authorized")


class RecordingProxy:
    def __init__(self, credentials):
        self.expected = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.seen = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self, authorized=True):
        return [seen.url.split("/emulator/v1", 1)[-1] for seen in self.seen if seen.authorized == authorized]

    def _handler(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def relay(self):
                authorized = self.headers.get("Proxy-Authorization") == proxy.expected
                proxy.seen.append(Seen(self.command, self.path, authorized))
                if not authorized:
                    self.answer(407, b"", {"Proxy-Authenticate": 'Basic realm="test"'})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    with direct.open(urllib.request.Request(self.path, body, headers, method=self.command),
                                     timeout=10) as response:
                        self.answer(response.status, response.read(), {"Content-Type": response.headers["Content-Type"]})
                except urllib.error.HTTPError as error:
                    self.answer(error.code, error.read(), {"Content-Type": error.headers["Content-Type"]})
                except OSError:
                    self.answer(502, b"", {})

            def answer(self, status, body, headers):
                self.send_response(status)
                for name, value in headers.items():
                    if value:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = relay

        return Handler

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch):
    for name in PROXY_VARIABLES:  # the emulator processes inherit this environment
        monkeypatch.delenv(name, raising=False)
    recording = RecordingProxy(CREDENTIALS)
    yield recording
    recording.close()


def connected(stub):
    return ("Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}")


def start_tts(start_emulator, stub, env):
    return start_emulator("neural-text-to-speech", *connected(stub), "Emulator:BillingIntervalSeconds=0.3",
                          locale="en-US", voice="en-US-AriaNeural", env=env)


def api_status(emulator):
    return get_json(emulator.url + "/status")[1]["apiStatus"]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_key_checks_and_usage_reports_go_through_the_proxy_with_its_credentials(start_emulator, stub, proxy, variable):
    tts = start_tts(start_emulator, stub, {variable: proxy.url, "HTTP_PROXY_CREDS": CREDENTIALS})
    assert api_status(tts) == "Valid"
    wait_until(lambda: "/usage" in proxy.paths(), what="a usage report through the proxy")
    assert any(path.startswith("/status") for path in proxy.paths())
    assert proxy.paths(authorized=False) == []
    output = tts.process.output()
    assert "through the proxy" in output and "proxy-secret" not in output


def test_the_licence_download_goes_through_the_proxy(stub, proxy, tmp_path):
    result = run_once(*connected(stub), "DownloadLicense=True", f"Mounts:License={tmp_path}",
                      env={"HTTP_PROXY": proxy.url, "HTTP_PROXY_CREDS": CREDENTIALS})
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "speech-to-text.license").read_text())["containerType"] == "speech-to-text"
    assert proxy.paths() == ["/license"]


def test_wrong_proxy_credentials_leave_the_billing_endpoint_unreachable(start_emulator, stub, proxy):
    tts = start_tts(start_emulator, stub, {"HTTP_PROXY": proxy.url, "HTTP_PROXY_CREDS": "proxyuser:wrong"})
    assert api_status(tts) == "CouldNotConnect"
    assert proxy.paths(authorized=False) and proxy.paths() == []
    assert "407" in tts.process.output()


def test_no_proxy_sends_the_billing_calls_directly(start_emulator, stub, proxy):
    tts = start_tts(start_emulator, stub, {"HTTP_PROXY": proxy.url, "HTTP_PROXY_CREDS": CREDENTIALS,
                                           "NO_PROXY": "localhost,127.0.0.1"})
    assert api_status(tts) == "Valid"
    assert proxy.seen == []
    assert "NO_PROXY names it" in tts.process.output()


@pytest.mark.parametrize("env, message", [
    ({"HTTP_PROXY": "proxy:3128"}, "HTTP_PROXY must be an http(s) URL"),
    ({"HTTP_PROXY": "http://127.0.0.1:3128", "HTTP_PROXY_CREDS": "no-colon"}, "HTTP_PROXY_CREDS must be user:password"),
])
def test_unusable_proxy_settings_stop_the_start(stub, proxy, env, message):
    result = run_once(*connected(stub), env=env)
    assert result.returncode != 0 and message in result.stderr
