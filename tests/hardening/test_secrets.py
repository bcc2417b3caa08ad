"""Secrets: the API keys, the registry password, the proxy's credentials (speech_http_proxy_creds) and a password in
the proxy's URL never show, at -vvv, in site.yml, rollout.yml and rotate_keys.yml, nor in a run that fails midway (a
health gate that fails and is rolled back; the failure quotes the failed container's last log lines, scrubbed). Each
run's output, Ansible's log file and the log_plays callback's per-host logs are searched; every process's arguments
are sampled while the runs last; afterwards every text file on every host, the artifacts (endpoints catalog)
and Molecule's ephemeral directory are searched.

Every run plants the proxy's credentials (extra vars, a new password each time) with a proxy that does not exist;
NO_PROXY names the billing stub, so the containers reach it directly. The proxy's URL carries a password too
(user:password@, which the contract accepts): both must be in the env files and nowhere else. Every run plants a
load-balancer client key as well (speech_lb_client_keys): it must be in no file at all, on any host of the scenario
(load balancers included; a load balancer holds only its SHA-256) or the controller, and in no output or log. This
scenario has no load balancer, so here it crosses the controller's side alone (the contract, preflight, the plan);
tests/auth (Molecule auth) searches a load balancer that uses it the same way.

Runs in the Molecule `default` scenario, on its converged fleet, after the fault suite (it leaves the
fleet on the secondary key).
"""
from __future__ import annotations

import base64
import os
import re
import secrets as random_secrets
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from hosts import PROJECT, SANDBOX_GROUP_VARS, env, on_host, playbook, scenario_hosts

STATE = Path(os.environ.get("SANDBOX_STATE", ".sandbox"))
SEARCHED_TREES = ["/etc", "/root", "/home", "/tmp", "/var", "/run", "/opt", "/srv", "/usr/local"]
# The engine's own root-only records of a container's environment (the containers take their settings
# from them) and the env files themselves: the only places a key may be.
ALLOWED_FILES = (
    r"^/etc/speechops/speech-[a-z0-9-]+/env$",
    r"^/var/lib/docker/containers/[0-9a-f]{64}/config\.v2\.json$",
    r"^/var/lib/containerd/io\.containerd\.metadata\.v1\.bolt/meta\.db$",
    r"^/run/containerd/io\.containerd\.runtime\.v2\.task/moby/[0-9a-f]{64}/config\.json$",
)


# Secrets the runs plant into every container's env file, which must then hold them.
PLANTED = ("proxy credentials password", "proxy URL password")
# A secret the runs plant that no file may hold, env files included.
NOWHERE = ("load-balancer client key",)
SANDBOX_BILLING = os.environ.get("SANDBOX_BILLING") or "http://172.31.213.3:5001/"  # as inventories/sandbox says
# What the failing rollout's output says once the previous containers are back.
ROLLED_BACK = "The previous container was put back and answers /ready again."


def read_secret(*parts):
    return (STATE.joinpath(*parts)).read_text().strip()


def new_password(kind):
    """A password nothing holds yet, long enough to search for, fit for a URL's user:password."""
    return f"{kind}-{random_secrets.token_hex(10)}"


@pytest.fixture(scope="module")
def secrets():
    password = read_secret("registry", "password")
    found = {"API key": read_secret("api-key"), "secondary API key": read_secret("api-key-secondary"),
             "registry password": password,
             # the form Docker keeps a login in, in /root/.docker/config.json
             "registry login (base64)": base64.b64encode(f"speechops:{password}".encode()).decode(),
             "proxy URL password": new_password("proxyurl"),
             "proxy credentials password": new_password("proxycreds"),
             "load-balancer client key": new_password("clientkey")}
    assert all(len(value) >= 16 for value in found.values()), "the sandbox's secrets are too short to search for"
    return found


@pytest.fixture(scope="module")
def planted_settings(secrets):
    """The fleet's variables that carry the planted secrets in every run: the proxy's URL with a password in it, and
    its credentials (the proxy does not exist; NO_PROXY names the billing stub, so the containers reach it directly),
    and a load-balancer client key."""
    billing = urlsplit(SANDBOX_BILLING)
    every_run = {"speech_http_proxy": f"http://proxyuser:{secrets['proxy URL password']}@proxy.invalid:3128",
                 "speech_http_proxy_creds": f"proxyuser:{secrets['proxy credentials password']}",
                 "speech_no_proxy": [billing.hostname],
                 "speech_lb_client_keys": [{"name": "secrets-suite", "key": secrets["load-balancer client key"]}]}
    return {"every run": every_run}


class PsSampler(threading.Thread):
    """Every process's arguments, over and over, until stopped. The test hosts are containers on this machine, so
    its /proc shows their processes (and those of the speech containers inside them) beside the controller's:
    one scan covers them all, without a `docker exec` per host and sample."""

    def __init__(self, hosts):
        super().__init__(daemon=True)
        self.hosts = hosts
        self.samples = []
        self.done = threading.Event()

    @staticmethod
    def scan():
        arguments = set()
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(os.path.join(entry.path, "cmdline"), "rb") as handle:
                        arguments.add(handle.read().replace(b"\0", b" ").decode("utf-8", "replace"))
                except OSError:  # the process ended meanwhile
                    pass
        return arguments

    def run(self):
        seen = set()
        while not self.done.is_set():
            seen |= self.scan()
            self.samples.append(len(seen))
            self.done.wait(0.1)
        self.seen = seen

    def stop(self):
        self.done.set()
        self.join()
        return "\n".join(sorted(self.seen))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    hosts = scenario_hosts()
    logs = tmp_path_factory.mktemp("logs")
    return {"hosts": list(hosts), "load_balancers": list(scenario_hosts(group="speech_lb")),
            "inventory": env("MOLECULE_INVENTORY_FILE"), "logs": logs, "artifacts": tmp_path_factory.mktemp("artifacts")}


def services_with(changes):
    services = yaml.safe_load((SANDBOX_GROUP_VARS / "all" / "services.yml").read_text())["speech_services"]
    return [dict(service, **changes.get(service["name"], {})) for service in services]


RUNS = [
    ("site.yml, a converged fleet", "site.yml", {}, True),
    ("rollout.yml, a new text-to-speech version", "playbooks/rollout.yml",
     {"speech_services": services_with({"tts-aria": {"version": "4.0.0"}})}, True),
    ("rotate_keys.yml to the secondary key", "playbooks/rotate_keys.yml",
     {"speech_api_key_in_use": "secondary", "speech_services": services_with({"tts-aria": {"version": "4.0.0"}})}, True),
    # The failure quotes the failed container's last log lines (through speechops.speech.speech_scrub), its billing
    # endpoint among them.
    ("rollout.yml failing midway (a version that never becomes ready)", "playbooks/rollout.yml",
     {"speech_api_key_in_use": "secondary", "speech_ready_timeout": 15,
      "speech_services": services_with({"tts-aria": {"version": "4.0.0"}, "stt-en-us": {"version": "5.2.0"}})},
     ["failed its health gate", "Model load failed", ROLLED_BACK, "Last log lines:", "Submitting metering to"]),
]


@pytest.mark.parametrize("title,path,variables,outcome", RUNS, ids=[run[0] for run in RUNS])
def test_a_verbose_run_shows_no_secret(title, path, variables, outcome, secrets, planted_settings, fleet, tmp_path):
    """outcome: True for a run that must pass, else what the output of the failing run must say."""
    log_file = fleet["logs"] / (Path(path).stem + ".log")
    per_host_logs = fleet["logs"] / (Path(path).stem + "-hosts")
    extra_vars = tmp_path / "vars.yml"
    variables = dict(variables)
    planted = planted_settings[variables.pop("planted", "every run")]
    extra_vars.write_text(yaml.safe_dump(dict(planted, **variables, speech_artifacts_dir=str(fleet["artifacts"]))))
    sampler = PsSampler(fleet["hosts"])
    sampler.start()
    try:
        run = playbook(fleet["inventory"], path, "-vvv", extra_vars_file=extra_vars, extra_env={
            "ANSIBLE_LOG_PATH": str(log_file),
            "ANSIBLE_CALLBACKS_ENABLED": "community.general.log_plays",
            "ANSIBLE_LOG_FOLDER": str(per_host_logs)})
    finally:
        processes = sampler.stop()
    print(f"SECRETS [{title}] rc={run.rc} in {run.seconds:.0f}s, {len(sampler.samples)} process scans")
    assert "speech_emulator" in processes, "the scans did not reach the speech containers' processes"
    if outcome is True:
        assert run.rc == 0, run.tail()
    else:
        assert run.rc != 0 and all(words in run.output for words in outcome), run.tail()
    if outcome is not True and ROLLED_BACK in outcome:
        # the rollback left every speech-to-text replica on its previous image, and no -previous container
        for host in fleet["hosts"]:
            containers = on_host(host, "docker ps -a --format '{{.Names}} {{.Image}} {{.State}}'").stdout.splitlines()
            assert not [line for line in containers if "-previous" in line], containers
            assert all(line.endswith(":5.1.0-amd64-en-us running") for line in containers
                       if line.startswith("speech-stt-en-us-")), containers
    logs = log_file.read_text() + "".join(p.read_text() for p in per_host_logs.glob("*"))
    assert "PLAY RECAP" in logs and len(list(per_host_logs.glob("*"))) >= len(fleet["hosts"]), "the logs were not written"
    for name, secret in secrets.items():
        assert secret not in run.output, f"the {name} is in the output of {title}"
        assert secret not in logs, f"the {name} is in the log files of {title}"
        assert secret not in processes, f"the {name} is in a process's arguments during {title}"


def files_holding(host, secret):
    found = []
    for tree in SEARCHED_TREES:
        # text files only (-I), the secret from stdin so that grep's own arguments do not hold it
        result = on_host(host, f"grep -rlsIF -D skip -f /dev/stdin {tree}", stdin=secret, check=False)
        assert result.returncode in (0, 1, 2), result.stderr
        found += result.stdout.split()
    return found


def test_no_file_on_a_host_holds_a_secret_except_the_env_files(secrets, fleet):
    env_files_seen = 0
    planted_in_env_files = dict.fromkeys(PLANTED, 0)
    for host in fleet["hosts"] + fleet["load_balancers"]:
        for name, secret in secrets.items():
            files = files_holding(host, secret)
            assert name not in NOWHERE or not files, f"{host}: {name} in {files}"
            unexpected = [path for path in files if not any(re.match(pattern, path) for pattern in ALLOWED_FILES)]
            assert not unexpected, f"{host}: {name} in {unexpected}"
            env_files = [path for path in files if path.startswith("/etc/speechops/")]
            env_files_seen += len(env_files)
            if name in planted_in_env_files:
                planted_in_env_files[name] += len(env_files)
            for path in env_files:
                mode = on_host(host, f"stat -c '%a %U' {path}").stdout.split()
                assert mode == ["600", "root"], f"{host}:{path} is {mode}"
    assert env_files_seen > 0, "the search found no env file: it cannot have worked"
    # the containers run with the planted settings, so the runs above had them to show
    assert all(planted_in_env_files.values()), f"a planted secret is in no env file: {planted_in_env_files}"


def test_no_file_on_the_controller_holds_a_secret(secrets, fleet):
    # the artifacts hold the endpoints catalog; .cache/facts is the fact cache when ansible.cfg's is used
    trees = [fleet["artifacts"], fleet["logs"], Path(env("MOLECULE_EPHEMERAL_DIRECTORY")), PROJECT / ".cache" / "facts"]
    files = [path for tree in trees for path in Path(tree).rglob("*") if path.is_file() and not path.is_symlink()]
    assert any(path.name == "speech-endpoints.json" for path in files), "the endpoints catalog was not searched"
    for path in files:
        text = path.read_bytes()
        for name, secret in secrets.items():
            assert secret.encode() not in text, f"the {name} is in {path}"
