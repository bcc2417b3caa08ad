# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The config_files module on a temporary folder: folders and files with their modes, only what differs
rewritten, check mode, and no secret in what it returns."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.speechops.speech.plugins.modules import config_files

SECRET = "0123456789abcdef0123456789abcdef"
USER, GROUP = str(os.getuid()), str(os.getgid())


@pytest.fixture
def run_module(capsys):
    def run(args, check_mode=False):
        if check_mode:
            args = dict(args, _ansible_check_mode=True)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                config_files.main()
        return json.loads(capsys.readouterr().out)
    return run


def arguments(root, key=SECRET, env_mode="0600"):
    return {
        "directories": [
            {"path": str(root / "etc"), "owner": USER, "group": GROUP, "mode": "0700"},
            {"path": str(root / "etc" / "speech-stt-1"), "owner": USER, "group": GROUP, "mode": "0700"},
            {"path": str(root / "data" / "speech-stt-1" / "models"), "owner": USER, "group": GROUP, "mode": "0750"},
        ],
        "files": [
            {"path": str(root / "etc" / "speech-stt-1" / "env"), "owner": USER, "group": GROUP, "mode": env_mode,
             "content": "Eula=accept\nApiKey=%s\n" % key},
            {"path": str(root / "etc" / "speech-stt-1" / "container.json"), "owner": USER, "group": GROUP, "mode": "0644",
             "content": "{}\n"},
        ],
    }


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_folders_and_files_with_their_modes_then_changes_nothing(tmp_path, run_module):
    first = run_module(arguments(tmp_path))
    assert first["changed"] is True and not first.get("failed"), first
    assert len(first["changed_paths"]) == 5
    assert mode(tmp_path / "etc") == 0o700 and mode(tmp_path / "data" / "speech-stt-1" / "models") == 0o750
    env = tmp_path / "etc" / "speech-stt-1" / "env"
    assert mode(env) == 0o600 and env.read_text() == "Eula=accept\nApiKey=%s\n" % SECRET
    assert sorted(os.listdir(env.parent)) == ["container.json", "env"]  # no temporary file left behind

    second = run_module(arguments(tmp_path))
    assert second["changed"] is False and second["changed_paths"] == []


def test_rewrites_only_what_differs(tmp_path, run_module):
    run_module(arguments(tmp_path))
    env = tmp_path / "etc" / "speech-stt-1" / "env"
    inode = os.stat(env).st_ino
    result = run_module(arguments(tmp_path, key="fedcba9876543210fedcba9876543210"))
    assert result["changed_paths"] == [str(env)]
    assert "fedcba98" in env.read_text() and os.stat(env).st_ino != inode  # replaced by a rename, not rewritten in place

    os.chmod(env, 0o644)
    os.chmod(tmp_path / "etc", 0o755)
    result = run_module(arguments(tmp_path, key="fedcba9876543210fedcba9876543210"))
    assert result["changed_paths"] == [str(tmp_path / "etc"), str(env)]
    assert mode(env) == 0o600 and mode(tmp_path / "etc") == 0o700


def test_check_mode_reports_and_writes_nothing(tmp_path, run_module):
    result = run_module(arguments(tmp_path), check_mode=True)
    assert result["changed"] is True and len(result["changed_paths"]) == 5
    assert not (tmp_path / "etc").exists()


def test_the_content_never_comes_back(tmp_path, run_module):
    result = run_module(dict(arguments(tmp_path), _ansible_verbosity=4))
    assert SECRET not in json.dumps(result)


def test_a_missing_folder_fails_with_the_path(tmp_path, run_module):
    args = arguments(tmp_path)
    args["directories"] = []
    result = run_module(args)
    assert result["failed"] is True
    assert str(tmp_path / "etc" / "speech-stt-1" / "env") in result["msg"] and SECRET not in json.dumps(result)


def test_absent_removes_a_file_once_and_check_mode_only_reports(tmp_path, run_module):
    stale = tmp_path / "http-proxy.conf"
    stale.write_text("[Service]\n")
    args = {"absent": [str(stale), str(tmp_path / "never-there.conf")]}
    predicted = run_module(args, check_mode=True)
    assert predicted["changed_paths"] == [str(stale)] and stale.exists()
    removed = run_module(args)
    assert removed["changed"] is True and removed["changed_paths"] == [str(stale)]
    assert not stale.exists()
    again = run_module(args)
    assert again["changed"] is False and again["changed_paths"] == []


def test_absent_refuses_a_folder(tmp_path, run_module):
    folder = tmp_path / "docker.service.d"
    folder.mkdir()
    result = run_module({"absent": [str(folder)]})
    assert result["failed"] is True and str(folder) in result["msg"] and "folder" in result["msg"]
    assert folder.is_dir()


def test_owner_and_group_default_to_the_user_the_module_runs_as(tmp_path, run_module):
    folder, report = tmp_path / "artifacts", tmp_path / "artifacts" / "speech-plan.json"
    result = run_module({"directories": [{"path": str(folder), "mode": "0755"}],
                         "files": [{"path": str(report), "mode": "0644", "content": "{}\n"}]})
    assert result["changed_paths"] == [str(folder), str(report)]
    assert (report.stat().st_uid, report.stat().st_gid) == (os.geteuid(), os.getegid())
    assert run_module({"files": [{"path": str(report), "mode": "0644", "content": "{}\n"}]})["changed"] is False


def test_validate_keeps_the_old_file_when_the_new_content_fails(tmp_path, run_module):
    config = tmp_path / "haproxy.cfg"
    config.write_text("global\n")
    check = "grep -q '^frontend' %s"
    bad = run_module({"files": [{"path": str(config), "mode": "0640", "content": "nonsense\n", "validate": check}]})
    assert bad["failed"] is True and "failed" in bad["msg"] and str(config) in bad["msg"]
    assert config.read_text() == "global\n" and sorted(os.listdir(tmp_path)) == ["haproxy.cfg"]
    good = run_module({"files": [{"path": str(config), "mode": "0640", "content": "frontend stt\n", "validate": check}]})
    assert good["changed_paths"] == [str(config)] and config.read_text() == "frontend stt\n"


def test_a_group_that_does_not_exist_yet_is_a_change_in_check_mode_and_an_error_otherwise(tmp_path, run_module):
    args = {"files": [{"path": str(tmp_path / "haproxy.cfg"), "group": "speechops-no-such-group", "mode": "0640",
                       "content": "global\n"}]}
    predicted = run_module(args, check_mode=True)
    assert predicted["changed"] is True and not predicted.get("failed"), predicted
    failed = run_module(args)
    assert failed["failed"] is True and "speechops-no-such-group" in failed["msg"]
    assert not (tmp_path / "haproxy.cfg").exists()
