"""Connected mode: key checks and usage reports to the Billing endpoint (the sandbox's billing stub).

Contract (reference §5): usage is reported at an interval; while the endpoint cannot be reached the
container keeps running but serves no queries; after a number of failed retries it stops serving
for good (here: it stays up, /ready and every query answer 503, /status says why; restart it).
Microsoft's 10 retries x 10-15 min are scaled down by default to Emulator:BillingRetries (10) x
Emulator:BillingIntervalSeconds (60): ten minutes of outage, long enough for the fault tests.
"""
import asyncio
import datetime
import logging
import urllib.parse
import uuid

import aiohttp

log = logging.getLogger("speech_emulator.billing")

MESSAGES = {
    "Valid": "Api Key is valid, no action needed.",
    "Invalid": "The Api Key is invalid. Check the ApiKey and Billing settings.",
    "Mismatch": "The Api Key is not valid for this kind of container. Use a Speech resource.",
    "CouldNotConnect": "Could not connect to the billing endpoint. Check the Billing setting and the network.",
    "OutOfQuota": "The resource is out of quota.",
    "BillingEndpointBusy": "The billing endpoint is busy. Retry later.",
    "ContainerUseUnauthorized": "The Api Key is not authorized to use this container.",
    "Unknown": "The key has not been checked yet.",
}
UNREACHABLE = ("CouldNotConnect", "BillingEndpointBusy")
RETRY_AFTER_SECONDS = 60


def message_for(status):
    return MESSAGES.get(status, MESSAGES["Unknown"])


def valid_endpoint(endpoint):
    """Whether a Billing setting is usable: an http(s) URL with a host (and a numeric port, if any)."""
    try:
        parsed = urllib.parse.urlparse(endpoint or "")
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


class BillingClient:
    def __init__(self, endpoint, api_key, kind, version, container_id, interval, retries, timeout=5.0):
        self.base = endpoint.rstrip("/") + "/emulator/v1"
        self.api_key, self.kind, self.version, self.container_id = api_key, kind, version, container_id
        self.interval, self.retries, self.timeout = interval, int(retries), timeout
        self.status, self.failures, self.given_up = "Unknown", 0, False
        self.pending = []
        self._session = None

    def session(self):
        if self._session is None:
            # force_close: every call opens a new connection, so a stub that went down is noticed.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True), trust_env=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self):
        if self._session is not None:
            await self._session.close()

    @property
    def serving(self):
        return self.status == "Valid" and not self.given_up

    def status_message(self):
        if self.given_up:
            return (f"Billing endpoint could not be reached after {self.retries} retries; the container no "
                    f"longer serves requests. Restart it once the billing endpoint is back.")
        return message_for(self.status)

    def record(self, meter, quantity):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.pending.append({"id": uuid.uuid4().hex, "containerType": self.kind, "containerVersion": self.version,
                             "containerId": self.container_id, "meter": {"name": meter, "quantity": quantity},
                             "requestTime": now, "apiType": self.kind})

    async def _call(self, method, path, **kwargs):
        """(status name, JSON body or None) of a call to the stub."""
        headers = {"Ocp-Apim-Subscription-Key": self.api_key}
        try:
            async with self.session().request(method, self.base + path, headers=headers, **kwargs) as response:
                if response.status == 429:
                    return "BillingEndpointBusy", None
                if response.status >= 500:
                    return "CouldNotConnect", None
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                status = (body or {}).get("apiStatus") if isinstance(body, dict) else None
                if status is None:
                    status = "Valid" if response.status < 300 else ("Invalid" if response.status in (401, 403) else "Unknown")
                return status, body
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            log.debug("billing call failed: %r", error)
            return "CouldNotConnect", None

    async def check(self):
        """Ask the stub about the key; updates self.status unless billing was given up."""
        status, _ = await self._call("GET", "/status", params={"containerType": self.kind})
        if not self.given_up:
            self.status = status
        return status

    async def report(self):
        """Send pending usage; returns the status. Failed batches stay pending."""
        batch, self.pending = self.pending, []
        status, _ = await self._call("POST", "/usage", json={"records": batch})
        if status != "Valid":
            self.pending = batch + self.pending
        if status in UNREACHABLE:
            self.failures += 1
            log.warning("Billing endpoint %s: %s (retry %d of %d).", self.base, status, self.failures, self.retries)
            if self.failures >= self.retries and not self.given_up:
                self.given_up = True
                log.error(self.status_message())
        else:
            if self.failures:
                log.info("Billing endpoint reachable again after %d failed report(s).", self.failures)
            self.failures = 0
            if status != "Valid":
                log.error("fail: Endpoint connection failed with status '%s'. %s", status, message_for(status))
        if not self.given_up:
            self.status = status
        return status

    async def run(self):
        # A container often starts before its billing endpoint answers: re-check each second for up
        # to one interval before the regular report cycle (and its retry count) begins.
        deadline = asyncio.get_running_loop().time() + self.interval
        status = await self.check()
        while status in UNREACHABLE and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(1)
            status = await self.check()
        if status != "Valid":
            log.error("fail: Endpoint connection failed with status '%s'. %s", status, message_for(status))
        while not self.given_up:
            await asyncio.sleep(self.interval)
            await self.report()

    async def fetch(self, path, **kwargs):
        """A GET or POST to the stub for set-up work (licence, models); returns (HTTP status, JSON)."""
        method = "POST" if "json" in kwargs else "GET"
        headers = {"Ocp-Apim-Subscription-Key": self.api_key}
        async with self.session().request(method, self.base + path, headers=headers, **kwargs) as response:
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, None
