"""Pure parts of the load model: engine slots per kind, cgroup limits, the slot semaphore, usage aggregation."""
import asyncio
import json

import pytest

from speech_emulator import billing_client, catalog, engine
from speech_emulator.settings import Settings, SettingsError

GIB = 1024 ** 3


def settings(*words, **environ):
    return Settings.from_sources(list(words), environ)


@pytest.mark.parametrize("kind, words, environ, slots", [
    ("speech-to-text", (), {}, 2),
    ("custom-speech-to-text", (), {"DECODER_MAX_COUNT": "3"}, 3),
    ("speech-to-text", ("DECODER_MAX_COUNT=5",), {}, 5),
    ("speech-to-text", ("Emulator:EngineSlots=4",), {"DECODER_MAX_COUNT": "3"}, 4),
    ("neural-text-to-speech", (), {"DECODER_MAX_COUNT": "7"}, 2),
    ("text-to-speech", ("Emulator:EngineSlots=3",), {}, 3),
    ("custom-text-to-speech", (), {}, 2),
])
def test_slots_per_kind(kind, words, environ, slots):
    assert engine.slots_for(catalog.KINDS[kind], settings(*words, **environ)) == slots


@pytest.mark.parametrize("limits, slots", [((1, GIB), 4), ((2, 2 * GIB), 6), ((2, GIB), 4), ((1.5, 8 * GIB), 4),
                                           ((16, 64 * GIB), 6)])
def test_language_detection_slots_follow_cpu_and_memory(limits, slots):
    assert engine.slots_for(catalog.KINDS["language-detection"], settings(), limits=lambda: limits) == slots


@pytest.mark.parametrize("value", ["0.5", "-1", "two"])
def test_slot_settings_must_be_whole_positive_numbers(value):
    with pytest.raises(SettingsError):
        engine.slots_for(catalog.KINDS["speech-to-text"], settings(f"DECODER_MAX_COUNT={value}"))


def _tree(tmp_path, files, proc_cgroup):
    for name, text in files.items():
        path = tmp_path / "cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    (tmp_path / "self-cgroup").write_text(proc_cgroup)
    (tmp_path / "meminfo").write_text("MemTotal:       16384000 kB\nMemFree:        1000 kB\n")
    return dict(root=str(tmp_path / "cgroup"), proc_cgroup=str(tmp_path / "self-cgroup"),
                meminfo=str(tmp_path / "meminfo"), cpus=8)


def test_container_limits_read_cgroup_v2_as_docker_sets_them(tmp_path):
    # docker run --cpus 2 --memory 2g, private cgroup namespace: the container's own folder is the root.
    paths = _tree(tmp_path, {"cpu.max": "200000 100000", "memory.max": str(2 * GIB)}, "0::/\n")
    assert engine.container_limits(**paths) == (2.0, 2 * GIB)


def test_container_limits_take_the_smallest_limit_on_the_path_and_v1_files(tmp_path):
    paths = _tree(tmp_path, {"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000",
                             "memory/docker/abc/memory.limit_in_bytes": str(GIB),
                             "memory/docker/memory.limit_in_bytes": str(4 * GIB)},
                  "4:memory:/docker/abc\n2:cpu,cpuacct:/\n")
    assert engine.container_limits(**paths) == (0.5, GIB)


def test_without_limits_the_machine_counts(tmp_path):
    paths = _tree(tmp_path, {"cpu.max": "max 100000", "memory.max": "max"}, "0::/\n")
    assert engine.container_limits(**paths) == (8.0, 16384000 * 1024)


def test_at_most_slots_queries_run_and_the_rest_wait_in_turn():
    async def scenario():
        slots, running, most, order = engine.EngineSlots(2), [0], [0], []

        async def query(number):
            async with slots:
                running[0] += 1
                most[0] = max(most[0], running[0])
                order.append(number)
                await asyncio.sleep(0.05)
                running[0] -= 1

        await asyncio.gather(*(query(n) for n in range(6)))
        return slots.stats(), most[0], order

    stats, most, order = asyncio.run(scenario())
    assert most == 2 and order == [0, 1, 2, 3, 4, 5]
    assert stats == {"slots": 2, "active": 0, "waiting": 0, "inFlight": 0, "connections": 0, "peakActive": 2,
                     "peakInFlight": 6, "peakConnections": 0, "served": 6, "timedOut": 0}


def test_a_wait_past_its_bound_fails_and_frees_nothing_it_did_not_take():
    async def scenario():
        slots = engine.EngineSlots(1)
        await slots.acquire()
        with pytest.raises(engine.SlotTimeout):
            await slots.acquire(timeout=0.05)
        slots.release()
        await slots.acquire(timeout=0.05)  # the slot the holder gave back, not a second one
        with pytest.raises(engine.SlotTimeout):
            await slots.acquire(timeout=0.05)
        return slots.stats()

    stats = asyncio.run(scenario())
    assert (stats["active"], stats["waiting"], stats["served"], stats["timedOut"]) == (1, 0, 2, 2)


def test_usage_is_one_record_per_meter_however_many_queries():
    client = billing_client.BillingClient("http://billing.test/", "k", "neural-text-to-speech", "4.1.0", "c1",
                                          interval=60, retries=10)
    for _record in range(50_000):
        client.record("Characters", 24)
    client.record("AudioSeconds", 1.25)
    client.record("AudioSeconds", 0.5)
    records = client.records(client.usage)
    assert [r["meter"] for r in records] == [{"name": "AudioSeconds", "quantity": 1.75, "count": 2},
                                             {"name": "Characters", "quantity": 1_200_000, "count": 50_000}]
    assert set(records[0]) == {"id", "containerType", "containerVersion", "containerId", "meter", "requestTime",
                               "apiType"}
    assert records[0]["requestTime"].endswith("Z") and records[0]["id"] != records[1]["id"]
    assert len(json.dumps({"records": records})) < 1000


def test_usage_of_a_failed_report_merges_into_the_next():
    earlier, later = billing_client.Usage(), billing_client.Usage()
    earlier.add("Characters", 10)
    earlier.since = "2026-01-01T00:00:00Z"
    later.add("Characters", 5)
    later.add("AudioSeconds", 2.5)
    later.merge(earlier)
    assert later.meters == {"Characters": [15, 2], "AudioSeconds": [2.5, 1]}
    assert later.since == "2026-01-01T00:00:00Z"
    assert later.describe() == "AudioSeconds 2.5 in 1 queries, Characters 15 in 2 queries"
