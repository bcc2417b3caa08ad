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
  - The role C(speechops.speech.speech_containers) passes what the filter P(speechops.speech.speech_config_files#filter)
    returns; the roles C(speechops.speech.docker) and C(speechops.speech.loadbalancer) write their configuration
    with it.
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
        description: The whole content. Never shown in the output, since an env file holds the API key.
        type: str
        required: true
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
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - No diff, on purpose, since the env files hold secrets. RV(changed_paths) says which paths changed.
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
      - {path: /etc/speechops/speech-stt-1/env, mode: "0600", content: "Eula=accept\nApiKey={{ speech_api_key }}\n"}
  no_log: true
"""

RETURN = r"""
changed_paths:
  description: The folders and files created, changed (content, owner, group or mode) or removed, in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/speechops/speech-stt-1/env]
"""

import grp
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes

ENTRY_OPTIONS = {
    "path": {"type": "path", "required": True},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "str", "required": True},
}


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


def _write_file(entry, check_mode, validate):
    path = entry["path"]
    attributes = _attributes_or_none(entry, check_mode)
    if attributes is None:
        return True
    uid, gid, mode = attributes
    content = to_bytes(entry["content"], errors="surrogate_or_strict")
    if _current_content(path) == content:
        if not _differs(path, uid, gid, mode):
            return False
        if not check_mode:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        return True
    if check_mode:
        return True
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
    return True


def _remove_file(path, check_mode):
    if not os.path.lexists(path):
        return False
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError("a folder, which this module never removes")
    if not check_mode:
        os.unlink(path)
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": [], "options": ENTRY_OPTIONS},
            "files": {"type": "list", "elements": "dict", "default": [],
                      "options": dict(ENTRY_OPTIONS, content={"type": "str", "required": True, "no_log": True},
                                      validate={"type": "str"})},
            "absent": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    changed_paths = []
    current = None

    def validate(command):
        rc, out, err = module.run_command(command)
        if rc != 0:
            raise ValueError("the new content failed %r (rc %d): %s" % (command, rc, (err or out).strip()))
    try:
        for current in module.params["directories"]:
            if _make_directory(current, module.check_mode):
                changed_paths.append(current["path"])
        for current in module.params["files"]:
            if _write_file(current, module.check_mode, validate):
                changed_paths.append(current["path"])
        for path in module.params["absent"]:
            current = {"path": path}
            if _remove_file(path, module.check_mode):
                changed_paths.append(path)
    except (OSError, KeyError, ValueError) as exc:
        module.fail_json(msg="Cannot write or remove %s: %s" % (current["path"] if current else "the files", exc),
                         changed_paths=changed_paths, changed=bool(changed_paths))
    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths)


if __name__ == "__main__":
    main()
