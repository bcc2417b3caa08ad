"""The Molecule scenario's hosts as the hardening suites see them: playbook runs with the scenario's
inventory, commands on the hosts (docker exec) and a fingerprint of what a run could change on a host."""
from __future__ import annotations

import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
SANDBOX_GROUP_VARS = PROJECT / "inventories" / "sandbox" / "group_vars"
ANSIBLE_ENV = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_STDOUT_CALLBACK": "default"}

# What a failed run must leave exactly as it was: packages, services, our folders, the engine's
# containers, and every file under the trees a role writes to (path, mode, owner, size, mtime).
FINGERPRINT = r"""
dpkg-query -W -f '${Package} ${Version} ${Status}\n' | sort
systemctl list-units --type=service --state=running --no-legend --plain | awk '{print $1}' | sort
for tree in /etc /opt /srv /usr/local /var/lib/speechops /root; do
  # the trees' entries, not the trees themselves: Ansible's first contact creates /root/.ansible
  [ -d "$tree" ] && find "$tree" -xdev -mindepth 1 -path /root/.ansible -prune -o -printf '%p %m %u %s %T@\n' 2>/dev/null | sort
done
command -v docker >/dev/null && docker ps -a --no-trunc --format '{{.ID}} {{.Names}} {{.Image}} {{.State}}' | sort
true
"""


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run this suite through its Molecule scenario (make molecule)")
    return value


def docker(*args, check=True, timeout=300, stdin=None):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False,
                            input=stdin)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}…: rc {result.returncode}: {result.stderr.strip()}")
    return result


def on_host(host, script, check=True, stdin=None, timeout=300):
    """Run a shell script on a test host. Without stdin the script itself goes through stdin; with
    stdin (a secret to search for, say) the script is an argument and the data never is."""
    if stdin is None:
        return docker("exec", "-i", host, "sh", "-s", check=check, stdin=script, timeout=timeout)
    return docker("exec", "-i", host, "sh", "-c", script, check=check, stdin=stdin, timeout=timeout)


def fingerprint(host):
    """A digest of the host's state a run could change, and the listing it was made from."""
    listing = on_host(host, FINGERPRINT).stdout
    return hashlib.sha256(listing.encode()).hexdigest(), listing


@dataclass
class Run:
    rc: int
    output: str
    seconds: float

    def tail(self, lines=40):
        return "\n".join(self.output.splitlines()[-lines:])


def scenario_hosts(inventory_file=None, group="speech_hosts"):
    """{inventory_hostname: host vars} of the group's hosts (the speech hosts; speech_lb for the load balancers) in the
    Molecule inventory."""
    inventory = yaml.safe_load(Path(inventory_file or env("MOLECULE_INVENTORY_FILE")).read_text())
    hosts = {}
    for name in ("all", "ungrouped", group):
        hosts.update((inventory.get(name) or {}).get("hosts") or {})
    children = (inventory.get("all") or {}).get("children") or {}
    hosts.update(((children.get(group) or {}).get("hosts")) or {})
    members = set(((children.get(group) or {}).get("hosts") or {}))
    members |= set(((inventory.get(group) or {}).get("hosts") or {}))
    return {name: values or {} for name, values in hosts.items() if name in members}


def write_inventory(directory, hosts, host_vars=None, groups=None):
    """An inventory folder with the given hosts (with their connection vars) in speech_hosts, the
    sandbox's group_vars and optional host_vars: what a case changes is in plain files an operator could read."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "group_vars").unlink(missing_ok=True)
    (directory / "group_vars").symlink_to(SANDBOX_GROUP_VARS)
    children = {"speech_hosts": {"hosts": hosts}}
    children.update(groups or {})
    (directory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}}))
    for host, values in (host_vars or {}).items():
        (directory / "host_vars").mkdir(exist_ok=True)
        (directory / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(values))
    return directory


def playbook(inventory, playbook_path, *args, extra_vars_file=None, timeout=1800, extra_env=None):
    command = ["ansible-playbook", "--inventory", str(inventory)]
    if extra_vars_file:
        command += ["--extra-vars", f"@{extra_vars_file}"]
    command += [*args, str(PROJECT / playbook_path)]
    environment = dict(os.environ, **ANSIBLE_ENV, **(extra_env or {}))
    started = time.time()
    result = subprocess.run(command, cwd=PROJECT, env=environment, capture_output=True, text=True,
                            timeout=timeout, check=False)
    return Run(result.returncode, result.stdout + result.stderr, time.time() - started)
