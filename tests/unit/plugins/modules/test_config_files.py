# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The config_files module on a temporary folder: folders and files with their modes, only what differs
rewritten, check mode, and no secret in what it returns, its diff included (hypothesis over random names and
values)."""

from __future__ import annotations

import contextlib
import grp
import io
import json
import os
import pwd
import re
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible.module_utils.testing import patch_module_args

from ansible_collections.speechops.speech.plugins.module_utils import container_spec
from ansible_collections.speechops.speech.plugins.module_utils.plan import build_plan
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
             "content": "Eula=accept\nApiKey=%s\n" % key, "secrets": ["ApiKey"]},
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
    result = run_module(dict(arguments(tmp_path), _ansible_verbosity=4, _ansible_diff=True))
    assert SECRET not in json.dumps(result) and "ApiKey=<masked, changed>" in json.dumps(result)


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


# --- diff mode --------------------------------------------------------------------------------------------

MASK, MASK_CHANGED = "<masked>", "<masked, changed>"


def call(args, check_mode=False, diff=True):
    """main() with these arguments, in check and diff mode as asked; its result. No fixture, for hypothesis."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit):
            config_files.main()
    return json.loads(out.getvalue())


def strings(value):
    """Every string in a result, its keys included, each on its own (no 4-gram across two of them)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def grams(secret):
    """The secret and each of its substrings longer than 3 characters (all of them contain a 4-gram)."""
    return set([secret]) | set(secret[index:index + 4] for index in range(len(secret) - 3))


def leaked(result, secrets):
    """The pieces of the secrets found anywhere in the result (the raw JSON too, for an escape's sake)."""
    texts = list(strings(result)) + [json.dumps(result), json.dumps(result, ensure_ascii=False)]
    return sorted(set(piece for secret in secrets for piece in grams(secret) if any(piece in text for text in texts)))


# What the module may say without leaking anything: its own words, the user and group names, JSON's.
VOCABULARY = "\n".join([Path(config_files.__file__).read_text(), pwd.getpwuid(os.geteuid()).pw_name,
                        grp.getgrgid(os.getegid()).gr_name, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER invocation module_args "
                        "changed_paths before_header after_header true false null _ansible_no_log"])


def public(secret, *texts):
    """Whether no piece of the secret occurs in what the module may show anyway (then its showing is no leak). Case is
    ignored, as the module masks a secret's value in any case (a secret TRUE masks an ordinary true)."""
    return not any(piece.lower() in text.lower() for piece in grams(secret) for text in (VOCABULARY,) + texts)


def diff_of(result, path, suffix=""):
    header = path + suffix
    found = [entry for entry in result["diff"] if entry["after_header"] == header]
    assert len(found) == 1, (header, result["diff"])
    return found[0]


def env(settings_):
    return "".join("%s=%s\n" % pair for pair in settings_)


def test_diff_masks_the_api_key_and_shows_an_ordinary_setting_before_and_after(tmp_path):
    path = tmp_path / "env"
    path.write_text(env([("Eula", "accept"), ("ApiKey", SECRET), ("Logging__Console__LogLevel__Default", "Information")]))
    new_key = "fedcba9876543210fedcba9876543210"
    content = env([("Eula", "accept"), ("ApiKey", new_key), ("Logging__Console__LogLevel__Default", "Debug")])
    args = {"files": [{"path": str(path), "mode": "0600", "content": content, "secrets": ["ApiKey"]}]}
    os.chmod(path, 0o600)
    result = call(args, check_mode=True)
    assert result["changed_paths"] == [str(path)]
    diff = diff_of(result, str(path))
    assert diff["before"] == "Eula=accept\nApiKey=<masked>\nLogging__Console__LogLevel__Default=Information\n"
    assert diff["after"] == "Eula=accept\nApiKey=<masked, changed>\nLogging__Console__LogLevel__Default=Debug\n"
    assert not leaked(result, [SECRET, new_key])
    assert path.read_text().count(SECRET) == 1  # check mode: the old key is still there


def test_an_unchanged_secret_is_masked_alike_on_both_sides(tmp_path):
    path = tmp_path / "env"
    path.write_text(env([("ApiKey", SECRET), ("Eula", "accept")]))
    content = env([("ApiKey", SECRET), ("Eula", "decline")])
    result = call({"files": [{"path": str(path), "mode": "0644", "content": content, "secrets": ["ApiKey"]}]})
    diff = diff_of(result, str(path))
    assert "ApiKey=<masked>\n" in diff["before"] and "ApiKey=<masked>\n" in diff["after"]
    assert path.read_text() == content and not leaked(result, [SECRET])


def test_a_secret_is_masked_wherever_it_occurs_and_in_json(tmp_path):
    """A JSON key at any depth, the value in a URL, in another line, JSON-escaped: all masked."""
    key, token = 'k3y"with\\quote', "tok-0123456789"
    old = json.dumps({"settings": {"ApplicationInsights__InstrumentationKey": key, "Other": "x" + token + "y"},
                      "list": {"ApiKey": [token, 12345678]}}, indent=4) + "\n"
    path = tmp_path / "container.json"
    path.write_text(old)
    new = json.dumps({"settings": {"ApplicationInsights__InstrumentationKey": key, "Other": "z"},
                      "list": {"ApiKey": [token]}, "note": "copied " + key}, indent=4) + "\n"
    result = call({"files": [{"path": str(path), "mode": "0644", "content": new,
                              "secrets": ["ApiKey", "ApplicationInsights:InstrumentationKey"]}]})
    assert not leaked(result, [key, token, "12345678"]), result["diff"]
    diff = diff_of(result, str(path))
    assert '"ApplicationInsights__InstrumentationKey": "<masked>"' in diff["before"]
    assert '"ApplicationInsights__InstrumentationKey": "<masked>"' in diff["after"]
    assert '"Other": "z"' in diff["after"]
    # masked by the module itself (Ansible's no_log would only put ******** there)
    assert '"Other": "x<masked>y"' in diff["before"] and '"copied <masked>"' in diff["after"]  # the file held it before
    assert '"<masked>",\n            <masked>\n' in diff["before"]


def test_url_credentials_are_masked_in_any_file_without_declaring_them(tmp_path):
    dropin = tmp_path / "http-proxy.conf"
    dropin.write_text('[Service]\nEnvironment="HTTP_PROXY=http://proxyuser:0ld-pa55word@proxy.example:3128"\n')
    new = ('[Service]\nEnvironment="HTTP_PROXY=http://proxyuser:n3w-pa55word@proxy.example:3128"\n'
           'Environment="HTTPS_PROXY=proxyuser:n3w-pa55word@proxy.example:3128"\nEnvironment="NO_PROXY=localhost"\n')
    daemon = tmp_path / "daemon.json"
    daemon_json = json.dumps({"proxies": {"http-proxy": "https://u:s3cr3t-pr0xy9@p:8080"}}) + "\n"
    result = call({"files": [{"path": str(dropin), "mode": "0644", "content": new},
                             {"path": str(daemon), "mode": "0644", "content": daemon_json}]})
    assert not leaked(result, ["0ld-pa55word", "n3w-pa55word", "s3cr3t-pr0xy9"]), result["diff"]
    diff = diff_of(result, str(dropin))
    assert "http://proxyuser:<masked>@proxy.example:3128" in diff["before"]
    assert "http://proxyuser:<masked, changed>@proxy.example:3128" in diff["after"]
    assert 'Environment="NO_PROXY=localhost"' in diff["after"]
    assert "https://u:<masked, changed>@p:8080" in diff_of(result, str(daemon))["after"]


def test_a_file_with_diff_false_shows_only_that_it_changed(tmp_path):
    path = tmp_path / "key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nold\n")
    result = call({"files": [{"path": str(path), "mode": "0644", "diff": False,
                              "content": "-----BEGIN PRIVATE KEY-----\nnew-private-material\n"}]})
    diff = diff_of(result, str(path))
    assert diff["before"] == "<content not shown (a secret file)>\n"
    assert diff["after"] == "<content not shown (a secret file), changed>\n"
    assert "PRIVATE" not in json.dumps(result) and "material" not in json.dumps(result)


def test_no_content_diff_for_a_large_or_binary_file_only_a_note(tmp_path):
    large, binary = tmp_path / "large.cfg", tmp_path / "blob"
    large.write_text("x" * (256 * 1024 + 1))
    binary.write_bytes(b"\x00\xff\xfe binary")
    result = call({"files": [{"path": str(large), "mode": "0644", "content": "small\n"},
                             {"path": str(binary), "mode": "0644", "content": "text now\n"}]}, check_mode=True)
    assert diff_of(result, str(large))["before"] == "<content not shown (262145 bytes, over 256 KiB)>\n"
    assert diff_of(result, str(large))["after"] == "<content not shown (6 bytes), changed>\n"
    assert diff_of(result, str(binary))["before"] == "<content not shown (binary)>\n"


def test_folders_modes_new_files_and_removals_are_one_line_diffs(tmp_path):
    folder, new, stale = tmp_path / "etc", tmp_path / "etc" / "new.conf", tmp_path / "stale.conf"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    stale.write_text("ApiKey=" + SECRET + "\n")
    os.chmod(stale, 0o600)
    result = call({"directories": [{"path": str(folder), "mode": "0700"}],
                   "files": [{"path": str(new), "mode": "0640", "content": "a=b\n"}],
                   "absent": [str(stale)]}, check_mode=True)
    user, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    assert diff_of(result, str(folder), " (folder)") == {
        "before_header": str(folder) + " (folder)", "after_header": str(folder) + " (folder)",
        "before": "owner=%s group=%s mode=0755\n" % (user, group), "after": "owner=%s group=%s mode=0700\n" % (user, group)}
    attributes = diff_of(result, str(new), " (owner, group, mode)")
    assert attributes["before"] == "state=absent\n" and attributes["after"] == "owner=%s group=%s mode=0640\n" % (user, group)
    content = diff_of(result, str(new))
    assert content["before_header"] == str(new) + " (absent)" and content["before"] == "" and content["after"] == "a=b\n"
    removed = diff_of(result, str(stale), " (removed)")
    assert removed["after"] == "state=absent\n" and not leaked(result, [SECRET])


def test_a_mode_change_alone_shows_no_content(tmp_path):
    path = tmp_path / "env"
    path.write_text("ApiKey=%s\n" % SECRET)
    os.chmod(path, 0o644)
    result = call({"files": [{"path": str(path), "mode": "0600", "content": "ApiKey=%s\n" % SECRET}]})
    assert [entry["after_header"] for entry in result["diff"]] == [str(path) + " (owner, group, mode)"]
    assert mode(path) == 0o600


def test_without_diff_mode_no_diff_and_nothing_changed_no_entry(tmp_path):
    args = arguments(tmp_path)
    assert "diff" not in call(args, diff=False)
    assert call(args)["diff"] == []


def test_the_invocation_shows_no_content_and_a_failed_validate_no_secret(tmp_path):
    config = tmp_path / "haproxy.cfg"
    content = "global\nApiKey=%s\n" % SECRET
    result = call({"files": [{"path": str(config), "mode": "0600", "content": content, "secrets": ["ApiKey"],
                              "validate": "sh -c 'cat %s >&2; exit 1'"}]})
    assert result["failed"] is True and not config.exists()
    assert result["invocation"]["module_args"]["files"][0]["content"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert not leaked(result, [SECRET]), result["msg"]


def snapshot(root):
    """Everything check mode must leave alone: each path's kind, owner, mode, size, times, inode and content."""
    state = {}
    for folder, names, files in os.walk(root):
        for name in names + files:
            path = os.path.join(folder, name)
            status = os.lstat(path)
            content = Path(path).read_bytes() if stat.S_ISREG(status.st_mode) else None
            state[path] = (status.st_mode, status.st_uid, status.st_gid, status.st_size, status.st_mtime_ns,
                           status.st_ino, content)
    return state


def test_check_mode_with_diff_writes_and_removes_nothing(tmp_path):
    run_module_args = arguments(tmp_path)
    call(run_module_args)
    env_path = tmp_path / "etc" / "speech-stt-1" / "env"
    os.chmod(tmp_path / "etc", 0o755)
    os.chmod(tmp_path / "etc" / "speech-stt-1" / "container.json", 0o600)
    (tmp_path / "stale.conf").write_text("old\n")
    args = arguments(tmp_path, key="fedcba9876543210fedcba9876543210")
    args["directories"].append({"path": str(tmp_path / "new" / "folder"), "mode": "0700"})
    args["files"].append({"path": str(tmp_path / "etc" / "new.conf"), "mode": "0600", "content": "x=y\n"})
    args["absent"] = [str(tmp_path / "stale.conf")]
    before = snapshot(tmp_path)
    result = call(args, check_mode=True)
    assert snapshot(tmp_path) == before
    assert len(result["changed_paths"]) == 6 and str(env_path) in result["changed_paths"]
    assert "ApiKey=<masked, changed>" in diff_of(result, str(env_path))["after"]


# --- properties -------------------------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{2,14}", fullmatch=True)
# A value of an env file: one line, anything else (quotes, =, :, @, /, spaces, non-ASCII).
VALUES = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=4, max_size=40)
ORDINARY = st.text(st.characters(whitelist_categories=("Ll", "Nd"), max_codepoint=127), min_size=1, max_size=12)


def normal(name):
    return re.sub("__|:", ":", name).lower()


@st.composite
def env_files(draw):
    """(old settings, new settings, secret names): the secrets change or stay, some appear or go away."""
    names = draw(st.lists(NAMES, min_size=2, max_size=8, unique_by=normal))
    secret_count = draw(st.integers(1, len(names) - 1))
    secret_names, ordinary_names = names[:secret_count], names[secret_count:]
    old, new = [], []
    for name in secret_names:
        before = draw(VALUES)
        after = draw(st.one_of(st.just(before), VALUES))
        if draw(st.integers(0, 9)):
            old.append((name, before))
        if draw(st.integers(0, 9)):
            new.append((name, after))
    for name in ordinary_names:
        old.append((name, draw(ORDINARY)))
        new.append((name, draw(ORDINARY)))
    order = draw(st.permutations(range(len(new))))
    return old, [new[index] for index in order], secret_names


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(env_files(), st.booleans())
def test_property_no_piece_of_a_secret_ever_shows_and_every_change_does(files, as_json):
    old, new, secret_names = files
    secret_values = [value for name, value in old + new if name in secret_names]
    ordinary = [text for name, value in old + new if name not in secret_names for text in (name, value)]
    assume(all(public(value, *ordinary + secret_names) for value in secret_values))
    render = (lambda pairs: json.dumps({"settings": dict(pairs)}, indent=4, ensure_ascii=False) + "\n") if as_json else env
    with tempfile.TemporaryDirectory() as root:
        assume(all(public(value, root) for value in secret_values))
        path = os.path.join(root, "env")
        Path(path).write_text(render(old))
        args = {"files": [{"path": path, "mode": "0600", "content": render(new), "secrets": secret_names}]}
        result = call(args, check_mode=True)
        assert Path(path).read_text() == render(old)  # check mode
    assert not leaked(result, secret_values), result
    if render(old) == render(new):
        return
    diff = diff_of(result, path)
    old_values, new_values = dict(old), dict(new)
    form = '"%s": "%s"' if as_json else "%s=%s"
    for name in secret_names:
        if name in old_values:
            assert form % (name, MASK) in diff["before"]
        if name in new_values:
            changed = old_values.get(name) != new_values[name]
            assert form % (name, MASK_CHANGED if changed else MASK) in diff["after"], (name, diff)
    for name, value in new:
        if name not in secret_names:  # an ordinary setting shows as it is, before and after
            assert form % (name, value) in diff["after"]
            assert form % (name, old_values[name]) in diff["before"]


PASSWORDS = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs"), blacklist_characters="/\"'<>"),
                    min_size=4, max_size=30)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(PASSWORDS, PASSWORDS, st.sampled_from(["http://", "https://", "socks5://", ""]), ORDINARY, NAMES)
def test_property_url_credentials_never_show(old_password, new_password, scheme, user, name):
    url = "%s%s:%s@proxy.example:3128"
    old = "[Service]\nEnvironment=\"%s=%s\"\n" % (name, url % (scheme, user, old_password))
    new = '{"proxies": {"%s": "%s"}}\n' % (name, url % (scheme, user, new_password))
    for password in (old_password, new_password):
        assume(public(password, user, name, scheme, "proxy.example:3128 [Service] Environment proxies"))
    with tempfile.TemporaryDirectory() as root:
        for password in (old_password, new_password):
            assume(public(password, root))
        path = os.path.join(root, "proxy.conf")
        Path(path).write_text(old)
        result = call({"files": [{"path": path, "mode": "0644", "content": new}]}, check_mode=True)
    assert not leaked(result, [old_password, new_password]), result
    assert "proxy.example:3128" in diff_of(result, path)["after"]


def test_the_speech_containers_files_show_no_secret_in_check_diff(tmp_path):
    """What the filter speech_config_files passes, on a host whose env file holds older secrets."""
    host = {"vcpus_usable": 64, "memory_usable_mb": 262144, "avx2": True, "current": [], "pins": [], "ports_in_use": []}
    service = {"name": "stt", "kind": "speech-to-text", "locale": "en-US", "replicas": 1,
               "settings": {"CloudAI:SentimentAnalysisSettings:TextAnalyticsHost": "https://ta.example"}}
    container = build_plan([service], {"h1": host})["hosts"]["h1"]["containers"][0]
    options = {"billing_endpoint": "https://contoso.cognitiveservices.azure.com/", "application_insights": True,
               "http_proxy": "http://proxyuser:pr0xy-pa55word@proxy.example:3128", "http_proxy_creds": True,
               "sentiment_api_key": True, "config_dir": str(tmp_path / "etc"), "data_dir": str(tmp_path / "data")}
    spec = container_spec.run_spec(container, options)
    old = dict((name, "0ld-%s-value" % index) for index, name in enumerate(container_spec.SECRET_SETTINGS))
    new = dict(old, ApiKey="n3w-api-key-0123456789abcdef")
    proxy = {"HTTP_PROXY": options["http_proxy"]}  # a URL with a user:password comes from the secrets, like the key
    (tmp_path / "etc" / spec["name"]).mkdir(parents=True)
    Path(spec["env_file"]).write_text(container_spec.env_file_content(spec, dict(old, **proxy)))
    arguments_ = container_spec.config_files([spec], str(tmp_path / "etc"), str(tmp_path / "data"), dict(new, **proxy))
    for entry in arguments_["directories"] + arguments_["files"]:
        entry.update(owner=USER, group=GROUP)
    before = snapshot(tmp_path)
    result = call(arguments_, check_mode=True)
    assert snapshot(tmp_path) == before
    assert not leaked(result, list(old.values()) + list(new.values()) + ["pr0xy-pa55word"]), result["diff"]
    diff = diff_of(result, spec["env_file"])
    assert "ApiKey=<masked>\n" in diff["before"] and "ApiKey=<masked, changed>\n" in diff["after"]
    for name in container_spec.SECRET_SETTINGS[1:]:
        assert "%s=<masked>\n" % name in diff["before"] and "%s=<masked>\n" % name in diff["after"]
    assert "HTTP_PROXY=http://proxyuser:<masked>@proxy.example:3128" in diff["after"]
