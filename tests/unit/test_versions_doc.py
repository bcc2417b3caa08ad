# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/versions.md: generated from the catalog (scripts/versions_doc.py), and one test per row that plans the row's
service and checks what the row says against the pages' own figures: the image and tag, the sizes, the handling."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils.plan import PlanInputError, build_plan

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "versions_doc.py"
DOC = REPO_ROOT / "docs" / "versions.md"

spec = importlib.util.spec_from_file_location("versions_doc", SCRIPT)
versions_doc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(versions_doc)

STT, CSTT, NTTS, LID, TTS, CTTS = (
    "speech-to-text", "custom-speech-to-text", "neural-text-to-speech", "language-detection", "text-to-speech", "custom-text-to-speech",
)
MCR = "mcr.microsoft.com/azure-cognitive-services/speechservices/"
LEGACY = "containerpreview.azurecr.io/microsoft/cognitive-services-"
GIB = 1024
GUID = "c0ffee00-0000-4000-8000-000000000001"
HOSTS = {"h1": {"vcpus_usable": 64, "memory_usable_mb": 256 * GIB, "avx2": True}}
RETIRED_REFUSAL = (r"^speech_services\[0\]\.kind: text-to-speech \(standard voices\) was retired by Microsoft on 2021-08-31: "
                   r"use kind neural-text-to-speech .*; or set speech_allow_retired_kinds: true")
RETIRED_WARNING = ("speech_services[0].kind: text-to-speech (standard voices) was retired by Microsoft on 2021-08-31: use kind "
                   "neural-text-to-speech with a neural voice, e.g. en-US-AriaNeural; planned because speech_allow_retired_kinds is true")
LEGACY_WARNING = ("speech_services[0].kind: custom-text-to-speech is legacy: no longer in Microsoft's current pages; last "
                  "documented in 2021; it runs as the 2019 and 2020 pages describe it")


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False)


# --------------------------------------------------------------------------------------------- the document


def test_committed_table_is_the_one_the_catalog_gives():
    assert DOC.is_file(), "docs/versions.md is missing: run `make docs`"
    assert DOC.read_text(encoding="utf-8") == versions_doc.render(), (
        "docs/versions.md disagrees with the catalog: run `make docs` (python scripts/versions_doc.py) after changing "
        "plugins/module_utils/catalog.py")


def test_check_passes_on_the_checkout_and_fails_on_a_changed_table(tmp_path):
    assert run_script("--check").returncode == 0
    changed = tmp_path / "versions.md"
    changed.write_text(DOC.read_text(encoding="utf-8").replace("2 cores, 3 GB", "2 cores, 4 GB"), encoding="utf-8")
    result = run_script("--check", "--output", str(changed))
    assert result.returncode == 1 and "make docs" in result.stderr and "+| `text-to-speech`" in result.stdout


def row_tests():
    return sorted(name for name in globals() if name.startswith("test_row_"))


def doc_rows():
    """{test name: the row's line} of docs/versions.md."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.search(r"`(test_row_[a-z0-9_]+)` \|$", line)
        if match:
            assert match.group(1) not in rows, "two rows name %s" % match.group(1)
            rows[match.group(1)] = line
    return rows


def test_every_row_names_its_own_test_and_every_row_test_has_a_row():
    assert sorted(doc_rows()) == row_tests()
    expected = [versions_doc.row_test_name(kind, page) for page in catalog.PAGE_VERSIONS for kind in catalog.page(page)["kinds"]]
    assert sorted(expected) == row_tests()


def test_every_page_documents_four_kinds_and_the_legacy_kinds_only_until_2020():
    for page in catalog.PAGE_VERSIONS:
        kinds = set(catalog.page(page)["kinds"])
        assert len(kinds) == 4
        assert (TTS in kinds) is (CTTS in kinds) is (page < "2021")


# --------------------------------------------------------------------------------------------- one test per row


def plan_row(kind, page_version, allow_retired_kinds=False, **service):
    """The plan of one service of the row, with the page's registry and recommended sizing profile."""
    page = catalog.page(page_version)
    _minimum, recommended = catalog.page_profiles(page_version)
    return build_plan([dict(service, name="row", kind=kind, replicas=1)], HOSTS, registry=page["registry"], profile=recommended,
                      allow_retired_kinds=allow_retired_kinds)


def page_sizes(kind, page_version):
    """((cores, GB, model GB) minimum, (cores, GB, model GB) recommended) of the page's table, from the catalog."""
    return tuple((sizes["cpus"], sizes["memory_mb"] / GIB, sizes["model_memory_mb"] / GIB)
                 for sizes in (catalog.resources(kind, profile) for profile in catalog.page_profiles(page_version)))


def check_row(test_name, plan, image, sizes, kind, page_version, warnings=()):
    """The plan builds the image, the catalog holds the page's sizes, the plan warns as the row says, and the row in
    docs/versions.md shows them."""
    service = plan["services"]["row"]
    assert service["image"] == image
    assert page_sizes(kind, page_version) == sizes
    assert service["cpus"] == sizes[1][0]  # the page's recommended --cpus
    assert plan["warnings"] == list(warnings)
    row = doc_rows()[test_name]
    assert "`%s`" % image in row
    for cores, memory, _model in sizes:
        assert "%g core%s, %g GB" % (cores, "" if cores == 1 else "s", memory) in row


# 2019-11 (D10): the gated preview registry; STT/CSTT 2 cores 2 GB / 4 cores 4 GB + 4-6 GB; TTS/CTTS 1 core 2 GB / 2 cores 3 GB.

def test_row_speech_to_text_2019_11():
    plan = plan_row(STT, "2019-11", version="2.0.0", preview=True)
    check_row("test_row_speech_to_text_2019_11", plan, LEGACY + "speech-to-text:2.0.0-amd64-en-us-preview",
              ((2, 2, 4), (4, 4, 6)), STT, "2019-11")


def test_row_custom_speech_to_text_2019_11():
    with pytest.raises(PlanInputError, match=r"model_id is required for kind custom-speech-to-text"):
        plan_row(CSTT, "2019-11", version="2.0.0")
    plan = plan_row(CSTT, "2019-11", version="2.0.0", model_id=GUID)
    check_row("test_row_custom_speech_to_text_2019_11", plan, LEGACY + "custom-speech-to-text:2.0.0-amd64",
              ((2, 2, 4), (4, 4, 6)), CSTT, "2019-11")


def test_row_text_to_speech_2019_11():
    with pytest.raises(PlanInputError, match=RETIRED_REFUSAL):
        plan_row(TTS, "2019-11", version="1.3.0")
    plan = plan_row(TTS, "2019-11", version="1.3.0", allow_retired_kinds=True)
    check_row("test_row_text_to_speech_2019_11", plan, LEGACY + "text-to-speech:1.3.0-amd64-en-us-jessarus-preview",
              ((1, 2, 0), (2, 3, 0)), TTS, "2019-11", [RETIRED_WARNING])
    assert plan["services"]["row"]["voice"] == "en-US-JessaRUS"  # "the latest tag would have a voice name of en-US-JessaRUS"


def test_row_custom_text_to_speech_2019_11():
    with pytest.raises(PlanInputError, match=r"model_id is required for kind custom-text-to-speech"):
        plan_row(CTTS, "2019-11", version="1.3.0")
    plan = plan_row(CTTS, "2019-11", version="1.3.0", model_id=GUID)
    check_row("test_row_custom_text_to_speech_2019_11", plan, LEGACY + "custom-text-to-speech:1.3.0-amd64-preview",
              ((1, 2, 0), (2, 3, 0)), CTTS, "2019-11", [LEGACY_WARNING])
    assert plan["hosts"]["h1"]["containers"][0]["settings"] == {"ModelId": GUID}


# 2020-05 (D1): the same registry and sizes; STT and CSTT 2.2.0, TTS and CTTS 1.4.0.

def test_row_speech_to_text_2020_05():
    plan = plan_row(STT, "2020-05", version="2.2.0", preview=True)
    check_row("test_row_speech_to_text_2020_05", plan, LEGACY + "speech-to-text:2.2.0-amd64-en-us-preview",
              ((2, 2, 4), (4, 4, 6)), STT, "2020-05")


def test_row_custom_speech_to_text_2020_05():
    plan = plan_row(CSTT, "2020-05", version="2.2.0", model_id=GUID)
    check_row("test_row_custom_speech_to_text_2020_05", plan, LEGACY + "custom-speech-to-text:2.2.0-amd64",
              ((2, 2, 4), (4, 4, 6)), CSTT, "2020-05")


def test_row_text_to_speech_2020_05():
    with pytest.raises(PlanInputError, match=RETIRED_REFUSAL):
        plan_row(TTS, "2020-05", version="1.4.0")
    plan = plan_row(TTS, "2020-05", version="1.4.0", allow_retired_kinds=True)
    check_row("test_row_text_to_speech_2020_05", plan, LEGACY + "text-to-speech:1.4.0-amd64-en-us-jessarus-preview",
              ((1, 2, 0), (2, 3, 0)), TTS, "2020-05", [RETIRED_WARNING])
    kangkang = plan_row(TTS, "2020-05", voice="zh-CN-Kangkang-Apollo", allow_retired_kinds=True)["services"]["row"]
    assert (kangkang["image"], kangkang["voice"]) == (LEGACY + "text-to-speech:1.4.0-amd64-zh-cn-kangkang-apollo-preview",
                                                      "zh-CN-Kangkang-Apollo")


def test_row_custom_text_to_speech_2020_05():
    plan = plan_row(CTTS, "2020-05", version="1.4.0", model_id=GUID)
    check_row("test_row_custom_text_to_speech_2020_05", plan, LEGACY + "custom-text-to-speech:1.4.0-amd64-preview",
              ((1, 2, 0), (2, 3, 0)), CTTS, "2020-05", [LEGACY_WARNING])


# 2022-01 (D2): MCR; STT/CSTT 4 cores 4 GB / 8 cores 6 GB + 4-6 GB; NTTS 6 cores 12 GB / 8 cores 16 GB; LID 1 core 1 GB.

def test_row_speech_to_text_2022_01():
    plan = plan_row(STT, "2022-01", version="3.6.0")
    check_row("test_row_speech_to_text_2022_01", plan, MCR + "speech-to-text:3.6.0-amd64-en-us", ((4, 4, 4), (8, 6, 6)), STT, "2022-01")


def test_row_custom_speech_to_text_2022_01():
    plan = plan_row(CSTT, "2022-01", version="3.6.0", model_id=GUID)
    check_row("test_row_custom_speech_to_text_2022_01", plan, MCR + "custom-speech-to-text:3.6.0-amd64",
              ((4, 4, 4), (8, 6, 6)), CSTT, "2022-01")


def test_row_neural_text_to_speech_2022_01():
    plan = plan_row(NTTS, "2022-01", version="2.5.0")
    check_row("test_row_neural_text_to_speech_2022_01", plan, MCR + "neural-text-to-speech:2.5.0-amd64-en-us-arianeural",
              ((6, 12, 0), (8, 16, 0)), NTTS, "2022-01",
              ["speech_services[0].version: neural-text-to-speech 2.5.0 is unsupported since 2024-02-29 (all versions "
               "before 2.20.0): use 4.1.0"])
    with pytest.raises(PlanInputError, match=r"model_id is only for custom-speech-to-text and custom-text-to-speech"):
        plan_row(NTTS, "2022-01", version="2.5.0", model_id=GUID)


def test_row_language_detection_2022_01():
    plan = plan_row(LID, "2022-01", version="1.5.0")
    check_row("test_row_language_detection_2022_01", plan, MCR + "language-detection:1.5.0-amd64-preview",
              ((1, 1, 0), (1, 1, 0)), LID, "2022-01")


# 2024-09 and current (A1 sizes, A2 versions): STT/CSTT 4 cores 4 GB / 8 cores 8 GB + 4-8 GB.

def test_row_speech_to_text_2024_09():
    plan = plan_row(STT, "2024-09", version="5.1.0")
    check_row("test_row_speech_to_text_2024_09", plan, MCR + "speech-to-text:5.1.0-amd64-en-us", ((4, 4, 4), (8, 8, 8)), STT, "2024-09")
    with pytest.raises(PlanInputError, match=r"model_id is only for"):
        plan_row(STT, "2024-09", model_id=GUID)


def test_row_custom_speech_to_text_2024_09():
    plan = plan_row(CSTT, "2024-09", version="5.1.0", model_id=GUID)
    check_row("test_row_custom_speech_to_text_2024_09", plan, MCR + "custom-speech-to-text:5.1.0-amd64",
              ((4, 4, 4), (8, 8, 8)), CSTT, "2024-09")


def test_row_neural_text_to_speech_2024_09():
    plan = plan_row(NTTS, "2024-09", version="4.1.0")
    check_row("test_row_neural_text_to_speech_2024_09", plan, MCR + "neural-text-to-speech:4.1.0-amd64-en-us-arianeural",
              ((6, 12, 0), (8, 16, 0)), NTTS, "2024-09")
    assert plan["services"]["row"]["voice"] == "en-US-AriaNeural"


def test_row_language_detection_2024_09():
    plan = plan_row(LID, "2024-09", version="1.18.0")
    check_row("test_row_language_detection_2024_09", plan, MCR + "language-detection:1.18.0-amd64-preview",
              ((1, 1, 0), (1, 1, 0)), LID, "2024-09")
