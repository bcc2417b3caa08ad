# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The loadbalancer role's state helper: which saved server states may come back after a reload.

The role installs plugins/module_utils/haproxy.py itself as the helper, so it is loaded here from its file,
as python3 runs it on a load balancer, not as a collection import."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "plugins" / "module_utils" / "haproxy.py"
spec = importlib.util.spec_from_file_location("haproxy_state", SCRIPT)
haproxy_state = importlib.util.module_from_spec(spec)
spec.loader.exec_module(haproxy_state)

HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
          "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
          "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord\n")
CONFIG = """
global
    stats socket /run/haproxy/admin.sock mode 660 level admin
backend stt-en-us
    server speech-stt-en-us-1 10.0.0.11:5100 check
    server speech-stt-en-us-2 10.0.0.13:5101 check
backend lid
    server speech-lid-1 10.0.0.12:5555 check
"""


def row(backend, server, address, port, admin=1):
    return "3 %s 1 %s %s 2 %d 1 1 10 6 3 4 6 0 0 0 - %d -" % (backend, server, address, admin, port)


def test_config_servers_are_read_from_backend_sections():
    assert haproxy_state.configured_servers(CONFIG) == {
        ("stt-en-us", "speech-stt-en-us-1"): ("10.0.0.11", "5100"),
        ("stt-en-us", "speech-stt-en-us-2"): ("10.0.0.13", "5101"),
        ("lid", "speech-lid-1"): ("10.0.0.12", "5555"),
    }


def test_a_drained_server_keeps_its_state_unless_its_port_or_address_moved():
    dump = HEADER + "\n".join([
        row("stt-en-us", "speech-stt-en-us-1", "10.0.0.11", 5100, admin=8),  # drained, unchanged: kept
        row("stt-en-us", "speech-stt-en-us-2", "10.0.0.99", 5101, admin=1),  # address moved: left out
        row("lid", "speech-lid-1", "10.0.0.12", 5100, admin=1),              # port moved: left out
        row("gone", "speech-gone-1", "10.0.0.12", 5300, admin=1),            # not configured any more: kept, HAProxy ignores it
    ]) + "\n"
    text, dropped = haproxy_state.filter_state(dump, haproxy_state.configured_servers(CONFIG))
    assert sorted(dropped) == ["lid/speech-lid-1", "stt-en-us/speech-stt-en-us-2"]
    assert "speech-stt-en-us-1 10.0.0.11 2 8" in text and "speech-gone-1" in text
    assert "speech-lid-1" not in text and "speech-stt-en-us-2" not in text
    assert text.startswith("1\n# be_id")


@pytest.mark.parametrize("dump", ["", "2\n# be_id\n", "1\nno header\n"])
def test_an_unexpected_dump_is_refused(dump):
    with pytest.raises(haproxy_state.RuntimeApiError):
        haproxy_state.filter_state(dump, {})


def test_the_role_installs_this_file_as_the_helper():
    role = REPO / "roles" / "loadbalancer"
    assert "lookup('ansible.builtin.file', role_path ~ '/../../plugins/module_utils/haproxy.py')" in (role / "vars" / "main.yml").read_text()
    assert (role / ".." / ".." / "plugins" / "module_utils" / "haproxy.py").resolve() == SCRIPT


def test_it_runs_as_a_standalone_script(tmp_path):
    """python3 -I from another folder: the standard library only, nothing of Ansible or the collection."""
    usage = subprocess.run([sys.executable, "-I", str(SCRIPT), "--help"], cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert usage.returncode == 0 and "HAProxy runtime state helper" in usage.stdout and "{save,wait,cmd}" in usage.stdout
    failed = subprocess.run([sys.executable, "-I", str(SCRIPT), "cmd", "--socket", str(tmp_path / "admin.sock"), "show", "stat"],
                            cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr.startswith("haproxy_state cmd: %s: " % (tmp_path / "admin.sock"))


def test_save_without_a_listener_removes_an_old_state_file(tmp_path):
    state = tmp_path / "server-state"
    state.write_text("1\n# be_id\n")
    assert haproxy_state.main(["save", "--socket", str(tmp_path / "admin.sock"), "--state-file", str(state)]) == 0
    assert not state.exists()
