# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drift filters wrap module_utils/drift.py, refuse what they cannot read, and have sidecar docs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.speechops.speech.plugins.filter import drift as drift_filter
from ansible_collections.speechops.speech.plugins.filter.drift import FilterModule, speech_containers_drift, speech_files_drift


def test_filters_are_exposed_and_documented():
    assert FilterModule().filters() == {"speech_files_drift": speech_files_drift, "speech_containers_drift": speech_containers_drift}
    for name in FilterModule().filters():
        docs = yaml.safe_load((Path(drift_filter.__file__).parent / (name + ".yml")).read_text())
        assert docs["DOCUMENTATION"]["name"] == name and "facts" in docs["DOCUMENTATION"]["options"]


def test_without_facts_everything_may_differ():
    assert speech_files_drift({"files": [{"path": "/etc/x", "mode": "0600", "content": "a"}]}, None) == ["/etc/x"]
    assert speech_containers_drift([{"name": "c", "labels": {}}], "") == ["c"]


@pytest.mark.parametrize("call, message", [
    (lambda: speech_files_drift(["/etc/x"]), "directories, files, absent"),
    (lambda: speech_files_drift({}, "facts"), "speech_host facts"),
    (lambda: speech_containers_drift([{"name": "c"}]), "run specs"),
])
def test_wrong_input_is_named(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
