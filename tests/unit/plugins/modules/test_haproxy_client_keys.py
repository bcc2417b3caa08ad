# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""haproxy_client_keys against a real HAProxy (the Debian package, `scripts/system-deps.sh`) on 127.0.0.1: the
running map gains and loses clients at once, without a reload; check mode changes nothing; a map the running
configuration does not use, and a stopped HAProxy, are reported as asked; no key hash is returned."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.speechops.speech.plugins.module_utils import haproxy
from ansible_collections.speechops.speech.plugins.modules import haproxy_client_keys

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
OLD, NEW = "old-key-0123456789abcdef", "new-key-fedcba9876543210"

CONFIG = """
global
    stats socket {socket} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe_svc
    bind 127.0.0.1:{port}
    http-request set-var(txn.client) req.fhdr(Ocp-Apim-Subscription-Key),sha2(256),hex,lower,map({map})
    http-request return status 401 if !{{ var(txn.client) -m found }}
    http-request return status 200 content-type text/plain lf-string "%[var(txn.client)]"
"""


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def lb(tmp_path):
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: run scripts/system-deps.sh (make setup installs it)")
    keys_map = tmp_path / "client-keys-svc.map"
    keys_map.write_text("# the file HAProxy loads at its start\n%s old-app\n" % sha(OLD))
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG.format(socket=tmp_path / "admin.sock", port=port, map=keys_map))
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    lb = type("LB", (), {})()
    lb.socket, lb.port, lb.map, lb.process = str(tmp_path / "admin.sock"), port, str(keys_map), process
    lb.api = haproxy.RuntimeApi(lb.socket)
    try:
        deadline = time.time() + 10
        while True:
            try:
                lb.api.show_map(lb.map)
                break
            except haproxy.RuntimeApiError:
                assert time.time() < deadline, "HAProxy did not answer on its stats socket"
                time.sleep(0.05)
        yield lb
    finally:
        process.terminate()
        process.wait(10)


def client(lb, key):
    """(status, client name) of one request with the key."""
    request = urllib.request.Request("http://127.0.0.1:%d/" % lb.port, headers={"Ocp-Apim-Subscription-Key": key})
    try:
        with NO_PROXY.open(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def run_module(capfd, **args):
    with pytest.raises(SystemExit):
        with patch_module_args(args):
            haproxy_client_keys.main()
    return json.loads(capfd.readouterr().out)


def clients(*pairs):
    return [{"name": name, "key_sha256": sha(key)} for name, key in pairs]


def test_the_running_map_gains_the_new_key_and_loses_the_old_one_without_a_reload(lb, capfd):
    assert client(lb, OLD) == (200, "old-app") and client(lb, NEW)[0] == 401
    both = run_module(capfd, socket=lb.socket, maps=[{"path": lb.map, "clients": clients(("old-app", OLD), ("new-app", NEW))}])
    assert both["changed"] is True
    assert both["maps"] == [{"path": lb.map, "loaded": True, "added": ["new-app"], "removed": [], "clients": ["new-app", "old-app"]}]
    assert client(lb, OLD) == (200, "old-app") and client(lb, NEW) == (200, "new-app")
    again = run_module(capfd, socket=lb.socket, maps=[{"path": lb.map, "clients": clients(("old-app", OLD), ("new-app", NEW))}])
    assert again["changed"] is False
    only_new = run_module(capfd, socket=lb.socket, maps=[{"path": lb.map, "clients": clients(("new-app", NEW))}])
    assert only_new["changed"] is True and only_new["maps"][0]["removed"] == ["old-app"]
    assert client(lb, OLD)[0] == 401 and client(lb, NEW) == (200, "new-app")
    assert lb.process.poll() is None  # the same process throughout: no reload, no restart
    for result in (both, again, only_new):
        assert sha(OLD) not in json.dumps(result) and sha(NEW) not in json.dumps(result)


def test_check_mode_says_what_would_change_and_changes_nothing(lb, capfd):
    result = run_module(capfd, socket=lb.socket, maps=[{"path": lb.map, "clients": clients(("new-app", NEW))}],
                        _ansible_check_mode=True)
    assert result["changed"] is True and result["maps"][0]["added"] == ["new-app"] and result["maps"][0]["removed"] == ["old-app"]
    assert lb.api.show_map(lb.map) == {sha(OLD): "old-app"}


def test_a_new_key_of_a_known_name_counts_as_added_and_removed(lb, capfd):
    result = run_module(capfd, socket=lb.socket, maps=[{"path": lb.map, "clients": clients(("old-app", NEW))}])
    assert (result["maps"][0]["added"], result["maps"][0]["removed"]) == (["old-app"], ["old-app"])
    assert lb.api.show_map(lb.map) == {sha(NEW): "old-app"}


def test_a_map_the_running_configuration_does_not_use_fails_or_is_ignored(lb, capfd):
    other = lb.map.replace("svc", "other")
    failed = run_module(capfd, socket=lb.socket, maps=[{"path": other, "clients": clients(("app", NEW))}])
    assert failed["failed"] is True and "does not use %s" % other in failed["msg"] and "playbooks/loadbalancer.yml" in failed["msg"]
    ignored = run_module(capfd, socket=lb.socket, maps=[{"path": other, "clients": clients(("app", NEW))}], missing="ignore")
    assert ignored["changed"] is False and ignored["maps"][0]["loaded"] is False


def test_a_stopped_haproxy_fails_or_is_skipped(tmp_path, capfd):
    socket_path = str(tmp_path / "nothing.sock")
    failed = run_module(capfd, socket=socket_path, maps=[{"path": "/x.map", "clients": []}])
    assert failed["failed"] is True and "is HAProxy running" in failed["msg"]
    skipped = run_module(capfd, socket=socket_path, maps=[{"path": "/x.map", "clients": []}], unavailable="skip")
    assert skipped["changed"] is False and skipped["unavailable"] is True


def test_an_entry_a_map_cannot_hold_is_refused_before_haproxy_is_asked(lb, capfd):
    result = run_module(capfd, socket=lb.socket, maps=[{"path": lb.map, "clients": [{"name": "a b", "key_sha256": sha(NEW)}]}])
    assert result["failed"] is True and "client name 'a b'" in result["msg"]
    result = run_module(capfd, socket=lb.socket, maps=[{"path": lb.map, "clients": [{"name": "app", "key_sha256": NEW}]}])
    assert result["failed"] is True and "64 lowercase hex digits" in result["msg"] and NEW not in result["msg"]
    assert lb.api.show_map(lb.map) == {sha(OLD): "old-app"}


def test_show_map_and_prepare_map_answers_are_read():
    assert haproxy.parse_map("0x55e0 abc app\n0x55e1 def other app\n\n") == {"abc": "app", "def": "other app"}
    assert haproxy.parse_map("Unknown map identifier. Please use #<id> or <file>.\n\n") is None
    assert haproxy.new_map_version("New version created: 12\n\n") == 12
    with pytest.raises(haproxy.RuntimeApiError):
        haproxy.new_map_version("Unknown map identifier.\n")
