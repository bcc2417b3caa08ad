"""Helpers for the tests that run against a sandbox: its settings, the docker CLI, plain HTTP."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path


class Sandbox:
    def __init__(self):
        self.state = Path(os.environ.get("SANDBOX_STATE", Path(__file__).resolve().parents[2] / ".sandbox"))
        self.prefix = os.environ.get("SANDBOX_PREFIX", "speechops-sbx")
        self.network = os.environ.get("SANDBOX_NETWORK", f"{self.prefix}-net")
        self.registry_local = os.environ.get("REGISTRY_LOCAL_PORT", "127.0.0.1:5443")
        self.billing = os.environ.get("SANDBOX_BILLING", "http://172.31.213.3:5001/")
        self.run_id = uuid.uuid4().hex[:8]

    def file(self, name):
        return (self.state / name).read_text().strip()

    def up(self):
        return docker("network", "inspect", self.network, check=False).returncode == 0


def docker(*args, check=True, env=None, timeout=600, stdin=None):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False,
                            env=env, input=stdin)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} ... failed: {result.stderr.strip()}")
    return result


def http_get(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def http_json(url):
    status, body = http_get(url)
    return status, (json.loads(body) if body else None)
