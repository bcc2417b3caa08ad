# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health gate for one Speech container: /ready, /status and a smoke test (contract 3.2-3.4, A12).

Stdlib only; Python 3.8+; no Ansible imports (the probe module wraps it).

- ``/ready`` answers 200 once the container accepts queries (A1); a first start pages models in, so the
  wait is long. Only the HTTP status decides: the body is not documented (3.2).
- ``/status`` answers JSON with ``apiStatus`` and ``apiStatusMessage`` (A1, C1). CouldNotConnect and
  BillingEndpointBusy carry ``Retry-After`` (A12): /status is asked again after that time while the
  status timeout lasts.
- Smoke tests: ``tts`` posts SSML to the REST synthesis path (D7, A19) and checks for RIFF/WAVE audio;
  ``websocket`` performs the HTTP/1.1 WebSocket upgrade (RFC 6455) on a recognition path (D4, A6) and
  closes the connection at once, with no Speech SDK protocol turn.

Requests never go through a proxy (HTTP_PROXY must not apply to a probe of 127.0.0.1) and carry no
secret. Time, HTTP and sockets are injectable (``Prober(clock=, sleep=, opener=, connect=)``) so tests
run without real waiting. Nothing here raises on a bad answer: every result is a dict that says what
was seen, and the *_failure_message functions turn it into words for the operator.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import email.utils
import hashlib
import json
import os
import socket
import ssl
import struct
import tempfile
import time
import uuid
from datetime import datetime, timezone
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import ProxyHandler, Request, build_opener
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils._scrub import scrub

READY_PATH = "/ready"
STATUS_PATH = "/status"
# The smoke tests' paths and names are the catalog's (contract 3.3, 3.4).
TTS_PATH = catalog.TTS_PATH
STT_PATH = catalog.STT_PATH
LID_PATH = catalog.LID_PATH

SMOKE_TTS = catalog.SMOKE_TTS
SMOKE_WEBSOCKET = catalog.SMOKE_WEBSOCKET
SMOKE_NONE = "none"

# Per kind: (smoke test, path), from the catalog's "smoke_test".
SMOKE_TESTS = catalog.per_kind("smoke_test")

# Seconds to wait for /ready: per kind the catalog's "ready_timeout_seconds" (a first start pages models in, A1),
# without a kind DEFAULT_READY_TIMEOUT.
DEFAULT_READY_TIMEOUT = 300
READY_TIMEOUTS = catalog.per_kind("ready_timeout_seconds")

# apiStatus values of A12; the two that carry Retry-After are worth asking again.
API_STATUSES = ("Valid", "Invalid", "Mismatch", "CouldNotConnect", "OutOfQuota", "BillingEndpointBusy",
                "ContainerUseUnauthorized", "Unknown")
RETRY_STATUSES = ("CouldNotConnect", "BillingEndpointBusy")

TTS_OUTPUT_FORMAT = "riff-16khz-16bit-mono-pcm"
TTS_SAMPLE_RATE = 16000
TTS_TEXT = "Speech container health check."
TTS_MIN_BYTES = 1024  # a 44-byte header plus about 30 ms of 16 kHz 16-bit audio
WAVE_FORMAT_PCM = 1

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
USER_AGENT = "speechops-probe/1.0"

REQUEST_TIMEOUT = 10.0  # one /ready or /status request
SYNTHESIS_TIMEOUT = 60.0  # the first synthesis of a fresh container can be slow
WEBSOCKET_TIMEOUT = 10.0
BODY_LIMIT = 64 * 1024  # /ready, /status and error bodies
AUDIO_LIMIT = 16 * 1024 * 1024
HANDSHAKE_LIMIT = 64 * 1024
EXCERPT_CHARS = 300


def redact(text):
    """Every text this module returns, whatever a container or proxy put in its answer, goes through the collection's
    scrubber: a URL's password, ApiKey=..., Authorization: ... and anything that looks like a key (32+ letters and
    digits in a row: Azure keys are 32 hex or 84 alphanumerics) become <masked>."""
    return scrub(text or "", key_like=True)


def excerpt(body, limit=EXCERPT_CHARS):
    """A body as one short line of text for a message: decoded, whitespace collapsed, key-like runs redacted."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = redact(" ".join(body.split()))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def safe_endpoint(endpoint):
    """A billing endpoint for display: scheme, host, port and path only (no user:password, query or fragment)."""
    if not endpoint:
        return None
    try:
        parts = urlsplit(endpoint.strip())
        netloc = parts.hostname or ""
        if parts.port:
            netloc += ":" + str(parts.port)
    except ValueError:
        return excerpt(endpoint, 120)
    if not parts.scheme or not netloc:
        return excerpt(endpoint, 120)
    return redact(parts.scheme + "://" + netloc + parts.path)


# --- apiStatus in words --------------------------------------------------------------------------

def describe_status(api_status, message, billing_endpoint=None):
    """apiStatus of /status in words for an operator, with what to do (A12 status table, 4.1, 5).

    The container's own apiStatusMessage is appended (key-like strings redacted); the key itself is never
    known here and never mentioned.
    """
    endpoint = safe_endpoint(billing_endpoint)
    where = endpoint or "the Billing endpoint"
    phrases = {
        "Valid": "ok: the ApiKey is valid for {0}, no action needed".format(where),
        "Invalid": (
            "the ApiKey is not valid for {0}: give the container the key of the Speech resource whose "
            "endpoint is Billing (Keys and Endpoint in the Azure portal)".format(where)
        ),
        "Mismatch": (
            "the ApiKey or the Billing endpoint belongs to a different kind of Azure AI resource or region: "
            "use the key and endpoint of one Speech resource (F0 or S0), taken from the same Keys and Endpoint page"
        ),
        "CouldNotConnect": (
            "the container cannot reach {0}: check DNS, the firewall (outbound 443 to *.cognitive.microsoft.com "
            "and *.cognitiveservices.azure.com, no deep packet inspection) and the container's proxy settings "
            "(HTTP_PROXY, with NO_PROXY=localhost,127.0.0.1); it serves no queries meanwhile and stops serving "
            "for good after 10 failed billing retries, until it is restarted".format(where)
        ),
        "OutOfQuota": (
            "the resource of the ApiKey is out of quota: upgrade its pricing tier or wait until more quota "
            "is available"
        ),
        "BillingEndpointBusy": (
            "{0} is busy: wait for the Retry-After time before asking again".format(where[0].upper() + where[1:])
        ),
        "ContainerUseUnauthorized": (
            "the ApiKey is not authorized to use this container: the resource's subscription is not approved "
            "for this (gated or disconnected) container; request approval "
            "(https://aka.ms/csdisconnectedcontainers for disconnected use)"
        ),
        "Unknown": "the container cannot process billing requests at the moment (apiStatus Unknown)",
    }
    if api_status is None:
        words = "/status gave no apiStatus"
    elif api_status in phrases:
        words = phrases[api_status]
    else:
        words = "unrecognised apiStatus {0!r} (documented: {1})".format(excerpt(str(api_status), 60), ", ".join(API_STATUSES))
    detail = excerpt(message) if message else ""
    if detail:
        words += " (container says: {0})".format(detail)
    return words


# --- HTTP ----------------------------------------------------------------------------------------

def no_proxy_opener():
    """A urllib opener that ignores HTTP_PROXY/HTTPS_PROXY/no_proxy: probes go straight to the container."""
    return build_opener(ProxyHandler({}))


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date), or None."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, (when - datetime.fromtimestamp(current, timezone.utc)).total_seconds())


def answer(status=None, headers=None, body=b"", error=None):
    """One HTTP answer: status (None when no answer came), lower-cased headers, body bytes, transport error."""
    return {"status": status, "headers": dict((k.lower(), v) for k, v in (headers or {}).items()), "body": body, "error": error}


def describe_answer(result):
    """An answer in words: "HTTP 503: {...}" or "no answer (connection refused)"."""
    if result is None:
        return "none yet"
    if result.get("status") is None:
        return "no answer ({0})".format(result.get("error") or "unknown error")
    text = excerpt(result.get("body"))
    return "HTTP {0}: {1}".format(result["status"], text) if text else "HTTP {0} (empty body)".format(result["status"])


def _transport_error(error):
    reason = getattr(error, "reason", None)
    if reason is not None:
        error = reason
    if isinstance(error, socket.timeout):
        return "timed out"
    text = str(error) or error.__class__.__name__
    return redact(text)


def split_base_url(url):
    """(scheme, host, port, path prefix) of a base URL such as http://127.0.0.1:5100; ValueError otherwise."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError("url {0!r} must start with http:// or https://".format(url))
    if not parts.hostname:
        raise ValueError("url {0!r} names no host".format(url))
    if parts.username or parts.password:
        raise ValueError("url must not carry a user or password")
    if parts.query or parts.fragment:
        raise ValueError("url {0!r} must be a base URL without query or fragment".format(url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


class Prober(object):
    """Probes of the container at ``base_url``.

    Injectable: ``opener`` (urllib opener, default: no proxy), ``connect`` (socket.create_connection),
    ``clock`` (monotonic seconds), ``sleep``, ``wall_clock`` (epoch seconds, for Retry-After dates),
    ``random_bytes`` (for the WebSocket key).
    """

    def __init__(self, base_url, opener=None, connect=None, clock=None, sleep=None, wall_clock=None,
                 random_bytes=None, request_timeout=REQUEST_TIMEOUT):
        self.scheme, self.host, self.port, self.prefix = split_base_url(base_url)
        self.base_url = base_url.strip().rstrip("/")
        self.opener = opener or no_proxy_opener()
        self.connect = connect or socket.create_connection
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.wall_clock = wall_clock or time.time
        self.random_bytes = random_bytes or os.urandom
        self.request_timeout = request_timeout

    def url(self, path):
        return self.base_url + path

    def fetch(self, method, path, body=None, headers=None, timeout=None, limit=BODY_LIMIT):
        """One request; never raises for HTTP errors or transport failures (see ``answer``)."""
        request = Request(self.url(path), data=body, method=method)
        request.add_header("User-Agent", USER_AGENT)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            response = self.opener.open(request, timeout=timeout or self.request_timeout)
        except HTTPError as error:
            try:
                data = error.read(limit)
            except (OSError, ValueError):
                data = b""
            finally:
                error.close()
            return answer(error.code, dict(error.headers.items()) if error.headers else {}, data)
        except (URLError, OSError, ValueError) as error:
            return answer(error=_transport_error(error))
        try:
            data = response.read(limit)
            return answer(response.status, dict(response.headers.items()), data)
        except (OSError, ValueError) as error:
            return answer(error=_transport_error(error))
        finally:
            response.close()

    def _timeout_within(self, deadline):
        return max(1.0, min(self.request_timeout, deadline - self.clock()))

    # --- /ready ----------------------------------------------------------------------------------

    def wait_ready(self, ready_timeout, interval, stop=None):
        """Poll /ready every ``interval`` seconds until it answers 200 or ``ready_timeout`` seconds passed.

        ``stop(answer)``, when given, is asked after each answer other than 200; True ends the wait early.
        """
        start = self.clock()
        deadline = start + max(0.0, ready_timeout)
        polls = 0
        stopped = False
        while True:
            polls += 1
            last = self.fetch("GET", READY_PATH, timeout=self._timeout_within(deadline))
            if last["status"] == 200:
                break
            if stop is not None and last["status"] is not None and stop(last):
                stopped = True
                break
            now = self.clock()
            if now >= deadline:
                break
            self.sleep(max(0.0, min(interval, deadline - now)))
        return {
            "ready": last["status"] == 200,
            "waited_seconds": round(self.clock() - start, 2),
            "polls": polls,
            "last": last,
            "stopped": stopped,
        }

    def billing_stop(self):
        """A ``stop`` for wait_ready: one look at /status on the first answer other than 200, and True when it
        says the billing endpoint cannot be reached. Such a container does not serve before its next billing
        retry (minutes away), or ever again once it gave up, so waiting out the ready timeout is wasted."""
        seen = []

        def stop(dummy_answer):
            if not seen:
                seen.append(self.check_status(0, 1.0))
            return seen[0]["api_status"] in RETRY_STATUSES
        return stop

    # --- /status ---------------------------------------------------------------------------------

    def check_status(self, status_timeout, interval):
        """apiStatus from /status; CouldNotConnect/BillingEndpointBusy and transport errors are asked again
        after Retry-After (else ``interval``) seconds while ``status_timeout`` lasts."""
        start = self.clock()
        deadline = start + max(0.0, status_timeout)
        attempts = 0
        seen = None  # the last answer that carried an apiStatus
        while True:
            attempts += 1
            # a whole request each time: /status asks the billing endpoint, which may take seconds
            last = self.fetch("GET", STATUS_PATH)
            parsed = parse_status_body(last)
            if parsed["api_status"] is not None:
                seen = (last, parsed)
            retry_after = parse_retry_after(last["headers"].get("retry-after"), self.wall_clock())
            retryable = parsed["api_status"] in RETRY_STATUSES or last["status"] is None
            now = self.clock()
            if not retryable or now >= deadline:
                break
            self.sleep(max(0.0, min(retry_after or interval, deadline - now)))
        if parsed["api_status"] is None and seen is not None:
            last, parsed = seen  # a last try that got no answer says less than the one before it
        parsed.update({
            "http_status": last["status"],
            "retry_after": retry_after,
            "attempts": attempts,
            "waited_seconds": round(self.clock() - start, 2),
            "last": last,
        })
        return parsed

    # --- smoke tests -----------------------------------------------------------------------------

    def tts_smoke(self, voice, save_audio=None, min_bytes=TTS_MIN_BYTES, text=TTS_TEXT):
        """POST SSML for ``voice`` and check for RIFF/WAVE 16 kHz 16-bit mono PCM of at least ``min_bytes``."""
        result = smoke_result(SMOKE_TTS, TTS_PATH)
        result.update({"voice": voice, "output_format": TTS_OUTPUT_FORMAT, "content_type": None, "bytes": None,
                       "audio": None, "saved_to": None})
        started = self.clock()
        reply = self.fetch("POST", TTS_PATH, body=build_ssml(voice, text).encode("utf-8"), headers={
            "Content-Type": "application/ssml+xml",
            "X-Microsoft-OutputFormat": TTS_OUTPUT_FORMAT,
            "Accept": "audio/*",
        }, timeout=SYNTHESIS_TIMEOUT, limit=AUDIO_LIMIT)
        result["elapsed_seconds"] = round(self.clock() - started, 2)
        result["http_status"] = reply["status"]
        result["content_type"] = reply["headers"].get("content-type")
        body = reply["body"] or b""
        result["bytes"] = len(body) if reply["status"] is not None else None
        result["error"] = tts_problem(reply, voice, min_bytes)
        if result["error"] is None:
            result["audio"] = parse_wav_header(body)
            result["error"] = audio_format_problem(result["audio"])
        if result["error"] is None and save_audio:
            try:
                write_file(save_audio, body)
                result["saved_to"] = save_audio
            except (IOError, OSError) as error:
                result["error"] = "the audio could not be written to {0}: {1}".format(save_audio, error.strerror or error)
        result["ok"] = result["error"] is None
        return result

    def websocket_smoke(self, path, timeout=WEBSOCKET_TIMEOUT):
        """WebSocket upgrade on ``path``: expect 101 with the right Sec-WebSocket-Accept, then close."""
        result = smoke_result(SMOKE_WEBSOCKET, path)
        result["accept_valid"] = False
        key = base64.b64encode(self.random_bytes(16)).decode("ascii")
        started = self.clock()
        sock = None
        try:
            sock = self.connect((self.host, self.port), timeout)
            sock.settimeout(timeout)
            if self.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            sock.sendall(upgrade_request(self.host, self.port, self.prefix + path, key, self.scheme))
            head, rest = read_http_head(sock)
            status, headers = parse_http_head(head)
            result["http_status"] = status
            result["error"] = handshake_problem(status, headers, key)
            result["accept_valid"] = headers.get("sec-websocket-accept") == websocket_accept(key)
            if status is not None and status != 101:
                body = read_body_excerpt(sock, rest, headers)
                result["error"] += describe_body(body)
            if result["error"] is None:
                sock.sendall(close_frame(self.random_bytes(4)))
        except socket.timeout:
            result["error"] = "no complete answer to the WebSocket upgrade within {0:g} s".format(timeout)
        except (OSError, ValueError) as error:
            result["error"] = "WebSocket upgrade failed: {0}".format(_transport_error(error))
        finally:
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        result["elapsed_seconds"] = round(self.clock() - started, 2)
        result["ok"] = result["error"] is None
        return result

    def smoke(self, kind, voice=None, save_audio=None):
        """The smoke test of a kind (SMOKE_TESTS)."""
        test, path = SMOKE_TESTS[kind]
        if test == SMOKE_TTS:
            return self.tts_smoke(voice, save_audio=save_audio)
        return self.websocket_smoke(path)


def reaches_billing(endpoint, opener=None, timeout=REQUEST_TIMEOUT):
    """Whether the billing endpoint answers a GET from this host: any HTTP answer but 429 or 5xx counts (an
    Azure endpoint answers 404 or 401 to a bare GET), so it is asked without any user:password it carries.
    Returns {endpoint, reachable, answer}."""
    shown = safe_endpoint(endpoint)
    try:
        prober = Prober(_without_credentials(endpoint), opener=opener, request_timeout=timeout)
    except ValueError as error:
        return {"endpoint": shown, "reachable": False, "answer": "not asked: {0}".format(excerpt(str(error), 120))}
    reply = prober.fetch("GET", "/")
    reachable = reply["status"] is not None and reply["status"] < 500 and reply["status"] != 429
    return {"endpoint": shown, "reachable": reachable, "answer": describe_answer(reply)}


def _without_credentials(url):
    """url without the user:password of its authority (a bad URL as it is: Prober says what is wrong with it)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def parse_status_body(result):
    """{api_status, api_status_message} of a /status answer; both None when it carries no JSON status."""
    parsed = {"api_status": None, "api_status_message": None, "problem": None}
    if result["status"] is None:
        parsed["problem"] = "no answer from /status ({0})".format(result["error"])
        return parsed
    try:
        document = json.loads((result["body"] or b"").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("apiStatus"), str):
        parsed["problem"] = "/status answered {0} without an apiStatus".format(describe_answer(result))
        return parsed
    parsed["api_status"] = document["apiStatus"]
    message = document.get("apiStatusMessage")
    parsed["api_status_message"] = redact(message) if isinstance(message, str) else None
    if result["status"] != 200:
        parsed["problem"] = "/status answered HTTP {0}".format(result["status"])
    return parsed


def smoke_result(test, path):
    return {"test": test, "ok": None, "path": path, "http_status": None, "error": None, "elapsed_seconds": None}


def skipped_smoke():
    return smoke_result(SMOKE_NONE, None)


# --- TTS -----------------------------------------------------------------------------------------

def voice_locale(voice):
    """xml:lang of an SSML voice name: en-US for en-US-AriaNeural, zh-CN-sichuan for zh-CN-sichuan-YunxiNeural."""
    locale, sep, dummy_name = (voice or "").rpartition("-")
    return locale if sep and locale else "en-US"


def build_ssml(voice, text=TTS_TEXT):
    """The documented SSML shape (A5): speak > voice name=... > text."""
    return (
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang={0}>'
        "<voice name={1}>{2}</voice></speak>"
    ).format(quoteattr(voice_locale(voice)), quoteattr(voice or ""), escape(text))


def tts_problem(reply, voice, min_bytes):
    """Why a synthesis answer is not the audio asked for, or None."""
    body = reply["body"] or b""
    if reply["status"] is None:
        return "no answer to the synthesis request ({0})".format(reply["error"])
    if reply["status"] != 200:
        problem = "synthesis answered {0}".format(describe_answer(reply))
        if b"Voice does not match" in body:
            problem += " - the container does not serve voice {0!r}; set voice to the voice of its image".format(voice)
        elif reply["status"] == 415:
            problem += " - the container wants Content-Type application/ssml+xml"
        return problem
    if body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return "synthesis answered HTTP 200 with {0} bytes of {1}, not RIFF/WAVE audio: {2}".format(
            len(body), reply["headers"].get("content-type") or "unknown content", excerpt(body[:200], 120) or "(empty)")
    if len(body) < min_bytes:
        return "synthesis answered only {0} bytes of RIFF/WAVE audio, expected at least {1}".format(len(body), min_bytes)
    return None


def parse_wav_header(data):
    """{format_tag, channels, sample_rate, bits_per_sample, data_bytes} of a RIFF/WAVE byte string, None if not one.

    Lenient about sizes: streamed WAV writes 0 or 0xFFFFFFFF for the RIFF and data sizes.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    info = {"format_tag": None, "channels": None, "sample_rate": None, "bits_per_sample": None, "data_bytes": None}
    pos = 12
    while pos + 8 <= len(data):
        chunk = data[pos:pos + 4]
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk == b"fmt " and pos + 24 <= len(data):
            tag, channels, rate, dummy_byte_rate, dummy_align, bits = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
            info.update({"format_tag": tag, "channels": channels, "sample_rate": rate, "bits_per_sample": bits})
        elif chunk == b"data":
            available = len(data) - pos - 8
            info["data_bytes"] = available if size in (0, 0xFFFFFFFF) else min(size, available)
            break
        pos += 8 + size + (size & 1)
    return info


def audio_format_problem(audio):
    """Why the RIFF header is not 16 kHz 16-bit mono PCM with audio data, or None."""
    if not audio or audio["sample_rate"] is None:
        return "the RIFF/WAVE audio has no fmt chunk"
    got = (audio["format_tag"], audio["channels"], audio["sample_rate"], audio["bits_per_sample"])
    if got != (WAVE_FORMAT_PCM, 1, TTS_SAMPLE_RATE, 16):
        return "the audio is format {0}, {1} channel(s), {2} Hz, {3} bit; asked for {4}".format(
            got[0], got[1], got[2], got[3], TTS_OUTPUT_FORMAT)
    if not audio["data_bytes"]:
        return "the RIFF/WAVE audio has no samples"
    return None


def write_file(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same directory (never a half-written file)."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".probe-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# --- WebSocket (RFC 6455 opening handshake) ------------------------------------------------------

def websocket_accept(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()).decode("ascii")


def upgrade_request(host, port, path, key, scheme="http"):
    default_port = 443 if scheme == "https" else 80
    host_header = host if port == default_port else "{0}:{1}".format(host, port)
    if ":" in host and not host.startswith("["):
        host_header = "[{0}]".format(host) if port == default_port else "[{0}]:{1}".format(host, port)
    lines = [
        "GET {0} HTTP/1.1".format(path or "/"),
        "Host: " + host_header,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: " + key,
        "Sec-WebSocket-Version: 13",
        "User-Agent: " + USER_AGENT,
        # The Speech SDK names each connection; the container logs it (no secret).
        "X-ConnectionId: " + uuid.uuid4().hex.upper(),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def read_http_head(sock, limit=HANDSHAKE_LIMIT):
    """(head bytes, bytes read after it) from a socket; ValueError when the peer closes or the head is too big."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("the server closed the connection before answering the upgrade"
                             if not data else "the server closed the connection in the middle of its answer")
        data += chunk
        if len(data) > limit and b"\r\n\r\n" not in data:
            raise ValueError("the answer to the upgrade has no end of headers within {0} bytes".format(limit))
    head, dummy_sep, rest = data.partition(b"\r\n\r\n")
    return head, rest


def parse_http_head(head):
    """(status code or None, {lower-case header: value}) of an HTTP/1.1 response head."""
    lines = head.decode("iso-8859-1").split("\r\n")
    fields = lines[0].split(" ", 2)
    status = None
    if len(fields) >= 2 and fields[0].startswith("HTTP/") and fields[1].isdigit():
        status = int(fields[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            name = name.strip().lower()
            headers[name] = headers[name] + ", " + value.strip() if name in headers else value.strip()
    return status, headers


def handshake_problem(status, headers, key):
    """Why an answer is not a valid RFC 6455 upgrade for ``key``, or None."""
    if status is None:
        return "the answer to the WebSocket upgrade is not HTTP"
    if status != 101:
        return "the WebSocket upgrade answered HTTP {0}, expected 101 Switching Protocols".format(status)
    if headers.get("upgrade", "").strip().lower() != "websocket":
        return "HTTP 101 without Upgrade: websocket"
    if "upgrade" not in [token.strip().lower() for token in headers.get("connection", "").split(",")]:
        return "HTTP 101 without Connection: Upgrade"
    accept = headers.get("sec-websocket-accept")
    if accept != websocket_accept(key):
        return "HTTP 101 with Sec-WebSocket-Accept {0!r}, expected {1!r} for the key sent".format(accept, websocket_accept(key))
    return None


def read_body_excerpt(sock, rest, headers, limit=2048):
    """Up to ``limit`` bytes of a refused upgrade's body (Content-Length if given), without waiting past the timeout."""
    try:
        wanted = min(int(headers.get("content-length", "")), limit)
    except ValueError:
        wanted = limit if "chunked" not in headers.get("transfer-encoding", "").lower() else len(rest)
    data = rest
    try:
        while len(data) < wanted:
            chunk = sock.recv(wanted - len(data))
            if not chunk:
                break
            data += chunk
    except (socket.timeout, OSError):
        pass
    return data[:wanted]


def describe_body(body):
    text = excerpt(body)
    return ": " + text if text else ""


def close_frame(mask):
    """A masked client Close frame with status 1000 (normal closure), RFC 6455 section 5.5.1."""
    payload = struct.pack("!H", 1000)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return bytes([0x88, 0x80 | len(payload)]) + bytes(mask) + masked


# --- decisions and messages ----------------------------------------------------------------------

def ready_timeout_for(kind):
    return READY_TIMEOUTS.get(kind, DEFAULT_READY_TIMEOUT)


def status_words(status, billing_endpoint=None):
    """describe_status of a check_status result, or the reason it has no apiStatus."""
    if status["api_status"] is None and status.get("problem"):
        return status["problem"]
    return describe_status(status["api_status"], status["api_status_message"], billing_endpoint)


def ready_failure_message(url, ready_timeout, ready, words):
    if ready.get("stopped"):
        return (
            "{url} is not ready and its billing endpoint cannot be reached (waiting stopped after {polls} answer(s)): "
            "{url}/ready answered {last}. /status: {words}."
        ).format(url=url, polls=ready["polls"], last=describe_answer(ready["last"]), words=words)
    return (
        "{url} did not become ready within {timeout:g} s: expected HTTP 200 from {url}/ready, "
        "the last of {polls} answer(s) was {last}. /status: {words}."
    ).format(url=url, timeout=ready_timeout, polls=ready["polls"], last=describe_answer(ready["last"]), words=words)


def status_failure_message(url, expect_status, status, words, ready):
    expected = " or ".join(expect_status)
    got = status["api_status"] if status["api_status"] is not None else "no apiStatus"
    return (
        "{url}/status reported {got}, expected apiStatus {expected} (after {attempts} attempt(s)): {words}. "
        "/ready answered {last}."
    ).format(url=url, got=got, expected=expected, attempts=status["attempts"], words=words, last=describe_answer(ready["last"]))


def smoke_failure_message(url, smoke, words, ready):
    what = {
        SMOKE_TTS: "expected RIFF/WAVE audio ({0}) from POST {1}{2}".format(TTS_OUTPUT_FORMAT, url, smoke["path"]),
        SMOKE_WEBSOCKET: "expected a WebSocket upgrade (HTTP 101) on {0}{1}".format(url, smoke["path"]),
    }[smoke["test"]]
    return "{0} is ready but its {1} smoke test failed: {2}; {3}. /ready answered {4}; /status: {5}.".format(
        url, smoke["test"], what, smoke["error"], describe_answer(ready["last"]), words)


def public_answer(result):
    """An answer as returned to Ansible: status, body excerpt and error (no headers, no raw bytes)."""
    return {"status": result["status"], "body": excerpt(result["body"]) or None, "error": result["error"]}
