# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sizing.py: where the speech model memory goes, and which page's minimum a size meets."""

from __future__ import annotations

import pytest

from ansible_collections.speechops.speech.plugins.module_utils import catalog, sizing

GIB = 1024


@pytest.mark.parametrize("place, limit, on_host", [("host", 8 * GIB, 8 * GIB), ("container", 16 * GIB, 0)])
def test_the_model_memory_goes_beside_or_into_the_limit(place, limit, on_host):
    assert sizing.container_limit_mb(8 * GIB, 8 * GIB, place) == limit
    assert sizing.host_model_mb(8 * GIB, place) == on_host


def test_speech_model_memory_takes_host_or_container_only():
    assert sizing.check_model_memory("host") == "host"
    with pytest.raises(ValueError, match="speech_model_memory must be host .* or container .*, got 'both'"):
        sizing.check_model_memory("both")


def test_only_the_speech_to_text_kinds_have_model_memory():
    assert sizing.model_kinds() == (catalog.SPEECH_TO_TEXT, catalog.CUSTOM_SPEECH_TO_TEXT)


def test_the_allocation_is_the_limit_without_a_model_inside_it():
    assert sizing.allocation({"cpus": 8.0, "memory_mb": 16 * GIB, "model_memory_mb": 8 * GIB, "model_memory": "container"}) == (8.0, 8 * GIB)
    assert sizing.allocation({"cpus": 8.0, "memory_mb": 8 * GIB, "model_memory_mb": 8 * GIB, "model_memory": "host"}) == (8.0, 8 * GIB)
    assert sizing.allocation({"cpus": 1.0, "memory_mb": 1024}) == (1.0, 1024)


def test_the_host_counts_each_containers_model_memory_beside_the_limits():
    containers = [{"name": "a", "model_memory_mb": 8 * GIB, "model_memory": "host"},
                  {"name": "b", "model_memory_mb": 8 * GIB, "model_memory": "host"},
                  {"name": "c", "model_memory_mb": 8 * GIB, "model_memory": "container"},
                  {"name": "d"}]
    assert sizing.host_model_memory(containers) == {"a": 8 * GIB, "b": 8 * GIB}


def test_each_page_that_sizes_a_kind_gives_its_minimum_newest_first():
    assert sizing.documented_minimums(catalog.SPEECH_TO_TEXT) == [
        ("2026", "A1", 4.0, 4 * GIB), ("2022", "D2", 4.0, 4 * GIB), ("2020", "D1", 2.0, 2 * GIB)]
    # neural text to speech is on no 2020 page; the retired text to speech only on the 2020 one
    assert [year for year, *_rest in sizing.documented_minimums(catalog.NEURAL_TEXT_TO_SPEECH)] == ["2026", "2022"]
    assert [year for year, *_rest in sizing.documented_minimums(catalog.TEXT_TO_SPEECH)] == ["2020"]


@pytest.mark.parametrize("cpus, memory_mb, year", [(4, 4096, "2026"), (3, 4096, "2020"), (2, 2048, "2020"), (1.5, 8192, None)])
def test_the_newest_page_whose_minimum_a_size_meets(cpus, memory_mb, year):
    met = sizing.page_minimum_met(catalog.SPEECH_TO_TEXT, cpus, memory_mb)
    assert (met[0] if met else None) == year
