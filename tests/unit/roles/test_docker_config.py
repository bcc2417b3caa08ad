# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the docker role's one configuration call writes (roles/docker/vars/main.yml), rendered by Ansible itself:
daemon.json, the proxy drop-in only with a proxy (else it is removed), one ca.crt per registry, and which of
those paths restart the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "docker"
ANSIBLE = Path(sys.executable).parent / "ansible"
DROPIN = "/etc/systemd/system/docker.service.d/http-proxy.conf"
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\n"


def render(names, **extra_vars):
    """The role's variables `names` as Ansible templates them, for the role's defaults plus extra_vars."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    # run from the role's folder: the template lookup finds templates/ there, as it does in the role
    result = subprocess.run(
        [str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.debug",
         "-a", "var=[%s]" % ",".join(names), "-e", "@defaults/main.yml", "-e", "@vars/main.yml",
         "-e", json.dumps(extra_vars)],
        cwd=str(ROLE), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    task = json.loads(result.stdout)["plays"][0]["tasks"][0]
    return dict(zip(names, task["hosts"]["localhost"]["[%s]" % ",".join(names)]))


def test_without_a_proxy_daemon_json_only_and_the_drop_in_goes():
    rendered = render(["__docker_config_directories", "__docker_config_files", "__docker_proxy_set"])
    assert rendered["__docker_proxy_set"] is False
    assert [entry["path"] for entry in rendered["__docker_config_directories"]] == ["/etc/docker"]
    files = rendered["__docker_config_files"]
    assert [entry["path"] for entry in files] == ["/etc/docker/daemon.json"]
    assert json.loads(files[0]["content"]) == {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"},
                                               "live-restore": True, "userland-proxy": False}
    assert files[0]["content"].endswith("}\n") and files[0]["mode"] == "0644"


def test_a_proxy_and_registry_cas_are_written_with_their_folders():
    rendered = render(["__docker_config_directories", "__docker_config_files", "__docker_restart_paths"],
                      docker_https_proxy="http://proxy.example.internal:3128", docker_no_proxy="localhost,10.0.0.0/8",
                      docker_daemon_options={"data-root": "/srv/docker"},
                      docker_registry_cas=[{"registry": "mirror.example.internal:5000", "ca": CA},
                                           {"registry": "registry.example.internal", "ca": CA}])
    assert [entry["path"] for entry in rendered["__docker_config_directories"]] == [
        "/etc/docker", "/etc/systemd/system/docker.service.d",
        "/etc/docker/certs.d/mirror.example.internal:5000", "/etc/docker/certs.d/registry.example.internal"]
    files = {entry["path"]: entry for entry in rendered["__docker_config_files"]}
    assert list(files) == ["/etc/docker/daemon.json", DROPIN, "/etc/docker/certs.d/mirror.example.internal:5000/ca.crt",
                           "/etc/docker/certs.d/registry.example.internal/ca.crt"]
    assert json.loads(files["/etc/docker/daemon.json"]["content"])["data-root"] == "/srv/docker"
    dropin = files[DROPIN]["content"].splitlines()
    assert dropin[1:] == ["[Service]", 'Environment="HTTPS_PROXY=http://proxy.example.internal:3128"',
                          'Environment="NO_PROXY=localhost,10.0.0.0/8"']
    assert files["/etc/docker/certs.d/registry.example.internal/ca.crt"]["content"] == CA.strip() + "\n"
    assert rendered["__docker_restart_paths"] == ["/etc/docker/daemon.json", DROPIN]


def test_each_registry_ca_is_one_file_ending_with_one_newline():
    ca = CA.strip()
    rendered = render(["__docker_ca_files"], docker_registry_cas=[{"registry": "mirror.example:5443", "ca": ca + "\n\n"},
                                                                  {"registry": "r2", "ca": "  " + ca}])
    assert rendered["__docker_ca_files"] == [
        {"path": "/etc/docker/certs.d/mirror.example:5443/ca.crt", "content": ca + "\n", "mode": "0644"},
        {"path": "/etc/docker/certs.d/r2/ca.crt", "content": ca + "\n", "mode": "0644"},
    ]
    assert render(["__docker_ca_files"])["__docker_ca_files"] == []
