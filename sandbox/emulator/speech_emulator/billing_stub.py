"""Billing endpoint stand-in: key checks, usage records, licences and models for the emulator.

Two listeners, so the billing one can go down while the admin one stays up:
  billing (--port, default 5001)        what containers call: /emulator/v1/...
  admin   (--admin-port, default 5002)  what tests call:      /admin/...

Keys come from BILLING_STUB_KEYS (comma-separated) and/or --keys-file (one per line); they are never
printed: the admin API and the logs name a key by its keyId (SHA-256 prefix, see licensing.key_id).

    python3 -m speech_emulator.billing_stub --host 0.0.0.0 --port 5001 --admin-port 5002
"""
import argparse
import asyncio
import collections
import json
import logging
import os
import re
import signal
import sys

from aiohttp import web

from . import billing_client, catalog, display_models, licensing

log = logging.getLogger("speech_emulator.billing_stub")
KEY_HEADER = "Ocp-Apim-Subscription-Key"
KEY_STATUSES = ("Valid", "Invalid", "Mismatch", "OutOfQuota", "ContainerUseUnauthorized")
MODES = ("up", "down", "busy")
RECORDS_KEPT = 10_000  # the admin API lists at most this many recent records
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

DEFAULT_MODELS = {
    "c0ffee00-0000-4000-8000-000000000001": {
        "kind": "custom-speech-to-text", "locale": "en-US", "name": "Contoso call center (custom)",
        "phrases": ["Contoso support, how can I help you?"]},
    "c0ffee00-0000-4000-8000-000000000002": {
        "kind": "custom-speech-to-text", "locale": "de-DE", "name": "Contoso Kundendienst (custom)", "phrases": []},
    "c0ffee00-0000-4000-8000-000000000003": {
        "kind": "custom-text-to-speech", "locale": "en-US", "name": "Contoso voice (custom)",
        "voice": "en-US-ContosoNeural"},
}
BASE_MODELS = [
    {"id": "b45e0000-0000-4000-8000-00000000e001", "name": "20251201 (en-US base)", "locale": "en-US",
     "createdDateTime": "2025-12-01T00:00:00Z"},
    {"id": "b45e0000-0000-4000-8000-00000000e002", "name": "20250901 (en-US base)", "locale": "en-US",
     "createdDateTime": "2025-09-01T00:00:00Z"},
    {"id": "b45e0000-0000-4000-8000-00000000d001", "name": "20251201 (de-DE base)", "locale": "de-DE",
     "createdDateTime": "2025-12-01T00:00:00Z"},
]


class BillingStub:
    def __init__(self, keys, host="127.0.0.1", port=5001, admin_port=5002, license_days=365):
        self.keys = {key: "Valid" for key in keys}
        self.host, self.port, self.admin_port, self.license_days = host, port, admin_port, license_days
        self.mode = "up"
        self.usage = {}      # keyId -> {meter: quantity}
        self.counts = {}     # keyId -> {meter: number of queries the quantity sums}
        self.records = collections.deque(maxlen=RECORDS_KEPT)  # accepted metering records, with their keyId
        self.reports = {"accepted": 0, "refused": 0, "maxBytes": 0, "lastBytes": 0}
        self.refuse_usage = 0  # an HTTP status (4xx) for every usage report, 0: accept them
        self.models = {mid: dict(model, id=mid) for mid, model in DEFAULT_MODELS.items()}
        self._billing_runner = self._admin_runner = self._billing_site = None

    # ----- billing listener -----------------------------------------------------------------------

    def _key_status(self, request):
        key = request.headers.get(KEY_HEADER, "")
        return key, self.keys.get(key, "Invalid")

    def _answer(self, status, **extra):
        body = dict(apiStatus=status, apiStatusMessage=billing_client.message_for(status), **extra)
        return web.json_response(body, status=200 if status == "Valid" else 401)

    async def _gate(self, request):
        """None when the billing API answers now, else what to do instead."""
        if self.mode == "down" and request.transport is not None:
            request.transport.close()  # a connection opened before going down: drop it like a dead host
            return web.Response(status=503)
        if self.mode == "busy":
            return web.json_response({"apiStatus": "BillingEndpointBusy",
                                      "apiStatusMessage": billing_client.message_for("BillingEndpointBusy")},
                                     status=429, headers={"Retry-After": "60"})
        return None

    async def status(self, request):
        refusal = await self._gate(request)
        if refusal is not None:
            return refusal
        return self._answer(self._key_status(request)[1])

    async def usage_report(self, request):
        """Metering records, one per meter per report: {id, containerType, containerVersion, containerId,
        meter: {name, quantity, count?}, requestTime, apiType}; count (the queries a record sums) defaults to 1.
        Bodies above aiohttp's client_max_size (1 MiB) are refused with 413."""
        refusal = await self._gate(request)
        if refusal is not None:
            return refusal
        key, status = self._key_status(request)
        if status != "Valid":
            return self._answer(status)
        raw = await request.read()
        self.reports["lastBytes"] = len(raw)
        self.reports["maxBytes"] = max(self.reports["maxBytes"], len(raw))
        if self.refuse_usage:
            self.reports["refused"] += 1
            return web.json_response({"message": f"Usage report refused (stub setting): HTTP {self.refuse_usage}."},
                                     status=self.refuse_usage)
        records, problem = _metering_records(raw)
        if problem:
            self.reports["refused"] += 1
            log.warning("usage report refused: %s", problem)
            return web.json_response({"message": f"The usage report cannot be read: {problem}"}, status=400)
        key_id = licensing.key_id(key)
        meters, counts = self.usage.setdefault(key_id, {}), self.counts.setdefault(key_id, {})
        for record in records:
            name, quantity = record["meter"]["name"], record["meter"]["quantity"]
            meters[name] = round(meters.get(name, 0) + quantity, 3)
            counts[name] = counts.get(name, 0) + record["meter"].get("count", 1)
            self.records.append(dict(record, keyId=key_id))
        self.reports["accepted"] += 1
        return self._answer(status, accepted=len(records))

    async def issue_license(self, request):
        refusal = await self._gate(request)
        if refusal is not None:
            return refusal
        key, status = self._key_status(request)
        if status != "Valid":
            return self._answer(status)
        kind = (await request.json()).get("containerType", "")
        if kind not in catalog.KINDS or not catalog.KINDS[kind].disconnected:
            return web.json_response({"apiStatus": "ContainerUseUnauthorized",
                                      "apiStatusMessage": f"{kind} is not available as a disconnected container."},
                                     status=403)
        return web.json_response(licensing.issue(kind, key, self.license_days))

    async def model(self, request):
        refusal = await self._gate(request)
        if refusal is not None:
            return refusal
        status = self._key_status(request)[1]
        if status != "Valid":
            return self._answer(status)
        model = self.models.get(request.match_info["model_id"]) or _custom_voice_model(
            request.match_info["model_id"], request.query.get("kind"))
        if model is None:
            return web.json_response({"message": f"Model {request.match_info['model_id']} was not found."}, status=404)
        return web.json_response(model)

    async def base_models(self, request):
        refusal = await self._gate(request)
        if refusal is not None:
            return refusal
        status = self._key_status(request)[1]
        if status != "Valid":
            return self._answer(status)
        locale = request.query.get("locale", "").lower()
        return web.json_response([m for m in BASE_MODELS if m["locale"].lower() == locale])

    async def display_models_of_locale(self, request):
        """The latest display model of each type asked for (types=Punct,Rescore; all four when absent)."""
        refusal = await self._gate(request) or await self._key_refusal(request)
        if refusal is not None:
            return refusal
        asked = [t for t in request.query.get("types", "").split(",") if t]
        types = display_models.TYPES if not asked else [t for t in display_models.TYPES if t in asked]
        return web.json_response(display_models.latest(request.query.get("locale", ""), types))

    async def display_model(self, request):
        refusal = await self._gate(request) or await self._key_refusal(request)
        if refusal is not None:
            return refusal
        entry = display_models.by_id(request.match_info["model_id"])
        if entry is None:
            return web.json_response({"message": f"Display model {request.match_info['model_id']} was not found."},
                                     status=404)
        return web.json_response(entry)

    async def _key_refusal(self, request):
        status = self._key_status(request)[1]
        return None if status == "Valid" else self._answer(status)

    # ----- admin listener -------------------------------------------------------------------------

    async def admin_state(self, request):
        return web.json_response({
            "mode": self.mode,
            "keys": [{"keyId": licensing.key_id(k), "status": s} for k, s in self.keys.items()],
            "usage": self.usage, "counts": self.counts, "records": len(self.records), "reports": self.reports,
            "refuseUsage": self.refuse_usage})

    async def admin_set_key(self, request):
        body = await request.json()
        status = body.get("status", "Valid")
        if not body.get("key") or status not in KEY_STATUSES:
            raise web.HTTPBadRequest(text=f"Send {{'key': ..., 'status': one of {KEY_STATUSES}}}.")
        self.keys[body["key"]] = status
        log.info("key %s is now %s", licensing.key_id(body["key"]), status)
        return web.json_response({"keyId": licensing.key_id(body["key"]), "status": status})

    async def admin_revoke_key(self, request):
        body = await request.json()
        if not body.get("key"):
            raise web.HTTPBadRequest(text="Send {'key': ...}.")
        self.keys[body["key"]] = "Invalid"
        log.info("key %s revoked", licensing.key_id(body["key"]))
        return web.json_response({"keyId": licensing.key_id(body["key"]), "status": "Invalid"})

    async def admin_set_mode(self, request):
        mode = (await request.json()).get("mode")
        if mode not in MODES:
            raise web.HTTPBadRequest(text=f"mode must be one of {MODES}")
        await self.set_mode(mode)
        return web.json_response({"mode": self.mode})

    async def admin_usage(self, request):
        """POST {'key': ...}: the usage and records of one key (GET /admin/state has all keyIds)."""
        key_id = licensing.key_id((await request.json()).get("key", ""))
        return web.json_response({"keyId": key_id, "meters": self.usage.get(key_id, {}),
                                  "counts": self.counts.get(key_id, {}),
                                  "records": [r for r in self.records if r["keyId"] == key_id]})

    async def admin_reset_usage(self, request):
        self.usage, self.counts = {}, {}
        self.records.clear()
        self.reports = {"accepted": 0, "refused": 0, "maxBytes": 0, "lastBytes": 0}
        return web.json_response({"usage": {}})

    async def admin_refuse_usage(self, request):
        """POST {"status": 4xx}: refuse every usage report with that HTTP status (a refusal that is not about the
        key); {"status": 0}: accept them again."""
        status = (await request.json()).get("status")
        if status != 0 and not (isinstance(status, int) and 400 <= status <= 499 and status != 429):
            raise web.HTTPBadRequest(text="Send {'status': an HTTP status 400-499 other than 429, or 0}.")
        self.refuse_usage = status
        log.info("usage reports are now %s", f"refused with HTTP {status}" if status else "accepted")
        return web.json_response({"refuseUsage": status})

    async def admin_add_model(self, request):
        model = await request.json()
        if not model.get("id") or model.get("kind") not in catalog.KINDS:
            raise web.HTTPBadRequest(text="Send {'id': ..., 'kind': ..., 'locale': ..., 'name': ...}.")
        self.models[model["id"]] = model
        return web.json_response(model)

    async def healthz(self, request):
        return web.json_response({"ok": True, "mode": self.mode})

    # ----- life cycle -----------------------------------------------------------------------------

    def billing_app(self):
        app = web.Application()
        app.router.add_get("/emulator/v1/status", self.status)
        app.router.add_post("/emulator/v1/usage", self.usage_report)
        app.router.add_post("/emulator/v1/license", self.issue_license)
        app.router.add_get("/emulator/v1/models/{model_id}", self.model)
        app.router.add_get("/emulator/v1/basemodels", self.base_models)
        app.router.add_get("/emulator/v1/displaymodels", self.display_models_of_locale)
        app.router.add_get("/emulator/v1/displaymodels/{model_id}", self.display_model)
        return app

    def admin_app(self):
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/admin/state", self.admin_state)
        app.router.add_post("/admin/keys", self.admin_set_key)
        app.router.add_post("/admin/keys/revoke", self.admin_revoke_key)
        app.router.add_post("/admin/mode", self.admin_set_mode)
        app.router.add_post("/admin/usage", self.admin_usage)
        app.router.add_post("/admin/usage/reset", self.admin_reset_usage)
        app.router.add_post("/admin/usage/refuse", self.admin_refuse_usage)
        app.router.add_post("/admin/models", self.admin_add_model)
        return app

    async def _open_billing(self):
        self._billing_site = web.TCPSite(self._billing_runner, self.host, self.port)
        await self._billing_site.start()

    async def set_mode(self, mode):
        """'down' closes the billing listener (connection refused); 'up'/'busy' open it again."""
        if mode == "down" and self._billing_site is not None:
            await self._billing_site.stop()
            self._billing_site = None
        elif mode != "down" and self._billing_site is None:
            await self._open_billing()
        self.mode = mode
        log.info("billing endpoint is now %s", mode)

    async def start(self):
        self._billing_runner = web.AppRunner(self.billing_app())
        self._admin_runner = web.AppRunner(self.admin_app())
        await self._billing_runner.setup()
        await self._admin_runner.setup()
        await self._open_billing()
        await web.TCPSite(self._admin_runner, self.host, self.admin_port).start()
        log.info("billing on http://%s:%d/, admin on http://%s:%d/ (%d keys)",
                 self.host, self.port, self.host, self.admin_port, len(self.keys))

    async def close(self):
        for runner in (self._billing_runner, self._admin_runner):
            if runner is not None:
                await runner.cleanup()


def _custom_voice_model(model_id, kind):
    """Any GUID is a custom voice model for custom-text-to-speech, with a voice derived from it; None otherwise."""
    if kind != "custom-text-to-speech" or not GUID.fullmatch(model_id):
        return None
    return {"id": model_id, "kind": kind, "locale": "en-US", "name": f"Custom voice {model_id[:8]}",
            "voice": catalog.custom_voice(model_id)}


def _metering_records(raw):
    """(records, None) when a usage report body holds well-formed metering records, else (None, the problem)."""
    try:
        body = json.loads(raw)
    except ValueError as error:
        return None, f"not JSON ({error})"
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        return None, "no list of records"
    for record in records:
        meter = record.get("meter") if isinstance(record, dict) else None
        if not (isinstance(meter, dict) and isinstance(meter.get("name"), str)
                and isinstance(meter.get("quantity"), (int, float)) and isinstance(meter.get("count", 1), int)):
            return None, f"a record without meter name and quantity: {str(record)[:200]}"
    return records, None


def read_keys(keys_file):
    keys = [k.strip() for k in os.environ.get("BILLING_STUB_KEYS", "").split(",") if k.strip()]
    if keys_file:
        with open(keys_file, encoding="utf-8") as handle:
            keys += [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    return keys


async def _run(args):
    stub = BillingStub(read_keys(args.keys_file), args.host, args.port, args.admin_port, args.license_days)
    await stub.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await stub.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="billing_stub", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--admin-port", type=int, default=5002)
    parser.add_argument("--keys-file", help="valid keys, one per line (adds to $BILLING_STUB_KEYS)")
    parser.add_argument("--license-days", type=float, default=365, help="validity of issued licences")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
