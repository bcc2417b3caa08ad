# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Placement of the replicas on the hosts and the choice of their host ports (private glue of plan.py).

_Planner holds the mutable state of one build_plan() call and runs its four phases: pins, keeping what runs,
placing what is missing, and an explicit rebalance. plan.py's docstring describes the algorithm and its cost.
A container's shape is (its cpus, the memory its host's budget holds for it: its --memory and any speech model
memory counted beside it, sizing.py). Stdlib only; Python 3.8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import heapq
import re

from ansible_collections.speechops.speech.plugins.module_utils._plan_inputs import MILLI, SPREAD

UTILISATION_SCALE = 1000000
REBALANCE_CANDIDATES_PER_MOVE = 64
CONTAINER_PREFIX = "speech-"
# A replica number as container names carry it: ASCII digits without a leading zero, short enough for int().
REPLICA_SUFFIX_RE = re.compile(r"^[1-9][0-9]{0,17}$")

REASON_NO_AVX2 = "no AVX2"
REASON_MEMORY = "memory"
REASON_CPUS = "cpus"
REASON_PORTS = "ports"
REFUSAL_WORDS = {
    REASON_NO_AVX2: "the host has no AVX2 (the Speech containers require it)",
    REASON_MEMORY: "too little free memory",
    REASON_CPUS: "too few free cpus",
    REASON_PORTS: "its host-port range is exhausted",
}


class _Replica:
    __slots__ = ("service", "index", "name", "host", "port", "pinned", "origin", "origin_port", "reason")

    def __init__(self, service, index):
        self.service = service
        self.index = index
        self.name = container_name(service.name, index)
        self.host = None
        self.port = None
        self.pinned = False
        self.origin = None
        self.origin_port = None
        self.reason = None


def container_name(service_name, replica):
    return "%s%s-%d" % (CONTAINER_PREFIX, service_name, replica)


def _replica_index(entry, service):
    prefix = "%s%s-" % (CONTAINER_PREFIX, service.name)
    suffix = entry["name"][len(prefix):] if entry["name"].startswith(prefix) else ""
    if not REPLICA_SUFFIX_RE.match(suffix):
        return None
    index = int(suffix)
    return index if index <= service.replicas else None


class _FreshHostSearch:
    """One service's walk over the fault-domain heaps of its shape (see _Planner._place_on_fresh_hosts)."""

    def __init__(self, planner, service, stash):
        self.planner = planner
        self.service = service
        self.stash = stash
        self.groups = planner.heaps[service.shape]
        self.group_heap = planner.group_heaps[service.shape]
        self.registered = planner.registered[service.shape]
        self.aside = set()
        self.touched = set()
        self.used_domains = None

    def next_in_unused_domain(self):
        """(entry, domain) of the best host in a domain without this service, or None."""
        planner, service, group_heap = self.planner, self.service, self.group_heap
        while group_heap:
            item = heapq.heappop(group_heap)
            domain = item[4]
            if self.registered.get(domain) is not item:
                continue
            self.touched.add(domain)
            if domain in self.aside:
                continue
            if domain is not None and service.domain_counts.get(domain, 0) > 0:
                self.aside.add(domain)
                continue
            top = planner._clean_top(self.groups[domain], service.shape, service, self.stash)
            if top is None:
                continue
            if top[2] != item[2] or top[3] != item[3]:
                planner.register(service.shape, domain, top)
                continue
            return top, domain
        return None

    def next_in_used_domain(self):
        """Every domain holds the service: (entry, domain) in the domain with the fewest of it, or None."""
        if self.used_domains is None:
            self.used_domains = []
            for domain in sorted(self.aside, key=str):
                self._offer(domain)
        if not self.used_domains:
            return None
        _count, entry, domain = heapq.heappop(self.used_domains)
        return entry, domain

    def _offer(self, domain):
        top = self.planner._clean_top(self.groups[domain], self.service.shape, self.service, self.stash)
        if top is not None:
            heapq.heappush(self.used_domains, (self.planner._group_count(self.service, domain), top, domain))

    def after_placement(self, domain):
        if self.used_domains is not None:
            self._offer(domain)
            return
        if domain is not None:
            self.aside.add(domain)  # it holds the service now; _restore registers it again
            return
        top = self.planner._clean_top(self.groups[domain], self.service.shape, self.service, self.stash)
        if top is not None:
            self.planner.register(self.service.shape, domain, top)


class _Planner:
    """Mutable placement state for one build_plan() call."""

    def __init__(self, services, hosts, port_range, strategy):
        self.services = services
        self.hosts = hosts
        self.port_base, self.port_max = port_range
        self.spread = strategy == SPREAD
        self.replicas = {}
        self.unplaced = {}
        self.shapes = ()
        self.heaps = {}
        self.members = {}
        self.group_heaps = {}
        self.registered = {}
        self.touched_groups = set()

    # -- capacity and ports

    def fits(self, host, shape):
        if not (host.avx2 and host.used_cpu + shape[0] <= host.cap_cpu and host.used_mem + shape[1] <= host.cap_mem):
            return False
        port = host.next_port
        if port not in host.ports_taken:
            return port <= self.port_max
        return self._lowest_free_port(host) is not None

    def _lowest_free_port(self, host):
        port = host.next_port
        taken = host.ports_taken
        while port in taken:
            port += 1
        host.next_port = port
        return port if port <= self.port_max else None

    def _keeps_port(self, host, port, pinned_port=None):
        """A current container may keep its port unless something else now holds it."""
        if port is None or not self.port_base <= port <= self.port_max:
            return False
        if port in host.foreign_ports or port in host.assigned_ports:
            return False
        return port not in host.pin_ports or port == pinned_port

    def _fits_resources(self, host, service):
        return host.avx2 and host.used_cpu + service.cpu <= host.cap_cpu and host.used_mem + service.shape[1] <= host.cap_mem

    def _occupy(self, host, replica, port):
        service = replica.service
        host.used_cpu += service.cpu
        host.used_mem += service.shape[1]
        host.counts[service.name] = host.counts.get(service.name, 0) + 1
        if host.domain is not None:
            service.domain_counts[host.domain] = service.domain_counts.get(host.domain, 0) + 1
        host.ports_taken.add(port)
        host.assigned_ports.add(port)
        host.version += 1
        replica.host = host
        replica.port = port

    def _release(self, replica):
        """Frees the capacity; the port stays taken for this plan, the old container still holds it."""
        host, service = replica.host, replica.service
        host.used_cpu -= service.cpu
        host.used_mem -= service.shape[1]
        host.counts[service.name] -= 1
        if host.domain is not None:
            service.domain_counts[host.domain] -= 1
        host.version += 1
        replica.host = None
        replica.port = None

    def _domain_count(self, service, host):
        if host.domain is None:
            return host.counts.get(service.name, 0)
        return service.domain_counts.get(host.domain, 0)

    def utilisation_key(self, host, shape):
        used = ((host.used_cpu + shape[0]) * UTILISATION_SCALE // host.cap_cpu
                + (host.used_mem + shape[1]) * UTILISATION_SCALE // host.cap_mem)
        return used if self.spread else -used

    def _new_replica(self, service, index, origin=None, origin_port=None):
        replica = _Replica(service, index)
        replica.origin = origin
        replica.origin_port = origin_port
        self.replicas[(service.name, index)] = replica
        return replica

    def _settle(self, host, replica, wanted_port, pinned_port=None, admit_any_size=False):
        """Occupies host with replica on wanted_port or the lowest free port; records why when it cannot."""
        if not admit_any_size and not self._fits_resources(host, replica.service):
            why = self._why_host_refuses(host, replica.service.shape)
            replica.reason = "%s: %s" % (host.name, REFUSAL_WORDS[why])
            return False
        port = wanted_port if self._keeps_port(host, wanted_port, pinned_port) else self._lowest_free_port(host)
        if port is None:
            replica.reason = "%s: %s" % (host.name, REFUSAL_WORDS[REASON_PORTS])
            return False
        self._occupy(host, replica, port)
        return True

    # -- phase 1: pins

    def place_pins(self, current_by_name):
        fresh_pins = []
        for host in self.hosts:
            for pin in sorted(host.pins, key=lambda item: (item["port"] is None, item["port"] or 0, item["service"])):
                if not self._pin_current(host, pin, current_by_name):
                    fresh_pins.append((host, pin))
        for host, pin in fresh_pins:
            service = self.services[pin["service"]]
            replica = self._new_replica(service, self._free_replica_index(service))
            self._settle_pinned(host, replica, pin["port"], pin["port"])

    def _pin_current(self, host, pin, current_by_name):
        service = self.services[pin["service"]]
        candidates = [entry for entry in host.current if current_by_name.get(entry["name"]) is host
                      and entry["service"] == service.name and _replica_index(entry, service) is not None
                      and (service.name, _replica_index(entry, service)) not in self.replicas]
        if not candidates:
            return False
        if pin["port"] is not None:
            candidates.sort(key=lambda entry: entry["host_port"] != pin["port"])
        entry = candidates[0]
        replica = self._new_replica(service, _replica_index(entry, service), host, entry["host_port"])
        self._settle_pinned(host, replica, pin["port"] or entry["host_port"], pin["port"])
        return True

    def _free_replica_index(self, service):
        """A pin without a container takes an idle replica number, else one that then moves to the pin.

        Stops at the first such number: the pins claimed so far and the containers running bound the walk, not
        the service's replicas."""
        claimed = set(index for name, index in self.replicas if name == service.name)
        running = set(_replica_index(entry, service) for host in self.hosts for entry in host.current
                      if entry["service"] == service.name)
        unclaimed = (index for index in range(1, service.replicas + 1) if index not in claimed)
        first_unclaimed = next(unclaimed)
        if first_unclaimed not in running:
            return first_unclaimed
        return next((index for index in unclaimed if index not in running), first_unclaimed)

    def _settle_pinned(self, host, replica, wanted_port, pinned_port):
        """A pin is the operator's explicit placement (like a Kubernetes nodeName): it bypasses the AVX2 and
        capacity checks here, and preflight admits or rejects the host against it (like the kubelet).
        Only a port that cannot be had makes a pin unplaceable."""
        replica.pinned = True
        if not self._settle(host, replica, wanted_port, pinned_port, admit_any_size=True):
            replica.reason = "pinned by speech_pinned to " + replica.reason
            self.unplaced.setdefault(replica.service.name, []).append(replica)

    # -- phase 2: keep what runs

    def keep_current(self, current_by_name):
        for host in self.hosts:
            entries = [entry for entry in host.current if current_by_name.get(entry["name"]) is host]
            for entry in sorted(entries, key=self._keep_order):
                self._keep_entry(host, entry)

    def _keep_order(self, entry):
        service = self.services.get(entry["service"])
        index = _replica_index(entry, service) if service else None
        if index is None:
            return (1, (), 0, entry["name"])
        return (0, self._placement_rank(service), index, entry["name"])

    def _keep_entry(self, host, entry):
        service = self.services.get(entry["service"])
        index = _replica_index(entry, service) if service else None
        if index is None:
            return
        claimed = self.replicas.get((service.name, index))
        if claimed is not None:
            if claimed.host is not host:
                claimed.origin, claimed.origin_port, claimed.reason = host, entry["host_port"], "pinned to another host"
            return
        replica = self._new_replica(service, index, host, entry["host_port"])
        if self._settle(host, replica, entry["host_port"]):
            replica.reason = None
        else:
            replica.reason = "no longer fits on " + replica.reason

    # -- phase 3: place what is missing

    def _placement_rank(self, service):
        return (-service.shape[1], -service.cpu, service.name)

    def missing_replicas(self):
        missing = {}
        for service in self.services.values():
            indexes = [index for index in range(1, service.replicas + 1) if not self._is_settled(service, index)]
            if indexes:
                missing[service.name] = indexes
        return missing

    def _is_settled(self, service, index):
        replica = self.replicas.get((service.name, index))
        return replica is not None and (replica.host is not None or replica.pinned)

    def place_missing(self):
        missing = self.missing_replicas()
        self._build_heaps(set(self.services[name].shape for name in missing))
        for service in sorted((self.services[name] for name in missing), key=self._placement_rank):
            replicas = [self.replicas.get((service.name, index)) or self._new_replica(service, index, None, None)
                        for index in missing[service.name]]
            self._place_service(service, replicas)

    def _build_heaps(self, shapes):
        """Per shape: one heap of hosts per fault domain, and one heap of those heaps' tops."""
        self.shapes = tuple(sorted(shapes))
        for shape in self.shapes:
            groups = {}
            members = set()
            for host in self.hosts:
                if self.fits(host, shape):
                    groups.setdefault(host.domain, []).append(self._entry(host, shape))
                    members.add(host.index)
            for heap in groups.values():
                heapq.heapify(heap)
            registered = dict((domain, heap[0] + (domain,)) for domain, heap in groups.items())
            group_heap = list(registered.values())
            heapq.heapify(group_heap)
            self.registered[shape] = registered
            self.heaps[shape] = groups
            self.group_heaps[shape] = group_heap
            self.members[shape] = members

    def _entry(self, host, shape):
        used = ((host.used_cpu + shape[0]) * UTILISATION_SCALE // host.cap_cpu
                + (host.used_mem + shape[1]) * UTILISATION_SCALE // host.cap_mem)
        return (used if self.spread else -used, host.tiebreak, host.index, host.version)

    def _push(self, host, shape):
        """A fresh entry for host, registered for its group when it beats the group's registered top."""
        entry = self._entry(host, shape)
        heapq.heappush(self.heaps[shape][host.domain], entry)
        registered = self.registered[shape].get(host.domain)
        if registered is None or entry < registered[:4]:
            self.register(shape, host.domain, entry)

    def register(self, shape, domain, entry):
        """Group heap items are (host entry..., domain) and valid only while they are the group's registered item.

        The registered item is never above the group's true top, so groups are never ranked too late.
        """
        item = entry + (domain,)
        self.registered[shape][domain] = item
        heapq.heappush(self.group_heaps[shape], item)

    def _place_service(self, service, replicas):
        stash = []
        placed = self._place_on_fresh_hosts(service, replicas, stash)
        for number, replica in enumerate(replicas[placed:]):
            host = self._least_loaded_stashed_host(service, stash)
            if host is None:
                self._mark_unplaced(service, replicas[placed + number:])
                break
            self._place(host, replica)
        self._restore(service, stash)

    def _place_on_fresh_hosts(self, service, replicas, stash):
        """Places replicas on hosts without this service, fewest in the fault domain first; returns the count.

        Fault domains that already hold the service are set aside while any other domain has room, so a
        service costs O(its replicas + domains it touches), not O(all domains).
        """
        search = _FreshHostSearch(self, service, stash)
        placed = 0
        while placed < len(replicas):
            found = search.next_in_unused_domain() or search.next_in_used_domain()
            if found is None:
                break
            self._place_on_group_top(search, found, replicas[placed])
            placed += 1
        self.touched_groups = search.aside | search.touched
        return placed

    def _place_on_group_top(self, search, found, replica):
        entry, domain = found
        heap = search.groups[domain]
        heapq.heappop(heap)
        host = self.hosts[entry[2]]
        self._place(host, replica)
        search.stash.append(host)
        search.after_placement(domain)

    def _group_count(self, service, domain):
        return 0 if domain is None else service.domain_counts.get(domain, 0)

    def _clean_top(self, heap, shape, service=None, stash=None):
        """Drops stale and full hosts, stashes hosts holding the service; returns the usable top entry."""
        members = self.members[shape]
        while heap:
            entry = heap[0]
            host = self.hosts[entry[2]]
            if entry[3] != host.version:
                heapq.heappop(heap)
                if self.spread and self.fits(host, shape):
                    # Lazy refresh (see _refresh_other_shapes): the stale key was a lower bound.
                    heapq.heappush(heap, self._entry(host, shape))
            elif not self.fits(host, shape):
                heapq.heappop(heap)
                members.discard(host.index)
            elif service is not None and host.counts.get(service.name):
                heapq.heappop(heap)
                stash.append(host)
            else:
                return entry
        return None

    def _least_loaded_stashed_host(self, service, stash):
        """Every fitting host holds the service already: the full lexicographic score over the stash."""
        shape = service.shape
        best_score, best_host = None, None
        for host in stash:
            if not self.fits(host, shape):
                continue
            score = (host.counts.get(service.name, 0), self._domain_count(service, host),
                     self.utilisation_key(host, shape), host.tiebreak, host.index)
            if best_score is None or score < best_score:
                best_score, best_host = score, host
        return best_host

    def _place(self, host, replica):
        port = self._lowest_free_port(host)
        self._occupy(host, replica, port)
        self._refresh_other_shapes(host, replica.service.shape)

    def _refresh_other_shapes(self, host, own_shape):
        """Binpack only: a placement lowers the host's key in every other shape, so it gets a fresh entry now.

        Under spread the key only rises, so the stale entry is a valid lower bound and _clean_top
        refreshes it when it reaches the top.
        """
        if self.spread:
            return
        for shape in self.shapes:
            if shape == own_shape or host.index not in self.members[shape]:
                continue
            if self.fits(host, shape):
                self._push(host, shape)
            else:
                self.members[shape].discard(host.index)

    def _restore(self, service, stash):
        """Returns stashed hosts to the service's shape heaps and re-registers the groups it touched."""
        shape = service.shape
        seen = set()
        for host in stash:
            if host.index in seen:
                continue
            seen.add(host.index)
            if self.fits(host, shape):
                self._push(host, shape)
            else:
                self.members[shape].discard(host.index)
        groups = self.heaps[shape]
        for domain in sorted(self.touched_groups, key=str):
            top = self._clean_top(groups[domain], shape)
            if top is not None:
                self.register(shape, domain, top)
        self.touched_groups = set()

    def _mark_unplaced(self, service, replicas):
        reason = self._why_nothing_fits(service)
        for replica in replicas:
            replica.reason = replica.reason and "%s; %s" % (replica.reason, reason) or reason
        self.unplaced.setdefault(service.name, []).extend(replicas)

    # -- why a replica does not fit

    def _why_host_refuses(self, host, shape):
        if not host.avx2:
            return REASON_NO_AVX2
        if host.used_mem + shape[1] > host.cap_mem:
            return REASON_MEMORY
        if host.used_cpu + shape[0] > host.cap_cpu:
            return REASON_CPUS
        if self._lowest_free_port(host) is None:
            return REASON_PORTS
        return None

    def _why_nothing_fits(self, service):
        if not self.hosts:
            return "speech_hosts has no hosts"
        refusals = {}
        for host in self.hosts:
            reason = self._why_host_refuses(host, service.shape)
            refusals.setdefault(reason, []).append(host)
        return "; ".join(self._refusal_text(reason, hosts, service) for reason, hosts in
                         sorted(refusals.items(), key=lambda item: (-len(item[1]), str(item[0]))) if reason is not None)

    def _refusal_text(self, reason, hosts, service):
        share = "every host" if len(hosts) == len(self.hosts) else "%d of %d hosts" % (len(hosts), len(self.hosts))
        if reason == REASON_NO_AVX2:
            if len(hosts) == len(self.hosts):
                return "no host has AVX2 (the Speech containers require it)"
            return "no AVX2 on %s" % share
        if reason == REASON_MEMORY:
            largest = max(host.cap_mem - host.used_mem for host in hosts)
            return "too little memory on %s (needs %s, largest free %d MB)" % (share, _memory_needs(service), largest)
        if reason == REASON_CPUS:
            largest = max(host.cap_cpu - host.used_cpu for host in hosts)
            return "too few free cpus on %s (needs %s, largest free %s)" % (share, _cpus(service.cpu), _cpus(largest))
        return "port range %d-%d exhausted on %s (widen speech_port_max)" % (self.port_base, self.port_max, share)

    # -- phase 4: explicit rebalance

    def rebalance(self, max_moves):
        for _move in range(max_moves):
            move = self._best_improving_move()
            if move is None:
                return
            replica, destination = move
            self._release(replica)
            self._place(destination, replica)
            replica.reason = "rebalance"

    def _source_score(self, replica):
        host, service = replica.host, replica.service
        own = host.counts[service.name] - 1
        domain = own if host.domain is None else service.domain_counts[host.domain] - 1
        used = host.used_cpu * UTILISATION_SCALE // host.cap_cpu + host.used_mem * UTILISATION_SCALE // host.cap_mem
        return (own, domain, used if self.spread else -used)

    def _best_improving_move(self):
        """The worst-placed replica that has a strictly better host.

        Replicas are tried worst first; once the worst replica of a service (at a stacking level) has no
        better host, its better-placed siblings are skipped, and after REBALANCE_CANDIDATES_PER_MOVE such
        dead ends the search stops, which bounds a move to O(candidates x hosts).
        """
        scored = [(self._source_score(replica), replica.service.name, -replica.index, replica)
                  for replica in self.replicas.values() if replica.host is not None and not replica.pinned]
        scored.sort(key=lambda item: item[:3], reverse=True)
        hopeless = set()
        for source_score, service_name, _index, replica in scored:
            situation = (service_name, source_score[0])
            if situation in hopeless:
                continue
            destination = self._best_destination(replica, source_score)
            if destination is not None:
                return replica, destination
            hopeless.add(situation)
            if len(hopeless) >= REBALANCE_CANDIDATES_PER_MOVE:
                return None
        return None

    def _best_destination(self, replica, source_score):
        service, source = replica.service, replica.host
        best_score, best_host = source_score, None
        for host in self.hosts:
            if host is source or not self.fits(host, service.shape):
                continue
            same_domain = host.domain is not None and host.domain == source.domain
            score = (host.counts.get(service.name, 0), self._domain_count(service, host) - (1 if same_domain else 0),
                     self.utilisation_key(host, service.shape))
            if score < best_score or (best_host is not None and score == best_score and host.tiebreak < best_host.tiebreak):
                best_score, best_host = score, host
        return best_host


def _cpus(milli):
    return "%g" % (milli / MILLI)


def _memory_needs(service):
    """A replica's memory in words: its --memory, and the speech model memory its host keeps beside it."""
    if not service.host_model_mb:
        return "%d MB" % service.memory
    return "%d MB: --memory %d MB + speech model memory %d MB" % (service.shape[1], service.memory, service.host_model_mb)


def _index_current(hosts):
    """Container name -> the first host (by name) that runs it; later duplicates get removed."""
    current_by_name = {}
    for host in hosts:
        for entry in host.current:
            current_by_name.setdefault(entry["name"], host)
    return current_by_name
