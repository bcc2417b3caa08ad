# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host_facts module end to end: main() with patched arguments, a recorded host and faked commands."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.speechops.speech.plugins.module_utils import host_facts as host_facts_utils
from ansible_collections.speechops.speech.plugins.modules import host_facts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "host_facts"
SAMPLE = "v2_limited_container"

DOCKERD_VERSION = "Docker version 20.10.24+dfsg1, build 5d6db84\n"
GST_VERSION = "gst-launch-1.0 version 1.22.0\nGStreamer 1.22.0\nhttps://tracker.debian.org/pkg/gstreamer1.0\n"


class FakeHost(object):
    """Programs on the PATH and what running them returns: {name: (rc, stdout)} or an exception."""

    def __init__(self, programs):
        self.programs = programs
        self.commands = []

    def get_bin_path(self, name, *args, **kwargs):
        return "/usr/bin/" + name if name in self.programs else None

    def run_command(self, args, *more, **kwargs):
        self.commands.append(args)
        program = args[2] if args[0] == "/usr/bin/timeout" else args[0]
        result = self.programs[program.rsplit("/", 1)[-1]]
        if callable(result):
            result = result(args[args.index(program) + 1:])
        if isinstance(result, Exception):
            raise result
        rc, out = result
        return rc, out, "" if rc == 0 else "error"


DPKG_STATUS = """Package: docker.io
Status: install ok installed
Architecture: amd64
Version: 20.10.24+dfsg1-1+b3
Description: Linux container runtime
 a continuation line: with a colon

Package: haproxy
Status: deinstall ok config-files
Version: 2.6.12-1+deb12u1

Package: python3-requests
Status: install ok installed
Version: 2.28.1+dfsg-1
"""


@pytest.fixture
def run_module(monkeypatch, capsys, tmp_path):
    """Run main() on a recorded host with ``programs`` installed and DPKG_STATUS as its dpkg status file (None:
    no dpkg); return (result, host)."""
    def run(args=None, programs=None, sample=SAMPLE, dpkg_status=DPKG_STATUS):
        status_file = tmp_path / "dpkg-status"
        if dpkg_status is not None:
            status_file.write_text(dpkg_status)
        monkeypatch.setattr(host_facts, "DPKG_STATUS", str(status_file))
        host = FakeHost(programs or {})
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", host.get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", host.run_command)
        monkeypatch.setattr(host_facts, "affinity_cpu_count", lambda: 8)
        monkeypatch.setattr(host_facts, "listening_ports", lambda: [22, 5100, 5101])
        monkeypatch.setattr(
            host_facts, "gather_host_facts",
            lambda allowed_cpus=None, data_root=None: host_facts_utils.gather_host_facts(str(FIXTURES / sample), allowed_cpus, data_root),
        )
        with patch_module_args(args or {}):
            with pytest.raises(SystemExit):
                host_facts.main()
        return json.loads(capsys.readouterr().out), host
    return run


MANAGED_CONTAINER = {
    "Name": "/speech-stt-1",
    "State": {"Running": True},
    "Config": {"Labels": {"speechops.managed": "true", "speechops.service": "stt", "speechops.kind": "speech-to-text",
                          "speechops.replica": "1", "speechops.host_port": "5100", "speechops.plan_hash": "0123abcd",
                          "speechops.image": "registry.sandbox:5000/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"}},
    "HostConfig": {"PortBindings": {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5100"}]}},
}


def docker_cli(args):
    """The docker client on a host whose engine runs one of our containers."""
    answers = {
        "info": (0, "20.10.24+dfsg1\n"),
        "ps": (0, "4f1c0ffee\n"),
        "inspect": (0, json.dumps([MANAGED_CONTAINER])),
        "image": (0, "registry.sandbox:5000/speech-to-text\t5.1.0-amd64-en-us\tsha256:feed\n<none>\t<none>\t<none>\n"),
    }
    return answers[args[0]]


ALL_PROGRAMS = {
    "dockerd": (0, DOCKERD_VERSION),
    "docker": docker_cli,
    "gst-launch-1.0": (0, GST_VERSION),
    "gst-inspect-1.0": (0, GST_VERSION),
    "systemctl": lambda args: (0, "enabled\n") if args[0] == "is-enabled" else (0, "active\n") if args[1] == "docker" else (3, "inactive\n"),
}


def documented_keys(return_doc):
    """Nested key tree of a RETURN block: {key: subtree or None}."""
    return {key: documented_keys(spec["contains"]) if spec.get("contains") else None for key, spec in return_doc.items()}


FREE_FORM = ("packages", "units", "image_ids", "files")  # dicts keyed by package, unit, reference or path, documented as a whole


def returned_keys(value):
    """Nested key tree of a result; a list of dicts is described by its first element, as RETURN does."""
    def subtree(key, item):
        if isinstance(item, list) and item and isinstance(item[0], dict):
            item = item[0]
        return returned_keys(item) if isinstance(item, dict) and key not in FREE_FORM else None
    return {key: subtree(key, item) for key, item in value.items()}


def test_reports_every_fact_of_the_recorded_host(run_module, tmp_path):
    result, dummy_host = run_module({"docker_data_root": str(tmp_path / "docker")}, ALL_PROGRAMS)
    facts = result["ansible_facts"]["speech_host"]
    assert result["changed"] is False
    assert facts["avx2"] is True
    assert (facts["vcpus_online"], facts["vcpus_usable"], facts["cpu_quota_cores"]) == (8, 1.5, 1.5)
    assert (facts["memory_limit_mb"], facts["memory_usable_mb"]) == (2048, 2048)
    assert (facts["clock_mhz"], facts["clock_source"]) == (2600, "cpuinfo")
    assert (facts["docker_data_root"], facts["disk_path"]) == (str(tmp_path / "docker"), str(tmp_path))
    assert facts["docker"] == {"installed": True, "version": "20.10.24+dfsg1", "running": True, "enabled": True}
    assert facts["gstreamer"] == {"installed": True, "version": "1.22.0"}
    assert facts["images"] == ["registry.sandbox:5000/speech-to-text:5.1.0-amd64-en-us", "registry.sandbox:5000/speech-to-text@sha256:feed"]
    assert facts["packages"] == {"docker.io": "20.10.24+dfsg1-1+b3", "python3-requests": "2.28.1+dfsg-1"}
    assert facts["units"] == {"docker": {"active": True, "enabled": True}, "haproxy": {"active": False, "enabled": True}}
    assert facts["python_version"].count(".") == 2
    assert [(c["name"], c["service"], c["host_port"], c["running"]) for c in facts["containers"]] == [("speech-stt-1", "stt", 5100, True)]
    assert facts["ports_in_use"] == [22, 5101]
    assert isinstance(facts["architecture"], str) and facts["architecture"]
    assert facts["primary_ipv4"] is None or ipaddress.IPv4Address(facts["primary_ipv4"]).version == 4
    # the one line roles/preflight prints after the host's name, made from these facts
    assert facts["summary"] == host_facts_utils.summary(dict((key, value) for key, value in facts.items() if key != "summary"))
    assert facts["summary"].startswith(facts["architecture"] + "  avx2=yes  vcpus=1.5/8  clock=2600MHz(cpuinfo)  mem=")
    assert facts["summary"].endswith("  docker=20.10.24+dfsg1 (running)  gstreamer=1.22.0")


def test_no_secret_the_host_reports_goes_into_the_facts(run_module, tmp_path):
    def leaky_docker(args):
        if args[0] == "image":
            return 0, "https://mirror:M1rror-Pw@registry.example/speech-to-text\t5.1.0\tsha256:feed\n"
        return docker_cli(args)
    result, dummy_host = run_module({"docker_data_root": str(tmp_path)}, dict(ALL_PROGRAMS, docker=leaky_docker))
    assert "M1rror-Pw" not in json.dumps(result)
    assert result["ansible_facts"]["speech_host"]["images"][0] == "https://mirror:<masked>@registry.example/speech-to-text:5.1.0"


def test_return_documentation_matches_the_result(run_module, tmp_path):
    result, dummy_host = run_module({"docker_data_root": str(tmp_path), "trees": [{"path": str(tmp_path)}]}, ALL_PROGRAMS)
    documented = documented_keys(yaml.safe_load(host_facts.RETURN))
    assert documented["ansible_facts"] == returned_keys(result["ansible_facts"])


def test_documented_options_match_the_argument_spec(monkeypatch):
    specs = []

    class SpyModule(basic.AnsibleModule):
        def __init__(self, argument_spec, **kwargs):
            specs.append(argument_spec)
            raise SystemExit(0)

    monkeypatch.setattr(host_facts, "AnsibleModule", SpyModule)
    with pytest.raises(SystemExit):
        host_facts.main()
    options = yaml.safe_load(host_facts.DOCUMENTATION)["options"]
    assert {name: spec["type"] for name, spec in options.items()} == {name: spec["type"] for name, spec in specs[0].items()}


def test_check_mode_reports_the_same_and_changes_nothing(run_module, tmp_path):
    normal, dummy_host = run_module({"docker_data_root": str(tmp_path)}, ALL_PROGRAMS)
    checked, dummy_host = run_module({"docker_data_root": str(tmp_path), "_ansible_check_mode": True}, ALL_PROGRAMS)
    assert checked["changed"] is False
    # Free space may move between the two runs; everything else must be identical.
    for result in (normal, checked):
        result["ansible_facts"]["speech_host"].pop("disk_free_mb")
    assert checked["ansible_facts"] == normal["ansible_facts"]


def test_data_root_defaults_without_daemon_json(monkeypatch, run_module):
    monkeypatch.setattr(host_facts_utils, "DEFAULT_DOCKER_DATA_ROOT", "/nonexistent/default")
    result, dummy_host = run_module()
    assert result["ansible_facts"]["speech_host"]["docker_data_root"] == "/nonexistent/default"


def test_data_root_comes_from_daemon_json(run_module):
    result, dummy_host = run_module(sample="modern_v2_unlimited")
    facts = result["ansible_facts"]["speech_host"]
    assert facts["docker_data_root"] == "/srv/docker"
    assert "/srv/docker".startswith(facts["disk_path"])


def test_option_overrides_daemon_json(run_module, tmp_path):
    result, dummy_host = run_module({"docker_data_root": str(tmp_path)}, sample="modern_v2_unlimited")
    assert result["ansible_facts"]["speech_host"]["docker_data_root"] == str(tmp_path)


def test_nothing_installed(run_module, tmp_path):
    result, host = run_module({"docker_data_root": str(tmp_path)}, {})
    facts = result["ansible_facts"]["speech_host"]
    assert facts["docker"] == {"installed": False, "version": None, "running": False, "enabled": False}
    assert facts["gstreamer"] == {"installed": False, "version": None}
    assert facts["images"] is None
    assert host.commands == []


def test_daemon_down_keeps_the_installed_version(run_module, tmp_path):
    programs = dict(ALL_PROGRAMS, docker=(1, ""))
    result, dummy_host = run_module({"docker_data_root": str(tmp_path)}, programs)
    assert result["ansible_facts"]["speech_host"]["docker"] == {"installed": True, "version": "20.10.24+dfsg1", "running": False, "enabled": True}


def test_client_only_takes_the_version_from_the_running_daemon(run_module, tmp_path):
    result, host = run_module({"docker_data_root": str(tmp_path)}, {"docker": (0, "27.3.1\n")})
    assert result["ansible_facts"]["speech_host"]["docker"] == {"installed": True, "version": "27.3.1", "running": True, "enabled": False}
    assert host.commands[0] == ["/usr/bin/docker", "info", "--format", "{{.ServerVersion}}"]


def test_docker_info_is_bounded_by_timeout_where_available(run_module, tmp_path):
    programs = dict(ALL_PROGRAMS, timeout=None, docker=(124, ""))
    result, host = run_module({"docker_data_root": str(tmp_path)}, programs)
    assert ["/usr/bin/timeout", "30", "/usr/bin/docker", "info", "--format", "{{.ServerVersion}}"] in host.commands
    assert result["ansible_facts"]["speech_host"]["docker"]["running"] is False


def test_a_disabled_engine_is_reported_as_such(run_module, tmp_path):
    programs = dict(ALL_PROGRAMS, systemctl=(1, "disabled\n"))
    result, host = run_module({"docker_data_root": str(tmp_path)}, programs)
    assert result["ansible_facts"]["speech_host"]["docker"]["enabled"] is False
    assert ["/usr/bin/systemctl", "is-enabled", "docker"] in host.commands


def test_units_unknown_without_systemctl(run_module, tmp_path):
    result, dummy_host = run_module({"docker_data_root": str(tmp_path), "units": ["haproxy"]}, {})
    assert result["ansible_facts"]["speech_host"]["units"] is None


def test_packages_asked_for_by_name(run_module, tmp_path):
    result, dummy_host = run_module({"docker_data_root": str(tmp_path), "packages": ["haproxy", "python3-requests"]})
    assert result["ansible_facts"]["speech_host"]["packages"] == {"python3-requests": "2.28.1+dfsg-1"}


def test_packages_from_rpm_without_dpkg(run_module, tmp_path):
    programs = {"rpm": (1, "haproxy\t2.4.22-3.el9\npackage python3-requests is not installed\n")}
    result, host = run_module({"docker_data_root": str(tmp_path), "packages": ["haproxy", "python3-requests"]}, programs,
                              dpkg_status=None)
    assert result["ansible_facts"]["speech_host"]["packages"] == {"haproxy": "2.4.22-3.el9"}
    assert host.commands == [["/usr/bin/rpm", "-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n", "haproxy", "python3-requests"]]


def test_packages_unknown_without_a_package_database(run_module, tmp_path):
    result, dummy_host = run_module({"docker_data_root": str(tmp_path)}, dpkg_status=None)
    assert result["ansible_facts"]["speech_host"]["packages"] is None


def test_gstreamer_from_gst_inspect_when_gst_launch_is_missing(run_module, tmp_path):
    result, dummy_host = run_module({"docker_data_root": str(tmp_path)}, {"gst-inspect-1.0": (0, GST_VERSION.replace("1.22.0", "1.16.3"))})
    assert result["ansible_facts"]["speech_host"]["gstreamer"] == {"installed": True, "version": "1.16.3"}


def test_commands_that_cannot_run_fail_soft(run_module, tmp_path):
    programs = {"dockerd": OSError("exec format error"), "docker": OSError("gone"), "gst-launch-1.0": (127, "")}
    result, dummy_host = run_module({"docker_data_root": str(tmp_path)}, programs)
    facts = result["ansible_facts"]["speech_host"]
    assert facts["docker"] == {"installed": True, "version": None, "running": False, "enabled": False}
    assert facts["gstreamer"] == {"installed": True, "version": None}


def test_unknown_option_is_rejected(run_module):
    result, dummy_host = run_module({"data_root": "/srv/docker"})
    assert result["failed"] is True
    assert "data_root" in result["msg"]
