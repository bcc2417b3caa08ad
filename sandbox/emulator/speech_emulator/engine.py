"""Engine slots: how many queries a container works on at once; the rest wait for a free slot.

What the contract says per kind (the sources are named in the README):
- speech-to-text, custom-speech-to-text: DECODER_MAX_COUNT decoders (Microsoft's Helm chart
  cognitive-services-speech-onpremise sets it from numberOfConcurrentRequest, default 2; the Speech
  containers FAQ recommends no more than two concurrent recognitions per container).
- language-detection: 4 concurrent calls with 1 CPU / 1 GB, 6 with 2 CPU / 2 GB (Microsoft Learn,
  "Language identification container").
- text-to-speech kinds: the Helm chart's numberOfConcurrentRequest default, 2.
Emulator:EngineSlots overrides the number for every kind.
"""
import asyncio
import logging
import os

from .settings import SettingsError

log = logging.getLogger("speech_emulator.engine")

DEFAULT_SLOTS = 2
LID_SLOTS_SMALL, LID_SLOTS_LARGE = 4, 6
GIB = 1024 ** 3


class SlotTimeout(Exception):
    """No slot became free within the wait bound."""


def _read(path):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _cgroup_dirs(root, proc_cgroup):
    """The process's cgroup folders (v2 unified path, v1 cpu and memory paths), own folder first, then parents."""
    folders = []
    for line in (_read(proc_cgroup) or "").splitlines():
        _hierarchy, controllers, path = line.split(":", 2)
        bases = [root] if controllers == "" else [os.path.join(root, c) for c in controllers.split(",")]
        parts = [p for p in path.split("/") if p]
        for base in bases:
            for depth in range(len(parts), -1, -1):
                folders.append(os.path.join(base, *parts[:depth]))
    return folders


def container_limits(root="/sys/fs/cgroup", proc_cgroup="/proc/self/cgroup", meminfo="/proc/meminfo", cpus=None):
    """(CPUs, memory bytes) this process may use: the smallest cgroup limit (v1 or v2) on its path, else the
    machine's CPUs and memory. What `docker run --cpus/--memory` sets is what a container sees here."""
    cpu_limit = float(cpus if cpus is not None else len(os.sched_getaffinity(0)))
    total = next((int(line.split()[1]) * 1024 for line in (_read(meminfo) or "").splitlines()
                  if line.startswith("MemTotal:")), None)
    memory_limit = total if total is not None else float("inf")
    for folder in _cgroup_dirs(root, proc_cgroup) + [root]:
        quota = (_read(os.path.join(folder, "cpu.max")) or "").split()
        if len(quota) == 2 and quota[0] != "max":
            cpu_limit = min(cpu_limit, int(quota[0]) / int(quota[1]))
        v1_quota, v1_period = _read(os.path.join(folder, "cpu.cfs_quota_us")), _read(os.path.join(folder, "cpu.cfs_period_us"))
        if v1_quota and v1_period and int(v1_quota) > 0:
            cpu_limit = min(cpu_limit, int(v1_quota) / int(v1_period))
        for name in ("memory.max", "memory.limit_in_bytes"):
            value = _read(os.path.join(folder, name))
            if value and value.isdigit():
                memory_limit = min(memory_limit, int(value))
    return cpu_limit, memory_limit


def slots_for(kind, settings, limits=container_limits):
    """The number of engine slots of a container of `kind` (a catalog.Kind)."""
    override = settings.number("Emulator:EngineSlots", 0)
    if override:
        return _positive(override, "Emulator:EngineSlots")
    if kind.mode == "recognition":
        return _positive(settings.number("DECODER_MAX_COUNT", DEFAULT_SLOTS), "DECODER_MAX_COUNT")
    if kind.mode == "language":
        cpus, memory = limits()
        return LID_SLOTS_LARGE if cpus >= 2 and memory >= 2 * GIB else LID_SLOTS_SMALL
    return DEFAULT_SLOTS


def _positive(value, name):
    if value < 1 or value != int(value):
        raise SettingsError(f"The setting {name} must be a whole number of at least 1, got {value:g}.")
    return int(value)


class EngineSlots:
    """A counting semaphore over the container's slots that also counts, with their peaks, the queries in the
    container (arrived and not answered yet: running or waiting for a slot) and the open WebSocket connections.
    `async with slots:` is one query from arrival to answer; recognition turns call arrive/acquire/release/leave."""

    def __init__(self, slots):
        self.slots = slots
        self._free = asyncio.Semaphore(slots)
        self.active = self.waiting = self.in_flight = self.connections = 0
        self.peak_active = self.peak_in_flight = self.peak_connections = 0
        self.served = self.timed_out = 0

    def arrive(self):
        self.in_flight += 1
        self._note_peaks()

    def leave(self):
        self.in_flight -= 1

    def connected(self):
        self.connections += 1
        self._note_peaks()

    def disconnected(self):
        self.connections -= 1

    async def acquire(self, timeout=None):
        """Take a slot; SlotTimeout when none is free within `timeout` seconds (None: wait as long as it takes)."""
        self.waiting += 1
        try:
            async with asyncio.timeout(timeout):
                await self._free.acquire()
        except TimeoutError:
            self.timed_out += 1
            raise SlotTimeout() from None
        finally:
            self.waiting -= 1
        self.active += 1
        self.served += 1
        self._note_peaks()

    def release(self):
        self.active -= 1
        self._free.release()

    async def __aenter__(self):
        self.arrive()
        try:
            await self.acquire()
        except BaseException:
            self.leave()
            raise
        return self

    async def __aexit__(self, *exc_info):
        self.release()
        self.leave()

    def _note_peaks(self):
        if (self.active > self.peak_active or self.in_flight > self.peak_in_flight
                or self.connections > self.peak_connections):
            self.peak_active = max(self.peak_active, self.active)
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self.peak_connections = max(self.peak_connections, self.connections)
            log.info("Engine: peak concurrency %d of %d slots, %d queries in flight, %d WebSocket connections at most.",
                     self.peak_active, self.slots, self.peak_in_flight, self.peak_connections)

    def stats(self):
        return {"slots": self.slots, "active": self.active, "waiting": self.waiting, "inFlight": self.in_flight,
                "connections": self.connections, "peakActive": self.peak_active, "peakInFlight": self.peak_in_flight,
                "peakConnections": self.peak_connections, "served": self.served, "timedOut": self.timed_out}

    def reset_peaks(self):
        self.peak_active, self.peak_in_flight, self.peak_connections = self.active, self.in_flight, self.connections
