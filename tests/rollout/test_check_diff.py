"""Reviewable changes: `site.yml --check --diff` on the converged rollout fleet, with one setting changed in each
configuration file the roles write (a container setting, daemon.json, haproxy.cfg) and a new API key, prints the
exact change of each file with every secret masked, and changes nothing on any host: the files, the containers and
the load balancer's servers are the same before and after.
"""
from __future__ import annotations

import re
import secrets
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import Fleet, env, on_host  # noqa: E402

N = "services-n.yml"
# what a host's state is, for this test: every file the roles write or could write, with its mode and owner, and
# every container (including stopped ones) with its id
STATE_SCRIPT = r"""
for root in /etc/speechops /etc/docker /etc/haproxy /etc/systemd/system /var/lib/speechops; do
  [ -e "$root" ] && find "$root" -xdev \( -type f -o -type d \) -printf '%p %m %u\n' | sort
  [ -e "$root" ] && find "$root" -xdev -type f -exec sha256sum {} + | sort
done
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker ps -a --no-trunc --format '{{.ID}} {{.Names}} {{.Image}} {{.State}}' | sort
fi
"""
SERVER_STATE = ("import socket\ns=socket.socket(socket.AF_UNIX);s.connect('/run/haproxy/admin.sock');"
                "s.sendall(b'show servers state\\n');d=b''\nwhile True:\n c=s.recv(65536)\n if not c: break\n d+=c\n"
                "print(d.decode())")


@pytest.fixture(scope="module")
def fleet():
    artifacts = Path(env("MOLECULE_EPHEMERAL_DIRECTORY")) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    return Fleet(inventory=env("MOLECULE_INVENTORY_FILE"), artifacts=artifacts)


def host_state(fleet):
    state = {host: on_host(host, "sh", "-c", STATE_SCRIPT) for host in [*fleet.hosts, fleet.lb]}
    # each server's address and administrative state (what a run could change: drains, maintenance); not its
    # operational state, which moves on its own (a server in its slowstart after the converge becomes running)
    servers = [line.split() for line in on_host(fleet.lb, "python3", "-c", SERVER_STATE).splitlines()[2:]]
    state["servers"] = sorted(" ".join((fields[1], fields[3], fields[4], fields[6])) for fields in servers if len(fields) > 6)
    return state


def diff_blocks(output):
    """{path: (removed lines, added lines)} from the default callback's unified diffs."""
    blocks = {}
    for match in re.finditer(r"^--- before: (\S+)\n\+\+\+ after: \S+\n(.*?)(?=\n\n|\Z)", output, flags=re.M | re.S):
        lines = [line for line in match.group(2).splitlines() if not line.startswith("@@")]
        removed = [line[1:] for line in lines if line.startswith("-")]
        added = [line[1:] for line in lines if line.startswith("+")]
        previous = blocks.get(match.group(1), ([], []))
        blocks[match.group(1)] = (previous[0] + removed, previous[1] + added)
    return blocks


def test_check_diff_shows_each_change_with_secrets_masked_and_changes_nothing(fleet, tmp_path):
    new_key = secrets.token_hex(16)
    changes = tmp_path / "changes.yml"
    changes.write_text(yaml.safe_dump({
        "speech_log_level": "Debug",                                  # every container's settings
        "docker_daemon_options": {"max-concurrent-downloads": 4},    # daemon.json on the speech hosts
        "loadbalancer_timeout_client": "61s",                         # haproxy.cfg on the load balancer
        "speech_api_key": new_key,                                    # a secret: changed, never shown
    }))
    before = host_state(fleet)

    run = fleet.playbook("site.yml", N, str(changes), options=("--check", "--diff"))

    assert run.rc == 0, run.tail(80)
    assert new_key not in run.output and new_key[:12] not in run.output
    blocks = diff_blocks(run.output)
    env_files = {path: block for path, block in blocks.items() if re.match(r"^/etc/speechops/speech-[a-z0-9-]+/env$", path)}
    settings = {path: block for path, block in blocks.items() if path.endswith("/container.json")}
    planned = {name for host in fleet.hosts for name in fleet.containers(host)}
    assert {path.split("/")[3] for path in env_files} == planned, sorted(blocks)
    assert {path.split("/")[3] for path in settings} == planned, sorted(blocks)
    for path, (removed, added) in env_files.items():
        assert "Logging__Console__LogLevel__Default=Debug" in added, (path, removed, added)
        assert "ApiKey=<masked>" in removed and "ApiKey=<masked, changed>" in added, (path, removed, added)
        # nothing else changes: the diff is the exact change
        assert [line for line in added if not line.startswith(("Logging__", "ApiKey="))] == [], (path, added)
    for path, (removed, added) in settings.items():
        assert any('"Logging__Console__LogLevel__Default": "Debug"' in line for line in added), (path, added)
    daemon = blocks.get("/etc/docker/daemon.json")
    assert daemon and any('"max-concurrent-downloads": 4' in line for line in daemon[1]), sorted(blocks)
    haproxy = blocks.get("/etc/haproxy/haproxy.cfg")
    assert haproxy and [line.strip() for line in haproxy[0]] == ["timeout client 60s"] \
        and [line.strip() for line in haproxy[1]] == ["timeout client 61s"], haproxy
    assert re.search(r"speechops-molro-host\d\s+: ok=\d+\s+changed=[1-9]", run.output), run.tail(20)

    assert host_state(fleet) == before
