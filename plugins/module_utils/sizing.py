# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a container is given and what its host must hold: the Docker limits and the speech model memory.

Microsoft's tables are Docker allocations (--cpus, --memory), and speech to text "memory-maps portions of a large
language model" for which the pages "add an additional 4 to 8 GB" (contract 2). A container gets its documented
allocation as --memory; the model memory goes where speech_model_memory says:

- host (default): into the host's budget only, beside the container's --memory;
- container: into --memory as well.

Either way the host's budget counts it once per container, although containers of one image on one host map the
same model file, which the kernel keeps in its page cache once. Counting per container keeps a container's
reservation independent of its neighbours: placement stays a per-container problem (the plan's heaps, one per
container shape; counting per image made every distinct image a shape of its own and planning several times slower),
moving or upgrading one container never changes what another needs (a new version is a new image with a model file of
its own), and the cost is one model's memory for each extra container of an image on a host, which the plan's spread
of a service's replicas over hosts keeps rare. Custom speech to text downloads its model into each container's own
models folder, so there per container is exact.

Used by the plan (placement) and by preflight (capacity and size checks), so both count alike.
Pure functions; stdlib only; Python 3.8+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.speechops.speech.plugins.module_utils import catalog

MODEL_MEMORY_HOST = "host"
MODEL_MEMORY_CONTAINER = "container"
MODEL_MEMORY_PLACES = (MODEL_MEMORY_HOST, MODEL_MEMORY_CONTAINER)
DEFAULT_MODEL_MEMORY = MODEL_MEMORY_HOST
MODEL_MEMORY_VARIABLE = "speech_model_memory"


def check_model_memory(place):
    """The place given (host or container); ValueError naming speech_model_memory otherwise."""
    if place in MODEL_MEMORY_PLACES:
        return place
    raise ValueError("%s must be %s (the model memory counts in the host's budget only) or %s (it also goes into each "
                     "container's --memory), got %r" % (MODEL_MEMORY_VARIABLE, MODEL_MEMORY_HOST, MODEL_MEMORY_CONTAINER, place))


def has_model_memory(kind):
    """Whether any documented table adds speech model memory for the kind (speech to text, custom speech to text)."""
    return any(resources["model_memory_mb"] for resources in catalog.sizing_table()[kind].values())


def model_kinds():
    """The kinds with speech model memory, in catalog order."""
    return tuple(kind for kind in catalog.KINDS if has_model_memory(kind))


def container_limit_mb(memory_mb, model_memory_mb, place):
    """Docker's --memory: the allocation, plus the model memory when it is placed in the container."""
    return memory_mb + (model_memory_mb if place == MODEL_MEMORY_CONTAINER else 0)


def host_model_mb(model_memory_mb, place):
    """The model memory the host's budget counts beside the containers' limits (none when it is in --memory)."""
    return model_memory_mb if place == MODEL_MEMORY_HOST else 0


def allocation(container):
    """(cpus, memory_mb) a planned container has for itself: its --memory without a model placed inside it."""
    memory = container["memory_mb"]
    if container.get("model_memory") == MODEL_MEMORY_CONTAINER:
        memory -= container.get("model_memory_mb") or 0
    return container["cpus"], memory


def host_model_memory(containers):
    """{container name: MB} of the speech model memory the host's budget counts beside the planned containers' limits."""
    counted = {}
    for container in containers:
        model = host_model_mb(container.get("model_memory_mb") or 0, container.get("model_memory", MODEL_MEMORY_HOST))
        if model:
            counted[container["name"]] = model
    return counted


def documented_minimums(kind):
    """[(year, source ID, cpus, memory_mb)] of every page that sizes the kind, newest first (contract 2)."""
    documented_years = catalog.fact(kind, "sizes", {})  # a profile of an undocumented year borrows another year's
    minimums = []
    for year in catalog.DOC_YEARS:
        if year in documented_years:
            sizes = catalog.resources(kind, year + "-" + catalog.MINIMUM)
            minimums.append((year, catalog.DOC_YEAR_SOURCES[year], sizes["cpus"], sizes["memory_mb"]))
    return minimums


def page_minimum_met(kind, cpus, memory_mb):
    """The newest documented minimum (year, source, cpus, memory_mb) the allocation reaches, or None."""
    for minimum in documented_minimums(kind):
        if cpus >= minimum[2] and memory_mb >= minimum[3]:
            return minimum
    return None
