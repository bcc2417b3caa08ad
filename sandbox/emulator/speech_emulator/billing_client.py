"""Connected mode: key checks and usage reports to the Billing endpoint (the sandbox's billing stub).

Contract (Microsoft Learn, "Configure Speech containers" and the Azure AI containers FAQ): usage is
metered and reported at an interval; while the endpoint cannot be reached the container keeps running
but serves no queries; after a number of failed retries it stops serving for good (here: it stays up,
/ready and every query answer 503, /status says why; restart it). Microsoft's 10 retries x 10-15 min
are scaled down by default to Emulator:BillingRetries (10) x Emulator:BillingIntervalSeconds (60).

Usage is aggregated: per meter a summed quantity and a count of queries, one metering record per
meter per report, so a report stays small whatever the load. A report the endpoint refuses for a
reason other than the key (a 4xx such as 400, 404 or 413) changes neither the key status nor serving:
its aggregate is merged into the next report, and dropped with a log line after REFUSALS_KEPT refusals
in a row.

Every call to the endpoint (key checks, reports, licence and model downloads) goes through the proxy of the
settings HTTP_PROXY (or http_proxy) with HTTP_PROXY_CREDS (user:password, sent as Proxy-Authorization Basic),
unless NO_PROXY names the endpoint's host (Microsoft Learn, the containers' HTTP proxy setting; NO_PROXY as
the collection sets it).
"""
import asyncio
import datetime
import logging
import urllib.parse
import urllib.request
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
KEY_STATUSES = ("Valid", "Invalid", "Mismatch", "OutOfQuota", "ContainerUseUnauthorized")
REFUSED = "Refused"  # the endpoint answered, but refused the call for a reason other than the key
REFUSALS_KEPT = 3


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


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ProxyError(ValueError):
    """A proxy setting that cannot be used: the container refuses to start."""


class Proxy:
    """The forward proxy of the billing calls, or none (url None)."""

    def __init__(self, url=None, credentials=None, no_proxy=""):
        if url and not valid_endpoint(url):
            raise ProxyError(f"HTTP_PROXY must be an http(s) URL with a host, got {url!r}.")
        user, colon, password = (credentials or "").partition(":")
        if credentials and not (user and colon):
            raise ProxyError("HTTP_PROXY_CREDS must be user:password.")
        self.url = url or None
        self.auth = aiohttp.BasicAuth(user, password) if credentials else None
        self.no_proxy = no_proxy or ""

    @classmethod
    def from_settings(cls, settings):
        """Settings are case-insensitive, so HTTP_PROXY and http_proxy are the same setting."""
        return cls(settings.get("HTTP_PROXY"), settings.get("HTTP_PROXY_CREDS"), settings.get("NO_PROXY", ""))

    def bypassed(self, url):
        host_and_port = urllib.parse.urlparse(url).netloc.rpartition("@")[2]
        return urllib.request.proxy_bypass_environment(host_and_port, {"no": self.no_proxy})

    def request_options(self, url):
        """aiohttp's proxy options for a call to url: none when there is no proxy or NO_PROXY names its host."""
        if self.url is None or self.bypassed(url):
            return {}
        return {"proxy": self.url, "proxy_auth": self.auth} if self.auth else {"proxy": self.url}

    def describe(self):
        """For the start-up log: the proxy without any user:password in its URL, and whether credentials are set."""
        parsed = urllib.parse.urlparse(self.url)
        shown = parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()
        return (f"{shown} ({'with' if self.auth else 'without'} HTTP_PROXY_CREDS"
                f"{', except for NO_PROXY=' + self.no_proxy if self.no_proxy else ''})")


class Usage:
    """Queries metered since the last accepted report: per meter name [summed quantity, count]."""

    def __init__(self):
        self.meters, self.since = {}, None

    def add(self, meter, quantity, count=1):
        totals = self.meters.get(meter)
        if totals is None:
            totals = self.meters[meter] = [0, 0]
            self.since = self.since or _utc_now()
        totals[0] += quantity
        totals[1] += count

    def merge(self, other):
        if other.since and (self.since is None or other.since < self.since):
            self.since = other.since
        for meter, (quantity, count) in other.meters.items():
            self.add(meter, quantity, count)

    def describe(self):
        return ", ".join(f"{m} {round(q, 3)} in {c} queries" for m, (q, c) in sorted(self.meters.items())) or "none"


class BillingClient:
    def __init__(self, endpoint, api_key, kind, version, container_id, interval, retries, timeout=5.0, proxy=None):
        self.base = endpoint.rstrip("/") + "/emulator/v1"
        self.proxy_options = (proxy or Proxy()).request_options(self.base)
        self.api_key, self.kind, self.version, self.container_id = api_key, kind, version, container_id
        self.interval, self.retries, self.timeout = interval, int(retries), timeout
        self.status, self.failures, self.given_up = "Unknown", 0, False
        self.usage = Usage()      # this interval's queries
        self.unsent = Usage()     # earlier intervals whose report did not go through
        self.refusals = 0         # reports refused in a row for a reason other than the key
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
        self.usage.add(meter, quantity)

    def records(self, usage):
        """The metering records of an aggregate: one per meter, in the documented record shape (the meter also
        carries the number of queries it sums, `count`)."""
        return [{"id": uuid.uuid4().hex, "containerType": self.kind, "containerVersion": self.version,
                 "containerId": self.container_id, "meter": {"name": meter, "quantity": round(quantity, 3), "count": count},
                 "requestTime": usage.since, "apiType": self.kind}
                for meter, (quantity, count) in sorted(usage.meters.items())]

    async def _call(self, method, path, **kwargs):
        """(status name, JSON body or None) of a call to the stub. The status name is a key status, one of
        UNREACHABLE, or REFUSED (the endpoint answered with a 4xx that says nothing about the key)."""
        headers = {"Ocp-Apim-Subscription-Key": self.api_key}
        try:
            async with self.session().request(method, self.base + path, headers=headers, **self.proxy_options,
                                              **kwargs) as response:
                if response.status == 429:
                    return "BillingEndpointBusy", None
                if response.status == 407:
                    log.warning("The proxy refused the billing call %s %s (407): check HTTP_PROXY_CREDS.", method, path)
                    return "CouldNotConnect", None
                if response.status >= 500:
                    return "CouldNotConnect", None
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                status = body.get("apiStatus") if isinstance(body, dict) else None
                if status in KEY_STATUSES:
                    return status, body
                if response.status < 300:
                    return "Valid", body
                if response.status in (401, 403):
                    return "Invalid", body
                log.warning("Billing endpoint refused %s %s: HTTP %d %.200s", method, path, response.status,
                            body if body is not None else response.reason)
                return REFUSED, body
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            log.debug("billing call failed: %r", error)
            return "CouldNotConnect", None

    def _settle(self, status):
        """Apply the answer of a key check or report to the key status; a refusal leaves it as it was."""
        if status != REFUSED and not self.given_up:
            self.status = status

    async def check(self):
        """Ask the stub about the key; updates self.status unless billing was given up or the call was refused."""
        status, _ = await self._call("GET", "/status", params={"containerType": self.kind})
        self._settle(status)
        return self.status if status == REFUSED else status

    async def report(self):
        """Send this interval's usage, merged with what earlier reports could not deliver; returns the outcome
        (a key status, one of UNREACHABLE or REFUSED)."""
        usage, taken = self.unsent, self.usage
        self.usage = Usage()  # queries from now on count towards the next interval
        usage.merge(taken)
        records = self.records(usage)
        status, _ = await self._call("POST", "/usage", json={"records": records})
        self.unsent = Usage() if status == "Valid" else usage
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
        if status == REFUSED:
            self.refusals += 1
            if self.refusals >= REFUSALS_KEPT:
                log.error("fail: %d usage reports in a row were refused; dropping their usage (%s).",
                          self.refusals, usage.describe())
                self.unsent, self.refusals = Usage(), 0
            else:
                log.warning("Usage report refused (%d of %d before its usage is dropped); serving goes on, the "
                            "usage (%s) goes with the next report.", self.refusals, REFUSALS_KEPT, usage.describe())
        else:
            self.refusals = 0
            if status not in UNREACHABLE and status != "Valid":
                log.error("fail: Endpoint connection failed with status '%s'. %s", status, message_for(status))
        self._settle(status)
        if status == REFUSED and self.status not in KEY_STATUSES:
            await self.check()  # the endpoint is back, but said nothing about the key: ask it
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
        async with self.session().request(method, self.base + path, headers=headers, **self.proxy_options,
                                          **kwargs) as response:
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, None
