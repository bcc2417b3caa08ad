"""Tests against a running sandbox (`make integration` brings the test sandbox up and down around them).

The sandbox's addresses and files come from the environment the Makefile exports (SANDBOX_*), with the
state directory's files (CA, registry password, API keys) read from SANDBOX_STATE.
"""
from __future__ import annotations

import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sandbox_support import Sandbox, docker  # noqa: E402


@pytest.fixture(scope="session")
def sandbox():
    found = Sandbox()
    if not found.up():
        message = f"the sandbox network {found.network} does not exist: run 'make sandbox-up' (or 'make integration')"
        if os.environ.get("SANDBOX_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def registry_client(sandbox):
    """A docker client config logged in to the sandbox registry; the controller's ~/.docker is untouched."""
    with tempfile.TemporaryDirectory() as config:
        env = dict(os.environ, DOCKER_CONFIG=config)
        docker("login", "-u", "speechops", "--password-stdin", sandbox.registry_local, env=env,
               stdin=sandbox.file("registry/password"))
        yield env
