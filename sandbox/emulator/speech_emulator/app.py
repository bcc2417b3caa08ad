"""One emulated Speech container: start-up checks, the HTTP/WebSocket service, warm-up, billing.

The image decides what the container is (environment set by build.sh, not user settings):
EMULATOR_KIND, EMULATOR_VERSION, EMULATOR_LOCALE, EMULATOR_VOICE, EMULATOR_BROKEN.
"""
import asyncio
import collections
import json
import logging
import logging.handlers
import os
import signal
import socket
import sys
import time
import urllib.parse

from aiohttp import web

from . import billing_client, catalog, display_models, engine, licensing, recognition, synthesis, usp
from .audio import AudioFormatError, OutputFormat
from .settings import Settings, SettingsError

log = logging.getLogger("speech_emulator")

MODELS_DIR = "/usr/local/models"
MODEL_FILE = "properties.json"
RECOGNITION_PATHS = {f"/speech/recognition/{mode}/cognitiveservices/v1": mode
                     for mode in ("interactive", "conversation", "dictation")}
LANGUAGE_PATH = "/speech/universal/v2"
REST_SYNTHESIS_PATHS = ("/speech/synthesize/cognitiveservices/v1", "/cognitiveservices/v1")
WS_SYNTHESIS_PATH = "/cognitiveservices/websocket/v1"
KEY_PROBLEMS = ("Invalid", "Mismatch", "ContainerUseUnauthorized", "OutOfQuota")
ENGINE_PATH = "/emulator/engine"  # the emulator's own debug endpoints, not part of Microsoft's surface
MODELS_PATH = "/emulator/models"
CUSTOM_SPEECH_TO_TEXT = "custom-speech-to-text"
# What a custom speech-to-text container downloads besides its model: display models by ID, or the latest of a locale.
DisplayDownload = collections.namedtuple("DisplayDownload", "ids locale types")
# Microsoft Learn, Speech containers FAQ: what the Speech SDK reports when a container takes audio slower than
# it is fed (its client buffer overflows).
BUFFER_EXCEEDED = "Due to service inactivity the client buffer size exceeded. Resetting the buffer."
LOG_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "information": logging.INFO,
              "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL,
              "none": logging.CRITICAL + 10}


class StartupError(Exception):
    """The container refuses to start; the message says why and what to set."""


def ensure_writable(path, setting):
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w", encoding="utf-8"):
            pass
        os.remove(probe)
    except OSError as error:
        raise StartupError(
            f"{setting}: '{path}' is not writable by uid {os.getuid()} ({error.strerror}). The container runs as "
            f"a non-root user; make the mounted folder writable by it (chown -R {os.getuid()}:{os.getgid()}).") from None


class JsonFormatter(logging.Formatter):
    def format(self, record):
        return json.dumps({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                           "level": record.levelname, "category": record.name, "message": record.getMessage()})


class Emulator:
    def __init__(self, settings, environ):
        kind = environ.get("EMULATOR_KIND", "")
        if kind not in catalog.KINDS:
            raise StartupError(f"EMULATOR_KIND must be one of {', '.join(catalog.KINDS)}, got {kind!r}.")
        self.settings = settings
        self.kind = catalog.KINDS[kind]
        self.version = environ.get("EMULATOR_VERSION", "0.0.0")
        self.locale = catalog.canonical_locale(environ.get("EMULATOR_LOCALE") or "en-US")
        self.voice = environ.get("EMULATOR_VOICE", "")
        self.broken = environ.get("EMULATOR_BROKEN", "").lower() in ("1", "true", "yes")
        self.container_id = socket.gethostname()
        self.host = settings.get("Emulator:Host", "0.0.0.0")
        self.port = int(settings.number("Emulator:Port", self.kind.port))
        self.models_dir = settings.get("Emulator:ModelsPath", MODELS_DIR)
        self.warmup_seconds = settings.number("Emulator:WarmupSeconds", 3)
        self.engine = engine.EngineSlots(engine.slots_for(self.kind, settings))
        self.decoder_wait = settings.number("Emulator:DecoderWaitSeconds", 5)
        # a real neural voice takes a while per synthesis; 0 (the default) answers at once
        self.synthesis_seconds = settings.number("Emulator:SynthesisSeconds", 0)
        self.ready = False
        self.phrase_table = recognition.PhraseTable()
        self.phrases = {}
        self.billing = None
        self.license = None
        self.usage_log = None
        self.model = None
        self.display_models = []  # the display models a custom speech-to-text container uses
        self.stop = None

    # ----- start-up -------------------------------------------------------------------------------

    def _billing_client(self):
        missing = [name for name in ("Billing", "ApiKey") if not self.settings.has(name)]
        if missing:
            raise StartupError(
                f"Missing required setting(s): {', '.join(missing)}. A connected container needs "
                f"Billing=<endpoint URI of the Speech resource> and ApiKey=<its key>; a disconnected container "
                f"needs Mounts:License and Mounts:Output instead.")
        endpoint = self.settings.get("Billing")
        if not billing_client.valid_endpoint(endpoint):
            raise StartupError(f"Invalid Billing Endpoint URI: {endpoint!r}.")
        return billing_client.BillingClient(
            endpoint, self.settings.get("ApiKey"), self.kind.name, self.version, self.container_id,
            interval=self.settings.number("Emulator:BillingIntervalSeconds", 60),
            retries=self.settings.number("Emulator:BillingRetries", 10), proxy=self._billing_proxy(endpoint))

    def _billing_proxy(self, endpoint):
        try:
            proxy = billing_client.Proxy.from_settings(self.settings)
        except billing_client.ProxyError as error:
            raise StartupError(str(error)) from None
        if proxy.url is None:
            return proxy
        if proxy.bypassed(endpoint):
            log.info("Billing calls go to '%s' directly: NO_PROXY names it.", endpoint)
        else:
            log.info("Billing calls go through the proxy %s.", proxy.describe())
        return proxy

    def _setup_logging(self):
        console = self.settings.get("Logging:Console:LogLevel:Default", "Information").lower()
        logging.getLogger().setLevel(LOG_LEVELS.get(console, logging.INFO))
        disk_format = self.settings.get("Logging:Disk:Format")
        if disk_format is None:
            return
        if disk_format.lower() != "json":
            raise StartupError(f"Logging:Disk:Format must be json, got {disk_format!r}.")
        output = self.settings.get("Mounts:Output", "/output")
        if not os.path.isdir(output):
            raise StartupError(f"Logging:Disk:Format=json needs an output mount: '{output}' (Mounts:Output) does not exist.")
        folder = os.path.join(output, self.kind.service, self.container_id)
        ensure_writable(folder, "Mounts:Output")
        max_mb = self.settings.number("Logging:Disk:MaxFileSize", 1)
        handler = logging.handlers.RotatingFileHandler(
            os.path.join(folder, "log.json"), maxBytes=0 if max_mb < 0 else int(max_mb * 1024 * 1024), backupCount=5)
        handler.setFormatter(JsonFormatter())
        logging.getLogger().addHandler(handler)
        log.info("Using '%s' for writing logs and other output data.", folder)

    async def prepare(self):
        """Check the settings; return an exit code for one-shot modes, None to serve."""
        if (self.settings.get("Eula") or "").strip().lower() != "accept":
            raise StartupError("The Eula setting must be 'accept'. Start the container with Eula=accept to accept "
                               "the license terms.")
        self._setup_logging()
        log.debug("Settings: %s", self.settings.redacted())
        log.info("Engine: %d slots (concurrent queries); more wait for a free slot%s.", self.engine.slots,
                 f", a recognition at most {self.decoder_wait:g} s" if self.kind.mode != "synthesis" else "")
        display_types = self._display_types()
        if self.settings.flag("DownloadLicense"):
            return await self.download_license()
        display_download = None
        if self.kind.name == CUSTOM_SPEECH_TO_TEXT:
            if self.settings.has("BaseModelLocale"):
                return await self.list_models(display_types)
            display_download = self._display_download(display_types)
            if display_download and not self.settings.has("ModelId"):
                return await self.download_display_models_and_exit(display_download)
        license_dir = self.settings.get("Mounts:License")
        if license_dir:
            if not self.kind.disconnected:
                raise StartupError(f"{self.kind.name} is not available as a disconnected container.")
            try:
                self.license = licensing.load_valid(license_dir, self.kind.name)
            except licensing.LicenseError as error:
                raise StartupError(str(error)) from None
            output = self.settings.get("Mounts:Output")
            if not output:
                raise StartupError("A disconnected container needs Mounts:Output for its usage records.")
            ensure_writable(output, "Mounts:Output")
            self.usage_log = licensing.UsageLog(output, self.kind.name, self.kind.service, self.container_id)
            log.info("Disconnected mode: license for %s valid until %s.", self.kind.name, self.license["expiresAt"])
        else:
            self.billing = self._billing_client()
            log.info("Submitting metering to '%s'.", self.settings.get("Billing"))
        if display_download:
            await self.download_display_models_before_serving(display_download)
        if self.kind.uses_model:
            await self.ensure_model()
        if self.kind.name == CUSTOM_SPEECH_TO_TEXT:
            self.use_display_models()
        if self.kind.mode == "language":
            self.phrases = dict(catalog.PHRASES)
        elif self.kind.mode == "recognition":
            self.phrases = {self.locale: list(catalog.PHRASES.get(self.locale, []))}
            if self.model:
                self.phrases[self.locale] += self.model.get("phrases", [])
        return None

    async def download_license(self):
        license_dir = self.settings.get("Mounts:License")
        if not license_dir:
            raise StartupError("DownloadLicense=True needs Mounts:License=<folder> for the license file.")
        if not self.kind.disconnected:
            raise StartupError(f"{self.kind.name} is not available as a disconnected container.")
        client = self._billing_client()
        try:
            ensure_writable(license_dir, "Mounts:License")
            status, body = await client.fetch("/license", json={"containerType": self.kind.name})
        except OSError as error:
            raise StartupError(f"License download failed: cannot reach the billing endpoint ({error}).") from None
        finally:
            await client.close()
        if status != 200:
            raise StartupError(f"License download failed ({status}): {(body or {}).get('apiStatusMessage', body)}")
        path = licensing.write(license_dir, body)
        print(f"License for {self.kind.name} written to {path}; it expires on {body['expiresAt']}.", flush=True)
        return 0

    async def _fetch(self, client, doing, path, **kwargs):
        """The JSON body of a 200 answer of the billing endpoint; else the container refuses to start."""
        try:
            status, body = await client.fetch(path, **kwargs)
        except (OSError, asyncio.TimeoutError) as error:
            raise StartupError(f"Cannot {doing}: the billing endpoint is unreachable ({error}).") from None
        if status != 200:
            detail = (body or {}).get("message") or (body or {}).get("apiStatusMessage") if isinstance(body, dict) else body
            raise StartupError(f"Cannot {doing} ({status}): {detail}")
        return body

    async def list_models(self, display_types):
        """BaseModelLocale: the base models of the locale, or with display types its latest display models; exits."""
        locale = self.settings.get("BaseModelLocale")
        ignored = [name for name in ("DisplayLocale", *display_models.ID_SETTINGS.values()) if self.settings.has(name)]
        if ignored:
            log.warning("%s ignored: BaseModelLocale takes precedence (it lists models and exits).", ", ".join(ignored))
        client = self._billing_client()
        try:
            if display_types:
                models = await self._fetch(client, f"list the display models of {locale}", "/displaymodels",
                                           params={"locale": locale, "types": ",".join(display_types)})
                lines = [f"  {m['id']}  {m['type']}  {m['name']}  locale={m['locale']}  created={m['createdDateTime']}"
                         for m in models]
                heading = f"Display models ({', '.join(display_types)}) for {locale}"
            else:
                models = await self._fetch(client, "list base models", "/basemodels", params={"locale": locale})
                lines = [f"  {m['id']}  {m['name']}  locale={m['locale']}  created={m['createdDateTime']}" for m in models]
                heading = f"Base models for {locale}"
        finally:
            await client.close()
        print(f"{heading} (the container isn't started for service):", flush=True)
        for line in lines or ["  none"]:
            print(line, flush=True)
        return 0

    def _display_types(self):
        """The display types of the bare words; the container refuses any other bare word, and display models before
        version 3.1.0."""
        if self.settings.words and self.kind.name != CUSTOM_SPEECH_TO_TEXT:
            raise StartupError(f"Unknown argument(s) {', '.join(repr(w) for w in self.settings.words)}: "
                               f"{self.kind.name} takes Key=Value settings only.")
        try:
            display_types = display_models.types_from_words(self.settings.words)
        except display_models.DisplayModelError as error:
            raise StartupError(str(error)) from None
        requested = display_types or any(self.settings.has(name) for name in
                                          ("DisplayLocale", *display_models.ID_SETTINGS.values()))
        if requested and self.kind.name == CUSTOM_SPEECH_TO_TEXT \
                and not display_models.supports_display_models(self.version):
            raise StartupError(f"Display models need custom-speech-to-text 3.1.0 or later; this container is "
                               f"version {self.version}.")
        return display_types

    def _display_download(self, display_types):
        """What to download after the documented precedence (BaseModelLocale, then a model ID, then DisplayLocale):
        the display models of the ID settings, else the latest of DisplayLocale unless ModelId is given; or None."""
        requested_ids = {display_type: self.settings.get(setting)
                         for display_type, setting in display_models.ID_SETTINGS.items() if self.settings.has(setting)}
        locale = self.settings.get("DisplayLocale")
        if requested_ids:
            if locale:
                log.warning("DisplayLocale=%s is ignored: display model IDs take precedence.", locale)
            return DisplayDownload(requested_ids, None, ())
        if locale and self.settings.has("ModelId"):
            log.warning("DisplayLocale=%s is ignored: ModelId takes precedence.", locale)
            return None
        if locale and not display_types:
            raise StartupError(f"DisplayLocale={locale} needs the display model types to download: "
                               f"{', '.join(display_models.TYPES)} or {display_models.ALL_TYPES}.")
        if display_types and not locale:
            raise StartupError(f"Display model types ({', '.join(display_types)}) need DisplayLocale=<locale> to "
                               f"download them, or BaseModelLocale=<locale> to list them.")
        return DisplayDownload({}, locale, display_types) if locale else None

    async def _display_entries(self, client, download):
        if not download.ids:
            entries = await self._fetch(client, f"download the display models of {download.locale}", "/displaymodels",
                                        params={"locale": download.locale, "types": ",".join(download.types)})
            if not entries:
                raise StartupError(f"There are no display models ({', '.join(download.types)}) for {download.locale}.")
            return entries
        entries = []
        for display_type, model_id in download.ids.items():
            entry = await self._fetch(client, f"download display model {model_id}",
                                      f"/displaymodels/{urllib.parse.quote(model_id)}")
            if entry.get("type") != display_type:
                raise StartupError(f"{display_models.ID_SETTINGS[display_type]}={model_id} is a {entry.get('type')} "
                                   f"display model, not {display_type}.")
            entries.append(entry)
        return entries

    async def download_display_models(self, client, download):
        """Write the display models into the models folder (those already there stay); returns what it did."""
        entries = await self._display_entries(client, download)
        ensure_writable(self.models_dir, self.models_dir)
        done = []
        for entry in entries:
            if display_models.is_downloaded(self.models_dir, entry):
                done.append(f"Display model {display_models.describe(entry)} is already in "
                            f"{display_models.folder(self.models_dir, entry)}.")
            else:
                done.append(f"Downloaded display model {display_models.describe(entry)} into "
                            f"{display_models.write(self.models_dir, entry)}.")
        return done

    async def download_display_models_and_exit(self, download):
        client = self._billing_client()
        try:
            done = await self.download_display_models(client, download)
        finally:
            await client.close()
        for line in done + ["Display models downloaded (the container isn't started for service)."]:
            print(line, flush=True)
        return 0

    async def download_display_models_before_serving(self, download):
        if self.billing is None:
            raise StartupError("A disconnected container cannot download display models; download them in connected "
                               "mode into the same models folder.")
        for line in await self.download_display_models(self.billing, download):
            log.info(line)

    def use_display_models(self):
        """Take the newest display model of each type for the model's locale from the models folder."""
        self.display_models, skipped = display_models.in_use(display_models.downloaded(self.models_dir), self.locale)
        for entry in skipped:
            log.info("Display model %s is not used: %s.", display_models.describe(entry),
                     "a newer one of its type is" if entry.get("locale", "").lower() == self.locale.lower()
                     else f"it is for {entry.get('locale')}, the model for {self.locale}")
        log.info("Display models in use: %s.", ", ".join(display_models.describe(e) for e in self.display_models)
                 or "none")

    async def ensure_model(self):
        path = os.path.join(self.models_dir, MODEL_FILE)
        model_id = self.settings.get("ModelId")
        if self.kind.name == "custom-text-to-speech" and not model_id:
            raise StartupError("The custom voice Model ID is required to run the container. Start it with "
                               "ModelId=<model id>.")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                self.model = json.load(handle)
            if model_id and model_id != self.model.get("id"):
                log.warning("A model is already in %s (%s); ModelId=%s is ignored.", self.models_dir,
                            self.model.get("id"), model_id)
        else:
            if not model_id:
                raise StartupError(f"No model in {self.models_dir} and no ModelId given. Start with ModelId=<model id>.")
            if self.billing is None:
                raise StartupError(f"No model in {self.models_dir}: a disconnected container cannot download "
                                   f"ModelId={model_id}; download it in connected mode into the same models folder.")
            ensure_writable(self.models_dir, self.models_dir)
            try:
                status, body = await self.billing.fetch(f"/models/{urllib.parse.quote(model_id)}",
                                                        params={"kind": self.kind.name})
            except OSError as error:
                raise StartupError(f"Cannot download model {model_id}: billing endpoint unreachable ({error}).") from None
            if status != 200:
                raise StartupError(f"Cannot download model {model_id} ({status}): "
                                   f"{(body or {}).get('message') or (body or {}).get('apiStatusMessage')}")
            if body.get("kind") != self.kind.name:
                raise StartupError(f"Model {model_id} is a {body.get('kind')} model, not {self.kind.name}.")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(body, handle, indent=2)
            self.model = body
            log.info("Downloaded model %s (%s) into %s.", model_id, body.get("name"), self.models_dir)
        self.locale = catalog.canonical_locale(self.model.get("locale", self.locale))
        self.voice = self.model.get("voice", self.voice)
        log.info("engine_config path: %s", path)

    async def warm_up(self):
        """Imitates model paging: builds the phrase table, then waits out Emulator:WarmupSeconds."""
        started = time.monotonic()
        if self.broken:
            while True:
                log.error("fail: Model load failed: /usr/local/models/properties.json is corrupt. Retrying.")
                await asyncio.sleep(5)
        await self.phrase_table.load(self.phrases)
        if self.kind.mode == "synthesis":
            await synthesis.synthesize(f"<speak version='1.0'><voice name='{self.voice}'>ready</voice></speak>",
                                       self.voice, 16000)
        await asyncio.sleep(max(0.0, self.warmup_seconds - (time.monotonic() - started)))
        self.ready = True
        log.info("Models loaded (%d phrases); the container is ready.", len(self.phrase_table.entries))

    # ----- serving rules --------------------------------------------------------------------------

    def serving_problem(self):
        """(HTTP status, message) when queries are not served now, else None."""
        if not self.ready:
            return 503, "The container is not ready: models are still loading."
        if self.license is not None and licensing.expired(self.license):
            return 403, f"The license for {self.kind.name} expired on {self.license['expiresAt']}."
        if self.billing is not None and not self.billing.serving:
            return (401 if self.billing.status in KEY_PROBLEMS else 503), self.billing.status_message()
        return None

    def check_serving(self):
        problem = self.serving_problem()
        if problem:
            raise usp.Refused(1008, problem[1])

    def record_usage(self, meter, quantity):
        if self.billing is not None:
            self.billing.record(meter, quantity)
        if self.usage_log is not None:
            self.usage_log.record(meter, quantity)

    async def synthesize_pcm(self, ssml, rate):
        """Called with an engine slot held: the slot stays busy for Emulator:SynthesisSeconds as well."""
        pcm, text = await synthesis.synthesize(ssml, self.voice, rate)
        if self.synthesis_seconds > 0:
            await asyncio.sleep(self.synthesis_seconds)
        self.record_usage("Characters", len(text))
        return pcm

    async def take_decoder(self):
        """A slot for a recognition turn (counted as a query from now on), or the WebSocket ends as the SDK sees a
        full client buffer."""
        self.engine.arrive()
        try:
            await self.engine.acquire(self.decoder_wait)
        except engine.SlotTimeout:
            self.engine.leave()
            log.warning("No decoder free within %g s (%d of %d busy): ending the session.", self.decoder_wait,
                        self.engine.active, self.engine.slots)
            raise usp.Refused(1007, BUFFER_EXCEEDED) from None
        except BaseException:
            self.engine.leave()
            raise

    def give_back_decoder(self):
        self.engine.release()
        self.engine.leave()

    # ----- HTTP handlers --------------------------------------------------------------------------

    async def home(self, request):
        what = self.voice or self.locale
        return web.Response(content_type="text/html", text=(
            f"<html><head><title>{self.kind.name}</title></head><body><h1>Your Azure AI service container is up and "
            f"running.</h1><p>Speech emulator: {self.kind.name} {self.version} ({what}). See <a href='/swagger'>"
            f"/swagger</a>, <a href='/ready'>/ready</a>, <a href='/status'>/status</a>.</p></body></html>"))

    async def ready_probe(self, request):
        problem = None if self.ready else "Models are still loading."
        if self.billing is not None and self.billing.given_up:
            problem = self.billing.status_message()
        if problem:
            return web.json_response({"service": self.kind.service, "ready": "notready", "message": problem},
                                     status=503)
        return web.json_response({"service": self.kind.service, "ready": "ready",
                                  "message": "The container is ready to accept queries."})

    async def status(self, request):
        headers = {}
        if self.license is not None:
            valid = not licensing.expired(self.license)
            status, message = ("Valid", f"License is valid until {self.license['expiresAt']}.") if valid else \
                ("Invalid", f"License expired on {self.license['expiresAt']}.")
        else:
            status = await self.billing.check()
            if self.billing.given_up:
                status = "CouldNotConnect"
            message = self.billing.status_message() if self.billing.given_up else billing_client.message_for(status)
            if status in billing_client.UNREACHABLE:
                headers["Retry-After"] = str(billing_client.RETRY_AFTER_SECONDS)
        return web.json_response({"service": self.kind.service, "apiStatus": status, "apiStatusMessage": message},
                                 headers=headers)

    async def swagger_redirect(self, request):
        raise web.HTTPFound("/swagger/index.html")

    async def swagger_ui(self, request):
        return web.Response(content_type="text/html", text=(
            f"<html><head><title>{self.kind.name} API</title></head><body><h1>{self.kind.name} {self.version}</h1>"
            f"<p>OpenAPI document: <a href='/swagger/v1/swagger.json'>/swagger/v1/swagger.json</a></p></body></html>"))

    async def swagger_json(self, request):
        paths = {"/ready": {"get": {"summary": "Ready to accept queries"}},
                 "/status": {"get": {"summary": "Validates the ApiKey against the Billing endpoint"}}}
        if self.kind.mode == "synthesis":
            for path in REST_SYNTHESIS_PATHS:
                paths[path] = {"post": {"summary": "Synthesize SSML", "parameters": [
                    {"name": "X-Microsoft-OutputFormat", "in": "header", "required": True}]}}
            paths["/cognitiveservices/voices/list"] = {"get": {"summary": "Voices served by this container"}}
        if self.license is not None:
            paths["/records/usage-logs/"] = {"get": {"summary": "Usage summary (disconnected mode)"}}
        return web.json_response({"openapi": "3.0.1", "info": {"title": self.kind.name, "version": self.version},
                                  "paths": paths})

    async def usage_logs(self, request):
        if self.usage_log is None:
            raise web.HTTPNotFound(text="Usage records exist only in disconnected mode.")
        month, year = request.match_info.get("month"), request.match_info.get("year")
        return web.json_response(self.usage_log.summary(month, year))

    def _refusal(self, problem):
        return web.json_response({"error": {"code": problem[0], "message": problem[1]}}, status=problem[0])

    async def _websocket(self, request, session_factory):
        problem = self.serving_problem()
        if problem:
            return self._refusal(problem)
        ws = web.WebSocketResponse(protocols=("USP",), max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        log.info("WebSocket %s from %s (connection %s)", request.path, request.remote,
                 request.headers.get("X-ConnectionId", "-"))
        self.engine.connected()
        try:
            await usp.serve(ws, session_factory(ws))
        finally:
            self.engine.disconnected()
        return ws

    @staticmethod
    def _is_upgrade(request):
        return request.headers.get("Upgrade", "").lower() == "websocket"

    async def recognition(self, request):
        if not self._is_upgrade(request):
            raise web.HTTPNotFound(text="Speech to text is served over WebSocket only (Speech SDK).")
        endpoint = RECOGNITION_PATHS.get(request.path, "universal")
        return await self._websocket(
            request, lambda ws: usp.RecognitionSession(ws, self, endpoint, dict(request.query)))

    async def synthesis_websocket(self, request):
        if not self._is_upgrade(request):
            raise web.HTTPNotFound(text="This path is for the Speech SDK's WebSocket.")
        return await self._websocket(request, lambda ws: usp.SynthesisSession(ws, self))

    async def synthesis_rest(self, request):
        if self._is_upgrade(request):
            return await self.synthesis_websocket(request)
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        if request.content_type != "application/ssml+xml":
            return web.Response(status=415, text="Unsupported Media Type: Content-Type must be application/ssml+xml.")
        problem = self.serving_problem()
        if problem:
            return self._refusal(problem)
        format_name = request.headers.get("X-Microsoft-OutputFormat")
        if not format_name:
            return web.Response(status=400, text="The X-Microsoft-OutputFormat header is required.")
        self.engine.arrive()  # a query from here until its answer is written
        try:
            try:
                output = OutputFormat(format_name)
                ssml = await request.text()
                await self.engine.acquire()
                try:
                    response = web.Response(body=output.encode(await self.synthesize_pcm(ssml, output.rate)),
                                            content_type=output.content_type)
                finally:
                    self.engine.release()
            except AudioFormatError as error:
                response = web.Response(status=400, text=str(error))
            except synthesis.SynthesisError as error:
                response = web.Response(status=error.status, text=str(error))
            await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            self.engine.leave()

    async def voices_list(self, request):
        return web.json_response([catalog.voice_entry(self.voice)])

    async def models_in_use(self, request):
        model = {k: self.model.get(k) for k in ("id", "name", "locale")} if self.model else None
        return web.json_response({"model": model, "displayModels": self.display_models})

    async def engine_stats(self, request):
        return web.json_response(self.engine.stats())

    async def engine_reset(self, request):
        self.engine.reset_peaks()
        return web.json_response(self.engine.stats())

    def make_app(self):
        app = web.Application()
        app.router.add_get("/", self.home)
        app.router.add_get("/ready", self.ready_probe)
        app.router.add_get("/status", self.status)
        app.router.add_get("/swagger", self.swagger_redirect)
        app.router.add_get("/swagger/", self.swagger_redirect)
        app.router.add_get("/swagger/index.html", self.swagger_ui)
        app.router.add_get("/swagger/v1/swagger.json", self.swagger_json)
        app.router.add_get("/records/usage-logs/", self.usage_logs)
        app.router.add_get("/records/usage-logs/{month}/{year}", self.usage_logs)
        app.router.add_get(ENGINE_PATH, self.engine_stats)
        app.router.add_post(ENGINE_PATH + "/reset", self.engine_reset)
        app.router.add_get(MODELS_PATH, self.models_in_use)
        if self.kind.mode in ("recognition", "language"):
            for path in RECOGNITION_PATHS:
                app.router.add_route("*", path, self.recognition)
        if self.kind.mode == "language":
            app.router.add_route("*", LANGUAGE_PATH, self.recognition)
        if self.kind.mode == "synthesis":
            for path in REST_SYNTHESIS_PATHS:
                app.router.add_route("*", path, self.synthesis_rest)
            app.router.add_route("*", WS_SYNTHESIS_PATH, self.synthesis_websocket)
            app.router.add_get("/cognitiveservices/voices/list", self.voices_list)
        return app

    # ----- life cycle -----------------------------------------------------------------------------

    async def main(self):
        try:
            exit_code = await self.prepare()
            if exit_code is not None:
                return exit_code
            return await self.serve()
        finally:
            if self.billing is not None:
                await self.billing.close()

    async def serve(self):
        self.stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop.set)
        runner = web.AppRunner(self.make_app(), access_log=logging.getLogger("speech_emulator.access"))
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as error:
            await runner.cleanup()
            raise StartupError(f"Cannot listen on {self.host}:{self.port}: {error.strerror}.") from None
        log.warning("WARNING: No access control enabled!")
        log.info("Now listening on: http://%s:%d", self.host, self.port)
        log.info("Application started. Press Ctrl+C to shut down.")
        tasks = [asyncio.ensure_future(self.warm_up())]
        if self.billing is not None:
            tasks.append(asyncio.ensure_future(self.billing.run()))
        await self.stop.wait()
        log.info("Application is shutting down...")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        return 0


def main(argv=None, environ=None):
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    environ = os.environ if environ is None else environ
    try:
        settings = Settings.from_sources(sys.argv[1:] if argv is None else argv, environ)
        return asyncio.run(Emulator(settings, environ).main())
    except (SettingsError, StartupError) as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 1
