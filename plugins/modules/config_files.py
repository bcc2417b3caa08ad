#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: config_files
short_description: Write a host's configuration folders and files in one call
description:
  - Makes each folder of O(directories), writes each file of O(files) with its content, owner, group and mode, and
    removes each file of O(absent), in one module call (what a loop of M(ansible.builtin.file),
    M(ansible.builtin.copy) and M(ansible.builtin.template) tasks would do one item at a time).
  - A file is written only when its content differs, to a temporary file created with the final owner and mode in the
    same folder and then renamed over the old one, so a reader never sees a half-written file and a secret is never
    readable by anyone else, not even for a moment.
  - The roles C(speechops.speech.speech_containers) and C(speechops.speech.speech_jobs) pass what the filter
    P(speechops.speech.speech_config_files#filter) returns; the roles C(speechops.speech.docker) and
    C(speechops.speech.loadbalancer) write their configuration with it.
  - In diff mode (C(--diff), check mode too) it returns a diff of every folder and file it changes, writes or
    removes, with no secret value in it; see O(files[].secrets) and O(files[].diff).
version_added: "0.1.0"
author:
  - speechops team (@speechops)
options:
  directories:
    description: Folders to create (with their parents) and hold at this owner, group and mode, in this order.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      owner:
        description: User name or uid; when not set, the user the module runs as.
        type: str
      group:
        description: Group name or gid; when not set, the group the module runs as.
        type: str
      mode:
        description: Octal mode, for example C("0700").
        type: str
        required: true
  files:
    description: Files to write; their folders must exist or be in O(directories).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description:
          - The whole content. Never shown in the output as given; the diff shows it with every secret value
            masked (O(files[].secrets)).
        type: str
        required: true
      secrets:
        description:
          - Names of the settings whose values are secret in this file. The diff shows each such value as
            C(<masked>) before and after, or as C(<masked, changed>) after when it differs from the value the
            same setting had before (or had none). No part of a secret value, nor its length or a hash of it, is
            shown.
          - A value is found in a line C(NAME=VALUE) (also C(export NAME=VALUE), and C("NAME=VALUE") or
            C(Environment=NAME=VALUE) as systemd writes it; the value runs to the end of the line), and under a
            JSON key C("NAME") at any depth (a string, a number, or every string and number of an object or
            list). Names ignore case, and C(:) and C(__) in them are alike (V(ApplicationInsights__InstrumentationKey)
            also covers V(ApplicationInsights:InstrumentationKey)).
          - Whatever this option says, the password of every C(scheme://user:password@host) in any file (and of
            C(user:password@host) at the start of a value, a proxy given without its scheme) is masked too.
          - A secret value found in any file of the call, before or after, is masked wherever else it occurs in
            the files shown, in another form too (quoted, JSON-escaped, URL-encoded), from 4 characters up.
        type: list
        elements: str
        default: []
      diff:
        description:
          - V(false) for a file that is secret as a whole (a private key, a licence). The diff then shows that it
            changes, never any of its content.
        type: bool
        default: true
      owner:
        description: User name or uid; when not set, the user the module runs as.
        type: str
      group:
        description: Group name or gid; when not set, the group the module runs as.
        type: str
      mode:
        description: Octal mode, for example C("0600").
        type: str
        required: true
      validate:
        description:
          - A command that must succeed on the new content before it replaces the file, with C(%s) for the path of
            the temporary file that holds it (as M(ansible.builtin.template) does), for example V(haproxy -c -f %s).
          - Not run in check mode.
        type: str
  absent:
    description:
      - Files to remove when they exist, after the writes. A folder here is an error, never removed.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing) when in diff mode.
    support: full
    details:
      - Secret values are masked (O(files[].secrets)). A file's content is not shown when either side of it is
        larger than 256 KiB or is not UTF-8 text, only a note; nor is a removed file's content.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Do not set C(no_log) on the task, or Ansible drops the whole result, the diff included. Nothing this module
    returns holds a file's content unmasked; the content shows in C(invocation) as
    C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER).
  - RV(changed_paths) says which paths changed, with or without diff mode.
seealso:
  - module: ansible.builtin.file
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Write a host's container folders, env files and descriptions
  speechops.speech.config_files:
    directories:
      - {path: /etc/speechops, mode: "0700"}
      - {path: /etc/speechops/speech-stt-1, mode: "0700"}
    files:
      - path: /etc/speechops/speech-stt-1/env
        mode: "0600"
        content: "Eula=accept\nApiKey={{ speech_api_key }}\n"
        secrets: [ApiKey]

- name: Write a private key; the diff says only that it changes
  speechops.speech.config_files:
    files:
      - {path: /etc/speechops/tls/key.pem, mode: "0600", content: "{{ tls_key }}", diff: false}
"""

RETURN = r"""
changed_paths:
  description: The folders and files created, changed (content, owner, group or mode) or removed, in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/speechops/speech-stt-1/env]
diff:
  description:
    - In diff mode, one entry per change, in the order of RV(changed_paths). A folder, and a file's owner, group
      and mode, as one line C(owner=... group=... mode=...) (before C(state=absent) when new); a file's content
      with its secret values masked (C(<masked>), after C(<masked, changed>) when changed), or one line that says
      why it is not shown for a file that is secret, larger than 256 KiB or not text; a removed file as
      C(state=absent) after.
  returned: in diff mode
  type: list
  elements: dict
  sample:
    - before_header: /etc/speechops/speech-stt-1/env
      after_header: /etc/speechops/speech-stt-1/env
      before: "Eula=accept\nApiKey=<masked>\nLogging__Console__LogLevel__Default=Information\n"
      after: "Eula=accept\nApiKey=<masked, changed>\nLogging__Console__LogLevel__Default=Debug\n"
"""

import grp
import json
import os
import pwd
import re
import tempfile
from urllib.parse import quote, unquote

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes

ENTRY_OPTIONS = {
    "path": {"type": "path", "required": True},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "str", "required": True},
}
FILE_OPTIONS = dict(
    ENTRY_OPTIONS,
    content={"type": "str", "required": True, "no_log": True},
    validate={"type": "str"},
    secrets={"type": "list", "elements": "str", "default": [], "no_log": False},
    diff={"type": "bool", "default": True},
)

MASK = "<masked>"
MASK_CHANGED = "<masked, changed>"
MAX_DIFF_BYTES = 256 * 1024
# A secret value is also masked wherever else it occurs in a shown file, from this length up: a shorter one
# would mask ordinary words (it is still masked where its name declares it).
MIN_SWEPT_LENGTH = 4
HIDDEN = "<content not shown (%s)>\n"
HIDDEN_CHANGED = "<content not shown (%s), changed>\n"

# user:password@host, after a scheme (http://) or, for a proxy given without one, at the start of a value.
_URL_CREDENTIALS = re.compile(
    r"(?P<head>(?:\b[A-Za-z][A-Za-z0-9+.\-]*://|(?<![^\s=\"',;(\[{]))[^\s:/@\"'<>]+:)"
    r"(?P<value>[^\s/\"'<>]*)(?=@(?P<host>[^\s@/\"'<>]+))")


def _uid(owner):
    if owner is None:
        return os.geteuid()
    return int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid


def _gid(group):
    if group is None:
        return os.getegid()
    return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid


def _attributes(entry):
    return _uid(entry["owner"]), _gid(entry["group"]), int(entry["mode"], 8)


def _differs(path, uid, gid, mode):
    status = os.lstat(path)
    return (status.st_uid, status.st_gid, status.st_mode & 0o7777) != (uid, gid, mode)


def _attributes_or_none(entry, check_mode):
    """uid, gid and mode; None in check mode for a user or group that does not exist yet (the package that
    makes it is installed by an earlier task of the same run)."""
    try:
        return _attributes(entry)
    except KeyError:
        if check_mode:
            return None
        raise


# --- diff: what an operator reviews, with no secret value -----------------------------------------------

def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _wanted_line(entry):
    """owner=... group=... mode=... of an entry, by name; a user or group that does not exist yet as given."""
    owner = _user_name(os.geteuid()) if entry["owner"] is None else (
        _user_name(int(entry["owner"])) if entry["owner"].isdigit() else entry["owner"])
    group = _group_name(os.getegid()) if entry["group"] is None else (
        _group_name(int(entry["group"])) if entry["group"].isdigit() else entry["group"])
    return "owner=%s group=%s mode=%04o\n" % (owner, group, int(entry["mode"], 8))


def _current_line(path):
    if not os.path.lexists(path):
        return "state=absent\n"
    status = os.lstat(path)
    return "owner=%s group=%s mode=%04o\n" % (_user_name(status.st_uid), _group_name(status.st_gid), status.st_mode & 0o7777)


def _one_line_diff(path, what, before, after):
    return {"before_header": "%s (%s)" % (path, what), "after_header": "%s (%s)" % (path, what),
            "before": before, "after": after}


def _name_pattern(names):
    """The names as a regular expression: ':' and '__' nest alike (ASP.NET Core's two forms)."""
    forms = ["(?:__|:)".join(re.escape(part) for part in re.split("__|:", name)) for name in names if name]
    return "(?:%s)" % "|".join(sorted(forms, key=len, reverse=True))


def _normal_name(name):
    return re.sub("__|:", ":", name).lower()


def _named_patterns(names):
    if not [name for name in names if name]:
        return []
    alternatives = _name_pattern(names)
    return [
        # NAME=VALUE at the start of a line (export NAME=VALUE too) or of a word or quoted word, as systemd's
        # Environment="NAME=VALUE" writes it: the value runs to the end of the line (or its closing quote).
        re.compile(r"(?<![^\s=])(?P<q>[\"']?)(?P<name>%s)[ \t]*=(?P<value>[^\r\n]*?)(?=(?P=q)[ \t]*\r?$|\r?$)"
                   % alternatives, re.MULTILINE | re.IGNORECASE),
        # "NAME": scalar, at any depth of a JSON document (a string's value is masked inside its quotes)
        re.compile(r"\"(?P<name>%s)\"[ \t]*:[ \t]*(?:\"(?P<value>(?:[^\"\\\r\n]|\\.)*)\"|(?P<bare>[^\s,}\]{\[\"]+))"
                   % alternatives, re.IGNORECASE),
    ]


def _json_leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _json_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_leaves(item)
    elif isinstance(value, str):
        yield value
    elif not isinstance(value, bool) and isinstance(value, (int, float)):
        yield json.dumps(value)


def _json_secrets(text, names):
    """Every string and number under a secret key of a JSON document (objects and lists included)."""
    wanted = set(_normal_name(name) for name in names if name)
    try:
        document = json.loads(text)
    except ValueError:
        return []
    found, stack = [], [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if _normal_name(str(key)) in wanted:
                    found.extend(_json_leaves(item))
                else:
                    stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _variants(value):
    """The forms a secret value takes in text: as is, unquoted, JSON-escaped, URL-encoded and decoded."""
    forms = set([value, value.strip(), value.strip().strip("\"'")])
    for form in list(forms):
        forms.add(json.dumps(form)[1:-1])
        forms.add(json.dumps(form, ensure_ascii=False)[1:-1])
        forms.add(quote(form, safe=""))
        forms.add(unquote(form))
        try:
            forms.add(json.loads('"%s"' % form))
        except ValueError:
            pass
    return set(form for form in forms if len(form) >= MIN_SWEPT_LENGTH)


class _Scan:
    """Where the secrets of one text are: [(start, end, key, value)], and the values to mask everywhere."""

    def __init__(self, text, names):
        self.text = text
        spans = {}
        for pattern in _named_patterns(names):
            for match in pattern.finditer(text):
                group = "value" if match.group("value") is not None else "bare"
                start, end = match.span(group)
                if start not in spans or end > spans[start][1]:
                    spans[start] = (start, end, _normal_name(match.group("name")), match.group(group))
        occurrences = {}
        self.named = []
        for start, end, name, value in sorted(spans.values()):
            occurrences[name] = occurrences.get(name, -1) + 1
            self.named.append((start, end, (name, occurrences[name]), value))
        self.urls = []
        for match in _URL_CREDENTIALS.finditer(text):
            self.urls.append((match.start("value"), match.end("value"),
                              (match.group("head").lower(), match.group("host").lower()), match.group("value")))
        self.values = set()
        for value in [span[3] for span in self.named + self.urls] + _json_secrets(text, names):
            self.values |= _variants(value)

    def tokens(self):
        return dict((key, value) for start, end, key, value in self.named)

    def url_values(self):
        found = {}
        for start, end, key, value in self.urls:
            found.setdefault(key, set()).add(value)
        return found


def _sweep(text, values):
    """(start, end) of every occurrence, overlapping ones too, of each value, case ignored."""
    found = []
    for value in values:
        for match in re.finditer("(?=(%s))" % re.escape(value), text, re.IGNORECASE):
            found.append((match.start(1), match.end(1), value))
    return found


def _masked(text, spans):
    """text with each span (start, end, changed), overlapping spans merged, replaced by the mask."""
    merged = []
    for start, end, changed in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(end, merged[-1][1])
            merged[-1][2] = merged[-1][2] or changed
        else:
            merged.append([start, end, changed])
    parts, position = [], 0
    for start, end, changed in merged:
        parts.append(text[position:start])
        parts.append(MASK_CHANGED if changed else MASK)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _as_text(data):
    """The text of content to show, or why it is not shown."""
    if len(data) > MAX_DIFF_BYTES:
        return None, "%d bytes, over %d KiB" % (len(data), MAX_DIFF_BYTES // 1024)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "binary"
    if "\0" in text:
        return None, "binary"
    return text, None


class _Diffs:
    """The diff of every file of one call: secret values found in any file are masked in all of them."""

    def __init__(self, files, olds):
        self.shown = {}
        self.before_values, self.after_values = set(), set()
        for index, (entry, old) in enumerate(zip(files, olds)):
            new = to_bytes(entry["content"], errors="surrogate_or_strict")
            after, after_reason = _as_text(new)
            before, before_reason = _as_text(old) if old is not None else ("", None)
            after_scan = _Scan(after, entry["secrets"]) if after is not None else None
            self.after_values |= after_scan.values if after_scan else set()
            if not entry["diff"]:
                self.shown[index] = (("a secret file", "a secret file"), None, None)
                continue
            if after is None or before is None:
                self.shown[index] = ((before_reason or "%d bytes" % len(old), after_reason or "%d bytes" % len(new)),
                                     None, None)
                continue
            before_scan = _Scan(before, entry["secrets"])
            self.before_values |= before_scan.values
            self.shown[index] = (None, before_scan, after_scan)

    def secret_values(self):
        return self.before_values | self.after_values

    def content(self, index, path, existed):
        reasons, before_scan, after_scan = self.shown[index]
        diff = {"before_header": path if existed else "%s (absent)" % path, "after_header": path}
        if reasons:
            diff.update(before=HIDDEN % reasons[0] if existed else "", after=HIDDEN_CHANGED % reasons[1])
            return diff
        every = self.secret_values()
        before_spans = [(start, end, False) for start, end, key, value in before_scan.named + before_scan.urls]
        before_spans += [(start, end, False) for start, end, value in _sweep(before_scan.text, every)]
        old_tokens, old_urls = before_scan.tokens(), before_scan.url_values()
        after_spans = [(start, end, old_tokens.get(key) != value) for start, end, key, value in after_scan.named]
        after_spans += [(start, end, value not in old_urls.get(key, ())) for start, end, key, value in after_scan.urls]
        # elsewhere, a secret value is new when this file did not hold it before, in any place
        held = {}
        for start, end, value in _sweep(after_scan.text, every):
            if value not in held:
                held[value] = bool(_sweep(before_scan.text, [value]))
            after_spans.append((start, end, not held[value]))
        diff.update(before=_masked(before_scan.text, before_spans), after=_masked(after_scan.text, after_spans))
        return diff


# --- writes ----------------------------------------------------------------------------------------------

def _make_directory(entry, check_mode):
    path = entry["path"]
    attributes = _attributes_or_none(entry, check_mode)
    if attributes is None:
        return True
    uid, gid, mode = attributes
    if os.path.isdir(path) and not _differs(path, uid, gid, mode):
        return False
    if not check_mode:
        os.makedirs(path, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return True


def _current_content(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write_file(entry, old, check_mode, validate):
    """(attributes changed, content changed)"""
    path = entry["path"]
    content = to_bytes(entry["content"], errors="surrogate_or_strict")
    attributes = _attributes_or_none(entry, check_mode)
    if attributes is None:
        return True, old != content
    uid, gid, mode = attributes
    if old == content:
        if not _differs(path, uid, gid, mode):
            return False, False
        if not check_mode:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        return True, False
    attributes_changed = old is None or _differs(path, uid, gid, mode)
    if check_mode:
        return attributes_changed, True
    if entry.get("validate") and "%s" not in entry["validate"]:
        raise ValueError("validate must contain %s for the new file's path")
    descriptor, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=os.path.dirname(path))
    try:
        os.fchown(descriptor, uid, gid)
        os.fchmod(descriptor, mode)  # before any byte is written: mkstemp's 0600, then exactly this mode
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if entry.get("validate"):
            validate(entry["validate"] % temporary)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return attributes_changed, True


def _remove_file(path, check_mode):
    if not os.path.lexists(path):
        return False
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError("a folder, which this module never removes")
    if not check_mode:
        os.unlink(path)
    return True


def _invocation(params):
    """The arguments as the result shows them: no file's content, whatever its secrets option says."""
    files = [dict(entry, content="VALUE_SPECIFIED_IN_NO_LOG_PARAMETER") for entry in params["files"]]
    return {"module_args": dict(params, files=files)}


def main():
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": [], "options": ENTRY_OPTIONS},
            "files": {"type": "list", "elements": "dict", "default": [], "options": FILE_OPTIONS},
            "absent": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    files = module.params["files"]
    changed_paths, diffs = [], []
    current = None
    invocation = _invocation(module.params)

    def validate(command):
        rc, out, err = module.run_command(command)
        if rc != 0:
            raise ValueError("the new content failed %r (rc %d): %s" % (command, rc, (err or out).strip()))
    try:
        olds = []
        for current in files:
            olds.append(_current_content(current["path"]))
        current = None
        shown = _Diffs(files, olds if module._diff else [None] * len(files))
        # The content option is no_log, so Ansible would mask any text equal to a whole file, the diff's
        # included; what must never be shown is the secret values, masked in the diff and, should one come
        # back in a message (validate's output), by Ansible.
        module.no_log_values.difference_update(entry["content"] for entry in files if entry["diff"])
        module.no_log_values.update(shown.secret_values())
        for current in module.params["directories"]:
            before = _current_line(current["path"]) if module._diff else None
            if _make_directory(current, module.check_mode):
                changed_paths.append(current["path"])
                if module._diff:
                    diffs.append(_one_line_diff(current["path"], "folder", before, _wanted_line(current)))
        for index, current in enumerate(files):
            before = _current_line(current["path"]) if module._diff else None
            attributes_changed, content_changed = _write_file(current, olds[index], module.check_mode, validate)
            if attributes_changed or content_changed:
                changed_paths.append(current["path"])
            if module._diff and attributes_changed:
                diffs.append(_one_line_diff(current["path"], "owner, group, mode", before, _wanted_line(current)))
            if module._diff and content_changed:
                diffs.append(shown.content(index, current["path"], olds[index] is not None))
        for path in module.params["absent"]:
            current = {"path": path}
            before = _current_line(path) if module._diff else None
            if _remove_file(path, module.check_mode):
                changed_paths.append(path)
                if module._diff:
                    diffs.append(_one_line_diff(path, "removed", before, "state=absent\n"))
    except (OSError, KeyError, ValueError) as exc:
        module.fail_json(msg="Cannot write or remove %s: %s" % (current["path"] if current else "the files", exc),
                         changed_paths=changed_paths, changed=bool(changed_paths), invocation=invocation)
    result = {"changed": bool(changed_paths), "changed_paths": changed_paths, "invocation": invocation}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
