"""Disconnected mode: licence files and usage records.

A licence is a JSON file ``<kind>.license`` signed with an HMAC that the billing stub and the
emulator share (the real licences decrypt files in the image; here the signature stands in).
It names the container kind it is valid for and an expiry.
"""
import datetime
import hashlib
import hmac
import json
import os
import time

SIGNING_KEY = b"speechops-emulator-license-v1"
LICENSE_PATH_MISSING = ("The provided license path was not found. Please ensure a volume is mounted and a "
                        "directory exists at the location specified by Mounts:License")


class LicenseError(Exception):
    pass


def key_id(api_key):
    """A stable, non-secret handle for an API key (its SHA-256 prefix)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def _signature(body):
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(SIGNING_KEY, canonical, hashlib.sha256).hexdigest()


def issue(kind, api_key, days):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    body = {"containerType": kind, "keyId": key_id(api_key), "issuedAt": now.isoformat(),
            "expiresAt": (now + datetime.timedelta(days=days)).isoformat()}
    return dict(body, signature=_signature(body))


def write(directory, license_document):
    path = os.path.join(directory, f"{license_document['containerType']}.license")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(license_document, handle, indent=2)
    return path


def load_valid(directory, kind):
    """The licence for `kind` in `directory`; LicenseError says why there is none."""
    if not os.path.isdir(directory):
        raise LicenseError(LICENSE_PATH_MISSING)
    problems = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
            body = {k: v for k, v in document.items() if k != "signature"}
            if not hmac.compare_digest(str(document.get("signature", "")), _signature(body)):
                problems.append(f"{name}: signature is not valid")
            elif document.get("containerType") != kind:
                problems.append(f"{name}: for {document.get('containerType')}, not {kind}")
            elif expired(document):
                problems.append(f"{name}: expired on {document['expiresAt']}")
            else:
                return document
        except (OSError, ValueError, AttributeError):
            problems.append(f"{name}: not a licence file")
    detail = "; ".join(problems) if problems else "the folder is empty"
    raise LicenseError(f"No valid license for {kind} in {directory} ({detail}). Download one with DownloadLicense=True.")


def expired(document):
    return datetime.datetime.fromisoformat(document["expiresAt"]) <= datetime.datetime.now(datetime.timezone.utc)


class UsageLog:
    """Usage records under <Mounts:Output>/usage-records/<YYYY>-<MM>/<container id>.jsonl."""

    def __init__(self, output_dir, api_type, service, container_id):
        self.root = os.path.join(output_dir, "usage-records")
        self.api_type, self.service, self.container_id = api_type, service, container_id

    def record(self, meter, quantity):
        now = time.gmtime()
        folder = os.path.join(self.root, time.strftime("%Y-%m", now))
        os.makedirs(folder, exist_ok=True)
        line = {"meter": {"name": meter, "quantity": quantity}, "apiType": self.api_type,
                "requestTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", now), "containerId": self.container_id}
        with open(os.path.join(folder, f"{self.container_id}.jsonl"), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def summary(self, month=None, year=None):
        totals = {}
        folders = sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []
        if month is not None:
            folders = [f for f in folders if f == f"{int(year):04d}-{int(month):02d}"]
        for folder in folders:
            for name in os.listdir(os.path.join(self.root, folder)):
                with open(os.path.join(self.root, folder, name), encoding="utf-8") as handle:
                    for line in handle:
                        meter = json.loads(line)["meter"]
                        totals[meter["name"]] = totals.get(meter["name"], 0) + meter["quantity"]
        return {"apiType": self.api_type, "serviceName": self.service,
                "meters": [{"name": k, "quantity": round(v, 3)} for k, v in sorted(totals.items())]}
