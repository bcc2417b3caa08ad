# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/role_docs.py: docs/variables.md matches the roles' argument specs, covers every option, and the check can fail."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "role_docs.py"
ROLES_DIR = REPO_ROOT / "roles"
DOC = REPO_ROOT / "docs" / "variables.md"
ROLES = ("docker", "gstreamer", "loadbalancer", "preflight", "speech", "speech_containers", "speech_jobs")  # at least these

spec = importlib.util.spec_from_file_location("role_docs", SCRIPT)
role_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(role_docs)


def spec_files(roles_dir):
    return sorted(roles_dir.glob("*/meta/argument_specs.yml"))


def option_paths(options, prefix=""):
    """Every option and suboption of a spec's options, as parent.child paths."""
    for name, option in (options or {}).items():
        yield prefix + name
        yield from option_paths((option or {}).get("options"), prefix + name + ".")


def section(text, role, entry):
    """The part of the Markdown file that documents one entry point: its heading up to the next heading."""
    heading = "### %s entry point `%s`\n" % (role, entry)
    assert text.count(heading) == 1, "no single heading %r in docs/variables.md" % heading
    body = text.split(heading, 1)[1]
    return re.split(r"^#{1,3} ", body, maxsplit=1, flags=re.M)[0]


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False)


def copy_specs(tmp_path):
    """A roles folder holding only a copy of every role's meta/argument_specs.yml."""
    roles_dir = tmp_path / "roles"
    for spec_file in spec_files(ROLES_DIR):
        target = roles_dir / spec_file.relative_to(ROLES_DIR)
        target.parent.mkdir(parents=True)
        shutil.copyfile(spec_file, target)
    return roles_dir


def test_committed_reference_is_in_sync_with_the_specs():
    assert DOC.is_file(), "docs/variables.md is missing: run `make docs`"
    assert DOC.read_text(encoding="utf-8") == role_docs.render(ROLES_DIR), (
        "docs/variables.md is stale: run `make docs` (python scripts/role_docs.py) after changing roles/*/meta/argument_specs.yml")


def test_check_passes_on_the_checkout():
    result = run_script("--check")
    assert result.returncode == 0, "%s%s\nrun `make docs`" % (result.stdout, result.stderr)


def documented_roles():
    return [path.parts[-3] for path in spec_files(ROLES_DIR)]


def test_every_role_has_a_spec():
    assert set(ROLES) <= set(documented_roles())


@pytest.mark.parametrize("role", documented_roles())
def test_every_option_of_every_entry_point_is_documented(role):
    text = DOC.read_text(encoding="utf-8")
    assert "\n## %s\n" % role in text
    entry_points = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]
    assert entry_points
    for entry, entry_spec in entry_points.items():
        body = section(text, role, entry)
        if entry_spec.get("short_description"):
            assert role_docs.markup_to_markdown(entry_spec["short_description"]) in body
        paths = list(option_paths(entry_spec.get("options")))
        same = re.search(r"^%s `([^`]+)` above\.$" % role_docs.SAME_OPTIONS, body, flags=re.M)
        if same:  # an entry point whose options repeat an earlier one's points to that table
            assert list(option_paths(entry_points[same.group(1)].get("options"))) == paths, "%s %s: not the same options" % (role, entry)
            body = section(text, role, same.group(1))
        rows = [line for line in body.splitlines() if line.startswith("| `")]
        documented = [line.split(" | ", 1)[0][len("| `"):-1] for line in rows]
        assert documented == sorted(documented, key=lambda path: path.split(".")), "%s %s: rows not sorted" % (role, entry)
        assert sorted(documented) == sorted(paths), "%s %s: documented options differ from the spec" % (role, entry)
        for line in rows:
            assert len(re.split(r"(?<!\\)\|", line)) == 8, "not six cells on one line: %s" % line


def test_entry_points_are_main_first_then_sorted():
    headings = re.findall(r"^### (\S+) entry point `([^`]+)`$", DOC.read_text(encoding="utf-8"), flags=re.M)
    roles = [role for role, _entry in headings]
    assert sorted(set(roles)) == documented_roles() and roles == sorted(roles)
    for role in documented_roles():
        entries = [entry for name, entry in headings if name == role]
        others = [entry for entry in entries if entry != "main"]
        assert entries == (["main"] if "main" in entries else []) + sorted(others)


@pytest.mark.parametrize("source, expected", [
    ("Writes C(/etc/docker/daemon.json).", "Writes `/etc/docker/daemon.json`."),
    ("See O(docker_daemon_options) and O(a=b).", "See `docker_daemon_options` and `a=b`."),
    ("V(distro) or V(0)", "`distro` or `0`"),
    ("Uses M(community.docker.docker_container).", "Uses `community.docker.docker_container`."),
    ("output of P(speechops.speech.plan#filter)", "output of `speechops.speech.plan`"),
    ("I(must) and B(never)", "*must* and **never**"),
    ("U(https://example.com/a)", "<https://example.com/a>"),
    ("L(the docs, https://example.com/docs)", "[the docs](https://example.com/docs)"),
    ("E(HOME) and RV(result)", "`HOME` and `result`"),
    ("C({a: {kind, protocol (ws or http)}}) then", "`{a: {kind, protocol (ws or http)}}` then"),
    ("(at most C(x) seconds)", "(at most `x` seconds)"),
    ("C(a | b) and a | b", "`a \\| b` and a \\| b"),
    ("C(x`y)", "`` x`y ``"),
    ("plain *star* <tag>", "plain \\*star\\* \\<tag>"),
    ("C(unclosed", "C(unclosed"),
    ("ABC(x) and API(y)", "ABC(x) and API(y)"),
    ("a\n  wrapped   line", "a wrapped line"),
])
def test_markup_conversion(source, expected):
    assert role_docs.markup_to_markdown(source) == expected


def test_description_lists_join_with_a_space_and_defaults_render_inline():
    assert role_docs.description_text(["First C(x).", "Second."]) == "First `x`. Second."
    rows = role_docs.option_rows({
        "b_opt": {"description": "B.", "type": "list", "elements": "dict", "default": [],
                  "options": {"z": {"type": "str", "required": True}, "a": {"type": "int", "description": "A."}}},
        "a_opt": {"description": "A | pipe.", "type": "dict", "default": {"max-size": "10m", "live": True}},
        "c_opt": {"type": "str", "choices": ["no", "yes"], "default": ""},
    })
    assert rows == [
        '| `a_opt` | dict | no | `{"max-size": "10m", "live": true}` | - | A \\| pipe. |',
        "| `b_opt` | list / elements=dict | no | `[]` | - | B. |",
        "| `b_opt.a` | int | no | - | - | A. |",
        "| `b_opt.z` | str | yes | - | - | - |",
        '| `c_opt` | str | no | `""` | `no`, `yes` | - |',
    ]


def test_output_is_deterministic_and_ends_with_one_newline(tmp_path):
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    assert run_script("--output", str(first)).returncode == 0
    assert run_script("--output", str(second)).returncode == 0
    text = first.read_text(encoding="utf-8")
    assert text == second.read_text(encoding="utf-8") == role_docs.render(ROLES_DIR)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "scripts/role_docs.py" in text.split("\n## ", 1)[0] and "make docs" in text.split("\n## ", 1)[0]


def test_check_fails_when_a_spec_changes(tmp_path):
    roles_dir = copy_specs(tmp_path)
    before = DOC.read_bytes()
    assert run_script("--check", "--roles-dir", str(roles_dir), "--output", str(DOC)).returncode == 0

    spec_file = roles_dir / "gstreamer" / "meta" / "argument_specs.yml"
    specs = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    specs["argument_specs"]["main"]["options"]["gstreamer_added_for_the_test"] = {
        "description": "An option the committed reference does not have.", "type": "str", "default": "x"}
    spec_file.write_text(yaml.safe_dump(specs), encoding="utf-8")

    result = run_script("--check", "--roles-dir", str(roles_dir), "--output", str(DOC))
    assert result.returncode == 1
    assert "+| `gstreamer_added_for_the_test` | str | no | `\"x\"` | - | An option the committed reference does not have. |" in result.stdout
    assert result.stdout.startswith("--- ") and "make docs" in result.stderr
    assert DOC.read_bytes() == before, "--check must not write the file"

    output = tmp_path / "variables.md"
    assert run_script("--roles-dir", str(roles_dir), "--output", str(output)).returncode == 0
    assert run_script("--check", "--roles-dir", str(roles_dir), "--output", str(output)).returncode == 0


def test_check_fails_when_the_file_is_missing_and_bad_specs_are_errors(tmp_path):
    result = run_script("--check", "--output", str(tmp_path / "missing.md"))
    assert result.returncode == 1 and "make docs" in result.stderr
    (tmp_path / "roles" / "broken" / "meta").mkdir(parents=True)
    (tmp_path / "roles" / "broken" / "meta" / "argument_specs.yml").write_text("---\nnot_argument_specs: {}\n", encoding="utf-8")
    result = run_script("--roles-dir", str(tmp_path / "roles"), "--output", str(tmp_path / "out.md"))
    assert result.returncode == 2 and "no argument_specs mapping" in result.stderr
    assert not (tmp_path / "out.md").exists()
