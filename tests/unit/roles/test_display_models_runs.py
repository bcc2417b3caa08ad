# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/speech_jobs/tasks/display_models.yml: the one-shot runs a download builds for a planned container (the display
types as separate argv items of the command, DisplayLocale or the ID settings in the env, only the models folder
mounted) and the checks of the request, rendered with Ansible's Templar from the task file itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible._internal._datatag._tags import TrustedAsTemplate
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.speechops.speech.plugins.module_utils.container_spec import run_spec

TASKS = Path(__file__).resolve().parents[3] / "roles" / "speech_jobs" / "tasks" / "display_models.yml"
LOADER = DataLoader()
PUNCT_ID = "1a2b3c4d-0000-4000-8000-00000000d15b"
CONTAINER = {"name": "cstt-contoso-1", "service": "cstt-contoso", "kind": "custom-speech-to-text",
             "image": "registry.example:5000/azure-cognitive-services/speechservices/custom-speech-to-text:5.1.0-amd64",
             "host_port": 5100, "container_port": 5000, "cpus": 1, "memory_mb": 4096,
             "settings": {"ModelId": "c0ffee00-0000-4000-8000-000000000001"}}
REQUEST = {"speech_display_models_action": "download", "speech_display_models_locale": "en-US",
           "speech_display_models_types": ["FullDisplay"], "speech_display_models_ids": {},
           "speech_eula": "accept", "speech_billing_endpoint": "https://billing.example/"}


def task(name_start):
    tasks = LOADER.load_from_file(str(TASKS), trusted_as_template=True)
    flat = tasks + [inner for block in tasks for inner in block.get("block", [])]
    return next(t for t in flat if t["name"].startswith(name_start))


def render(expression, variables):
    return Templar(loader=LOADER, variables=variables).template(TrustedAsTemplate().tag(expression))


def planned_run(**request):
    planning = task("Plan one run per container")
    variables = dict(REQUEST, **request)
    variables["item"] = run_spec(CONTAINER, {"billing_endpoint": "https://billing.example/", "data_dir": "/srv/speech"})
    variables.update(planning["vars"])
    return render(planning["ansible.builtin.set_fact"]["speech_jobs_display_runs"], variables)[0]


def test_a_download_passes_the_types_as_separate_arguments_and_the_locale_in_the_env():
    run = planned_run(speech_display_models_types=["Punct", "Rescore"])
    assert run["command"] == ["Punct", "Rescore"]
    assert run["env"] == {"Eula": "accept", "DisplayLocale": "en-US"}  # run_once.yml adds Billing
    assert run["name"] == "display-models-cstt-contoso-1" and run["image"] == CONTAINER["image"]


def test_a_download_mounts_only_the_containers_models_folder():
    run = planned_run()
    assert run["models_dir"] == "/srv/speech/cstt-contoso-1/models"
    assert [(m["source"], m["target"]) for m in run["mounts"]] == [("/srv/speech/cstt-contoso-1/models", "/usr/local/models")]


def test_display_model_ids_replace_the_locale_and_the_types():
    run = planned_run(speech_display_models_ids={"PunctId": PUNCT_ID})
    assert run["command"] == []
    assert run["env"] == {"Eula": "accept", "PunctId": PUNCT_ID}


def checks_pass(**request):
    check = task("Check the display model request")
    variables = dict(REQUEST, **request)
    variables.update(check["vars"])
    return all(render("{{ " + condition + " }}", variables) for condition in check["ansible.builtin.assert"]["that"])


@pytest.mark.parametrize("request_, passes", [
    ({}, True),
    ({"speech_display_models_action": "list", "speech_display_models_types": ["Punct", "Wfstitn"]}, True),
    ({"speech_display_models_action": ""}, False),
    ({"speech_display_models_types": ["FullDisplay", "Punct"]}, False),
    ({"speech_display_models_types": []}, False),
    ({"speech_display_models_types": [], "speech_display_models_ids": {"PunctId": PUNCT_ID}}, True),
    ({"speech_display_models_action": "list", "speech_display_models_types": [],
      "speech_display_models_ids": {"PunctId": PUNCT_ID}}, False),
    ({"speech_display_models_ids": {"PunctId": "not-a-guid"}}, False),
    ({"speech_display_models_ids": {"Punct": PUNCT_ID}}, False),
    ({"speech_display_models_locale": "en-US; rm -rf /"}, False),
])
def test_the_request_is_checked(request_, passes):
    assert checks_pass(**request_) is passes
