# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as users get it: `ansible-galaxy collection build`, an offline install, and the
playbooks run as speechops.speech.<name> from the installed copy, never from this checkout.

Every Ansible command runs from a temporary working directory with ANSIBLE_CONFIG pointing to a
minimal temporary ansible.cfg (so the checkout's ansible.cfg, whose collections_path reaches the
checkout through collections/ansible_collections/speechops/speech, is never read) and with
ANSIBLE_COLLECTIONS_PATH set to the install directory alone. The collections that galaxy.yml depends on
(community.docker, ansible.posix, community.general, community.crypto) come from the `ansible` package
in the venv's site-packages/ansible_collections, which Ansible always scans.

Run: .venv/bin/python -m pytest tests/galaxy -q
Optional: GALAXY_SITE_INVENTORY=<live inventory> [GALAXY_SITE_EXTRA_VARS=<file>[:<file>...]]
[ANSIBLE_VAULT_PASSWORD_FILE=<file>] also runs speechops.speech.site from the tarball and expects a
converged fleet (every recap line changed=0).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The venv's bin directory (not resolved: the venv's python is a symlink to the system one).
BIN = Path(sys.executable).parent
NAMESPACE, NAME = "speechops", "speech"
FQCN = NAMESPACE + "." + NAME

# Any Galaxy server the commands might try despite --offline is a closed port on the loopback.
CLOSED_LOOPBACK_SERVER = "http://127.0.0.1:9/"
MINIMAL_ANSIBLE_CFG = """\
# Written by tests/galaxy/test_collection_tarball.py: no collections_path, roles_path or inventory,
# so the only copy of speechops.speech that Ansible sees is the one ANSIBLE_COLLECTIONS_PATH names.
[defaults]
interpreter_python = auto_silent
retry_files_enabled = false
forks = 20

# Performance only, as in the checkout's ansible.cfg: one exec per module (docker-cli connections included).
[connection]
pipelining = true
"""

# Tarball contents.
REQUIRED_FILES = ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "playbooks/site.yml", "plugins/modules/host_facts.py")
FORBIDDEN_ANYWHERE = frozenset((".git", ".venv", ".sandbox", ".cache", ".pytest_cache", ".hypothesis", ".ansible", "__pycache__",
                                "artifacts"))
FORBIDDEN_TOP_LEVEL = frozenset(("tests", "molecule", "sandbox", "collections",
                                 # checkout-only tooling and configuration (galaxy.yml build_ignore says why)
                                 "scripts", "ansible.cfg", "site.yml", "requirements.txt", "pytest.ini", ".yamllint",
                                 "Makefile", ".gitignore", ".ci", ".config", "galaxy.yml"))
# The sandbox inventory (its vault.yml is written by `make sandbox-up`) and the plan's default artifacts directory.
FORBIDDEN_PREFIXES = ("inventories/sandbox", "inventories/artifacts")

# speechops.speech.plan on localhost.
PLAN_SERVICES = [
    {"name": "stt-en-us", "kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "replicas": 2, "cpus": 0.25, "memory_mb": 256,
     "model_memory_mb": 0},
    {"name": "tts-aria", "kind": "neural-text-to-speech", "version": "4.1.0", "voice": "en-US-AriaNeural", "replicas": 1,
     "cpus": 0.25, "memory_mb": 256},
]
PLAN_CONTAINERS = {"speech-stt-en-us-1": "stt-en-us", "speech-stt-en-us-2": "stt-en-us", "speech-tts-aria-1": "tts-aria"}
# What a first plan run may change: the catalog it writes on the controller (localhost is the controller here).
PLAN_CONTROLLER_WRITES = frozenset(("Create the artifacts directory on the controller", "Write the plan and the endpoints catalog"))

TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<task>.*)\]")
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                        r"\s+failed=(?P<failed>\d+)", re.MULTILINE)

SITE_INVENTORY = os.environ.get("GALAXY_SITE_INVENTORY", "")
SITE_EXTRA_VARS = [path for path in os.environ.get("GALAXY_SITE_EXTRA_VARS", "").split(os.pathsep) if path]
SITE_TIMEOUT = 3600


def ansible_env(root, passthrough=()):
    """The environment of every Ansible command: none of the caller's ANSIBLE_* settings (nor PYTHONPATH),
    the minimal config, the install directory as the only collections path, no colours."""
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith("ANSIBLE_") and key != "PYTHONPATH")
    env.update((key, os.environ[key]) for key in passthrough if os.environ.get(key))
    env.update({
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(root / "collections"),
        "ANSIBLE_GALAXY_SERVER": CLOSED_LOOPBACK_SERVER,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    return env


def run(ctx, tool, *args, env=None, timeout=300):
    """Run .venv/bin/<tool> from the temporary working directory; never raises on a non-zero rc."""
    return subprocess.run([str(BIN / tool)] + [str(arg) for arg in args], cwd=str(ctx.cwd), env=env or ctx.env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


def explain(result):
    """The tail of a command's output, for assertion messages."""
    return "rc=%s\n$ %s\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s" % (
        result.returncode, " ".join(result.args), result.stdout[-6000:], result.stderr[-3000:])


def recap(stdout):
    """{host: {ok, changed, unreachable, failed}} from the last PLAY RECAP of a default-callback run."""
    if "PLAY RECAP" not in stdout:
        return {}
    tail = stdout.rsplit("PLAY RECAP", 1)[1]
    return dict((match["host"], dict((key, int(match[key])) for key in ("ok", "changed", "unreachable", "failed")))
                for match in RECAP_LINE.finditer(tail))


def changed_tasks(stdout):
    """Names of the tasks that reported `changed:` for any host or item."""
    names, task = set(), None
    for line in stdout.splitlines():
        header = TASK_HEADER.match(line)
        if header:
            task = header["task"]
        elif line.startswith("changed: [") and task is not None:
            names.add(task)
    return names


def controller_has_avx2():
    """What speechops.speech.host_facts will report: the `flags` line of /proc/cpuinfo lists avx2."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            return any(line.startswith("flags") and "avx2" in line.split(":", 1)[-1].split() for line in cpuinfo)
    except OSError:
        return False


def plan_inventory(artifacts, avx2):
    """localhost as the only speech host, reached with the local connection and this venv's python."""
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    if not avx2:
        # The planner places nothing on a host without AVX2 (module_utils/plan.py, REASON_NO_AVX2), but it honours
        # the operator's speech_pinned on any host and marks that host overcommitted (preflight, not plan.yml, rejects it).
        host["speech_pinned"] = []
        for service in PLAN_SERVICES:
            host["speech_pinned"] += [{"service": service["name"]}] * service["replicas"]
    return {"all": {
        "children": {"speech_hosts": {"hosts": {"localhost": host}}},
        "vars": {"speech_artifacts_dir": str(artifacts), "speech_services": PLAN_SERVICES},
    }}


@pytest.fixture(scope="module")
def galaxy():
    """Build the tarball from this checkout and install it offline, all under one temporary directory that is
    removed afterwards. The two slow playbook runs that need nothing but the install (the syntax check of every
    playbook and the first plan run) start in the background at once; their tests wait for them."""
    root = Path(tempfile.mkdtemp(prefix="speechops-galaxy-"))
    try:
        (root / "ansible.cfg").write_text(MINIMAL_ANSIBLE_CFG, encoding="utf-8")
        (root / "cwd").mkdir()
        (root / "dist").mkdir()
        ctx = types.SimpleNamespace(root=root, cwd=root / "cwd", env=ansible_env(root), collections=root / "collections",
                                    install=root / "collections" / "ansible_collections" / NAMESPACE / NAME)
        ctx.build = run(ctx, "ansible-galaxy", "collection", "build", "--output-path", root / "dist", REPO)
        assert ctx.build.returncode == 0, explain(ctx.build)
        tarballs = sorted((root / "dist").glob("%s-%s-*.tar.gz" % (NAMESPACE, NAME)))
        assert len(tarballs) == 1, "expected one tarball in %s, got %s" % (root / "dist", tarballs)
        ctx.tarball = tarballs[0]
        with tarfile.open(ctx.tarball, "r:gz") as archive:
            ctx.members = [member.name for member in archive.getmembers()]
            ctx.files_json = json.load(archive.extractfile("FILES.json"))
            ctx.manifest = json.load(archive.extractfile("MANIFEST.json"))
        # --offline: resolve and install without contacting any Galaxy server. The dependencies in galaxy.yml are
        # satisfied by the collections that the `ansible` package bundles (found installed, so skipped), so
        # --no-deps is not needed and the dependency check still runs.
        ctx.installed = run(ctx, "ansible-galaxy", "collection", "install", "--offline", ctx.tarball, "-p", ctx.collections)
        assert ctx.installed.returncode == 0, explain(ctx.installed)

        ctx.playbooks = sorted(path.stem for path in (ctx.install / "playbooks").glob("*.yml"))
        ctx.syntax_inventory = root / "syntax-inventory.ini"
        ctx.syntax_inventory.write_text("[speech_hosts]\nspeech-host-1 ansible_host=127.0.0.1\n\n"
                                        "[speech_lb]\nspeech-lb-1 ansible_host=127.0.0.1\n", encoding="utf-8")
        ctx.avx2 = controller_has_avx2()
        ctx.artifacts = root / "artifacts"
        ctx.plan_inventory = root / "plan-inventory.json"
        ctx.plan_inventory.write_text(json.dumps(plan_inventory(ctx.artifacts, ctx.avx2), indent=2), encoding="utf-8")
        with ThreadPoolExecutor(max_workers=2) as pool:
            # One ansible-playbook checks all the playbooks in turn.
            ctx.syntax_check = pool.submit(run, ctx, "ansible-playbook", "-i", ctx.syntax_inventory, "--syntax-check",
                                           *["%s.%s" % (FQCN, stem) for stem in ctx.playbooks])
            # -vv names the playbook file and every task's file.
            ctx.first_plan = pool.submit(run, ctx, "ansible-playbook", "-vv", "-i", ctx.plan_inventory, FQCN + ".plan")
            yield ctx
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------------------ a. tarball

def leak_reason(name):
    """Why a tarball member must not ship, or None."""
    parts = name.rstrip("/").split("/")
    if parts[0] in FORBIDDEN_TOP_LEVEL:
        return "top-level %s" % parts[0]
    hit = FORBIDDEN_ANYWHERE.intersection(parts)
    if hit:
        return "contains %s" % ", ".join(sorted(hit))
    if any(name == prefix or name.startswith(prefix + "/") for prefix in FORBIDDEN_PREFIXES):
        return "under a directory that must not ship"
    if "vault-password" in parts[-1] or "vault_password" in parts[-1]:
        return "a vault password file"
    if name.endswith((".tar.gz", ".pyc")):
        return "a build or bytecode artifact"
    return None


def test_tarball_ships_the_collection_and_nothing_else(galaxy):
    members = set(name.rstrip("/") for name in galaxy.members)
    assert galaxy.manifest["collection_info"]["namespace"] == NAMESPACE and galaxy.manifest["collection_info"]["name"] == NAME
    missing = [name for name in REQUIRED_FILES if name not in members]
    roles = sorted(path.name for path in (REPO / "roles").iterdir() if path.is_dir())
    assert roles, "no roles under %s" % (REPO / "roles")
    missing += ["roles/%s/meta/argument_specs.yml" % role for role in roles if "roles/%s/meta/argument_specs.yml" % role not in members]
    assert not missing, "missing from %s: %s" % (galaxy.tarball.name, missing)
    # Every playbook of the checkout ships.
    shipped = sorted(name for name in members if re.match(r"^playbooks/[^/]+\.yml$", name))
    assert shipped == sorted("playbooks/" + path.name for path in (REPO / "playbooks").glob("*.yml")), shipped
    leaks = sorted("%s (%s)" % (name, leak_reason(name)) for name in members if leak_reason(name))
    assert not leaks, "files that must not ship are in %s; extend galaxy.yml build_ignore:\n%s" % (galaxy.tarball.name, "\n".join(leaks))
    # FILES.json (what ansible-galaxy verifies on install) describes exactly the archive.
    listed = set(entry["name"] for entry in galaxy.files_json["files"] if entry["name"] != ".")
    assert listed == members - {"MANIFEST.json", "FILES.json"}


# ------------------------------------------------------------------------------------ b. offline install

def test_offline_install_uses_the_bundled_dependencies(galaxy):
    out = galaxy.installed.stdout
    assert "%s:%s was installed successfully" % (FQCN, galaxy.manifest["collection_info"]["version"]) in out, explain(galaxy.installed)
    for dependency in galaxy.manifest["collection_info"]["dependencies"]:
        assert re.search(r"'%s:[^']+' is already installed, skipping" % re.escape(dependency), out), explain(galaxy.installed)
    # Only our collection went into the install directory: the dependencies stay in the `ansible` package.
    assert sorted(path.name for path in (galaxy.collections / "ansible_collections").iterdir()) == [NAMESPACE]
    assert (galaxy.install / "MANIFEST.json").is_file() and not (galaxy.install / "galaxy.yml").exists()
    # With this environment the install directory holds the only speechops.speech Ansible can see.
    listing = run(galaxy, "ansible-galaxy", "collection", "list", FQCN, "--format", "json")
    assert listing.returncode == 0, explain(listing)
    assert list(json.loads(listing.stdout)) == [str(galaxy.collections / "ansible_collections")], listing.stdout


@pytest.mark.parametrize("plugin_type, plugin, source", [
    ("module", "host_facts", "plugins/modules/host_facts.py"),
    ("filter", "plan", "plugins/filter/plan.yml"),
])
def test_ansible_doc_renders_from_the_installed_copy(galaxy, plugin_type, plugin, source):
    rendered = run(galaxy, "ansible-doc", "-t", plugin_type, "%s.%s" % (FQCN, plugin))
    assert rendered.returncode == 0, explain(rendered)
    assert "(%s)" % (galaxy.install / source) in rendered.stdout, explain(rendered)


# ------------------------------------------------------------------------------------ c. syntax check

def test_every_playbook_passes_the_syntax_check(galaxy):
    assert "site" in galaxy.playbooks and "plan" in galaxy.playbooks, galaxy.playbooks
    checked = galaxy.syntax_check.result()
    if checked.returncode != 0:
        # ansible-playbook stops at the first failure: check each on its own to name every one that fails.
        failures = [explain(result) for result in
                    (run(galaxy, "ansible-playbook", "-i", galaxy.syntax_inventory, "--syntax-check", "%s.%s" % (FQCN, stem))
                     for stem in galaxy.playbooks)
                    if result.returncode != 0]
        pytest.fail("syntax check failed:\n" + "\n\n".join(failures or [explain(checked)]))
    for stem in galaxy.playbooks:
        assert "playbook: %s" % (galaxy.install / "playbooks" / (stem + ".yml")) in checked.stdout, explain(checked)


# ------------------------------------------------------------------------------- d. a real plan run

def test_plan_from_the_tarball_places_the_services_on_localhost(galaxy):
    first = galaxy.first_plan.result()
    assert first.returncode == 0, explain(first)
    assert "plays in %s" % (galaxy.install / "playbooks" / "plan.yml") in first.stdout, explain(first)
    task_paths = re.findall(r"^task path: (.*)$", first.stdout, re.MULTILINE)
    assert task_paths and all(path.startswith(str(galaxy.install) + os.sep) for path in task_paths), sorted(set(task_paths))
    assert recap(first.stdout)["localhost"]["failed"] == 0, explain(first)
    # The only changes are the catalog files written on the controller; localhost is the controller and the
    # speech host at once, so the recap counts them against it.
    assert changed_tasks(first.stdout) <= PLAN_CONTROLLER_WRITES, explain(first)

    # Run again: the plan is deterministic and the hosts are only read, so nothing changes at all.
    second = run(galaxy, "ansible-playbook", "-i", galaxy.plan_inventory, FQCN + ".plan")
    assert second.returncode == 0, explain(second)
    counts = recap(second.stdout)
    assert list(counts) == ["localhost"], explain(second)
    assert (counts["localhost"]["changed"], counts["localhost"]["unreachable"], counts["localhost"]["failed"]) == (0, 0, 0), explain(second)

    plan = json.loads((galaxy.artifacts / "speech-plan.json").read_text(encoding="utf-8"))
    assert list(plan["hosts"]) == ["localhost"]
    host = plan["hosts"]["localhost"]
    assert host["avx2"] is galaxy.avx2
    assert host["overcommitted"] is (not galaxy.avx2)
    containers = host["containers"]
    assert dict((container["name"], container["service"]) for container in containers) == PLAN_CONTAINERS
    assert all(container["pinned"] is (not galaxy.avx2) for container in containers)
    ports = [container["host_port"] for container in containers]
    assert len(set(ports)) == len(ports), ports
    assert all(plan["options"]["port_base"] <= port <= plan["options"]["port_max"] for port in ports), ports
    assert plan["summary"]["containers"] == len(PLAN_CONTAINERS) and plan["summary"]["hosts"] == 1
    for service in PLAN_SERVICES:
        backends = plan["services"][service["name"]]["backends"]
        assert len(backends) == service["replicas"] and all(backend["host"] == "localhost" for backend in backends)

    endpoints = json.loads((galaxy.artifacts / "speech-endpoints.json").read_text(encoding="utf-8"))
    assert sorted(endpoints["services"]) == sorted(service["name"] for service in PLAN_SERVICES)
    table = (galaxy.artifacts / "speech-endpoints.md").read_text(encoding="utf-8")
    assert all(name in table for name in PLAN_CONTAINERS), table


# ---------------------------------------------------------------- e. site on a live fleet (optional hook)

@pytest.mark.skipif(not SITE_INVENTORY, reason="GALAXY_SITE_INVENTORY is not set: set it to a live inventory (e.g. Molecule's) "
                                               "to run speechops.speech.site from the tarball against a converged fleet")
def test_site_from_the_tarball_changes_nothing_on_a_converged_fleet(galaxy):
    args = ["-i", os.path.abspath(SITE_INVENTORY)]
    for path in SITE_EXTRA_VARS:
        args += ["-e", "@" + os.path.abspath(path)]
    env = ansible_env(galaxy.root, passthrough=("ANSIBLE_VAULT_PASSWORD_FILE",))
    if env.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = os.path.abspath(env["ANSIBLE_VAULT_PASSWORD_FILE"])
    site = run(galaxy, "ansible-playbook", *args, FQCN + ".site", env=env, timeout=SITE_TIMEOUT)
    assert site.returncode == 0, explain(site)
    lines = recap(site.stdout)
    assert lines, explain(site)
    busy = dict((host, counts) for host, counts in lines.items() if counts["changed"] or counts["failed"] or counts["unreachable"])
    assert not busy, "not converged: %s\n%s" % (busy, explain(site))
