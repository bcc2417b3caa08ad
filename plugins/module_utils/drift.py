# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a host already is as a role would leave it, from the facts host_facts read at the start of the run.

Pure functions; stdlib only; Python 3.8+. The filters speech_files_drift and speech_containers_drift wrap them. Each
answers with what may differ: a path or container it cannot vouch for (not read, read incompletely, no checksum)
counts as differing, so the role then makes its remote call, which decides. A role skips that call only when
nothing is listed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os.path

from ansible_collections.speechops.speech.plugins.module_utils.container_spec import RUN_HASH_LABEL


def _tree_of(path, trees):
    """The complete tree read down to ``path``, or None."""
    path = os.path.normpath(path)
    for tree in trees or []:
        root = tree.get("path", "")
        if not tree.get("complete"):
            continue
        if path == root:
            return tree
        if path.startswith(root.rstrip("/") + "/"):
            if path[len(root.rstrip("/")) + 1:].count("/") + 1 <= int(tree.get("depth") or 0):
                return tree
    return None


def _holder_matches(wanted, number, name, default):
    if wanted is None or wanted == "":
        return number == default
    wanted = str(wanted)
    return wanted == str(number) if wanted.isdigit() else wanted == name


def _entry_differs(item, entry, kind, user):
    if entry is None or entry.get("type") != kind:
        return True
    if int(str(item["mode"]), 8) != int(entry.get("mode", "-1"), 8):
        return True
    if not _holder_matches(item.get("owner"), entry.get("uid"), entry.get("owner"), user.get("uid")):
        return True
    return not _holder_matches(item.get("group"), entry.get("gid"), entry.get("group"), user.get("gid"))


def files_drift(wanted, facts):
    """Paths of ``wanted`` (the config_files module's directories, files and absent) that may differ on the host
    whose host_facts are ``facts`` (read with trees covering them); every path when ``facts`` are missing."""
    wanted = wanted or {}
    facts = facts or {}
    files, trees, user = facts.get("files") or {}, facts.get("file_trees") or [], facts.get("file_user") or {}
    differing = []
    for item in wanted.get("directories") or []:
        path = os.path.normpath(item["path"])
        if _tree_of(path, trees) is None or _entry_differs(item, files.get(path), "directory", user):
            differing.append(item["path"])
    for item in wanted.get("files") or []:
        path = os.path.normpath(item["path"])
        tree = _tree_of(path, trees)
        entry = files.get(path)
        if tree is None or not tree.get("checksums") or _entry_differs(item, entry, "file", user) \
                or entry.get("sha256") != hashlib.sha256(item["content"].encode("utf-8")).hexdigest():
            differing.append(item["path"])
    for path in wanted.get("absent") or []:
        if _tree_of(path, trees) is None or os.path.normpath(path) in files:
            differing.append(path)
    return differing


def containers_drift(specs, facts, restart_policy):
    """Names of the run specs (with their RUN_HASH_LABEL) whose container may differ from what docker_container would
    create: none of that name, not running, another run hash, an image other than the one the spec's reference names
    now, or limits or a restart policy changed since (`docker update`). Every name when ``facts`` are missing."""
    facts = facts or {}
    containers = dict((container.get("name"), container) for container in facts.get("containers") or [])
    image_ids = facts.get("image_ids") or {}
    differing = []
    for spec in specs or []:
        container = containers.get(spec["name"])
        if container is None or not container.get("running") \
                or not container.get("run_hash") or container.get("run_hash") != spec["labels"].get(RUN_HASH_LABEL) \
                or not container.get("image_id") or container.get("image_id") != image_ids.get(spec["image"]) \
                or container.get("cpus") != float(spec["cpus"]) \
                or container.get("memory_mb") != int(str(spec["memory"]).rstrip("M")) \
                or container.get("restart_policy") != restart_policy:
            differing.append(spec["name"])
    return differing
