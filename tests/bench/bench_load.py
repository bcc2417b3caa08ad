# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Load benchmark: the real Speech SDK (and REST) in closed loops against a running fleet's load balancers.

For each service of the endpoints catalog (default: .sandbox/artifacts/speech-endpoints.json, written by
`make demo`) and each workload kind of its service kind (TTS: tts_rest and tts_sdk; STT: stt_once and
stt_continuous; LID: lid), it runs clients = max(1, round(level x capacity)) closed-loop clients
(tests/loadgen/sdk_load.py) for --seconds at each level (0.5, 1, 2, 4 by default). capacity = the catalog's
`capacity`, else replicas x `concurrency`, else replicas x 2 (LID: x 4), said in the output. The
--long-level (1x) runs --long-seconds (150 s: two of the demo emulator's 60 s billing reports). Between levels it
waits until the load balancer shows every server of the service UP with no session left (HAProxy's runtime API in
the sandbox's LB container), or --settle seconds.

Prints one line per (workload, level):
  load service=tts-aria kind=tts_rest level=2.0 clients=8 requests=R failed=F lb_503=N p50_ms=.. p99_ms=.. rps=..
then a Markdown table; --json FILE keeps every report. Exit code 1 when a level up to 2x had a failed request or
a level above 2x had a failure that was not the load balancer's fast 503 (lb_503).

Audio for STT and LID is synthesized once through the catalog's TTS service (its voice from speech-plan.json).
Talks only to the URLs of the catalog (the project's own containers) and, through `docker exec`, to the LB's
admin socket. Usage:
  python tests/bench/bench_load.py [--endpoints FILE] [--services a,b] [--kinds tts_rest,lid] [--levels 0.5,1,2,4]
                                   [--seconds 60] [--long-level 1.0] [--long-seconds 150] [--json FILE]
  python tests/bench/bench_load.py --levels 1 --seconds 300      # 1x for five minutes
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tests" / "loadgen"))
sys.path.insert(0, str(PROJECT / "collections"))

from sdk_load import SdkLoad, Workload, synthesize_wav  # noqa: E402

DEFAULT_ENDPOINTS = PROJECT / ".sandbox" / "artifacts" / "speech-endpoints.json"
KINDS_OF = {
    "neural-text-to-speech": ("tts_rest", "tts_sdk"), "text-to-speech": ("tts_rest", "tts_sdk"),
    "custom-text-to-speech": ("tts_rest", "tts_sdk"),
    "speech-to-text": ("stt_once", "stt_continuous"), "custom-speech-to-text": ("stt_once", "stt_continuous"),
    "language-detection": ("lid",),
}
TTS_KINDS = ("neural-text-to-speech", "text-to-speech", "custom-text-to-speech")
FALLBACK_CONCURRENCY = {"language-detection": 4}  # others: 2
WEATHER = "What's the weather like?"
LIGHTS = "Turn on the lights in the kitchen."
CUSTOM_PHRASE = "Contoso support, how can I help you?"  # the billing stub's custom model (tests/sandbox/sdk_roundtrip.py)
MIN_SECONDS = 60
LB_SOCKET = "/run/haproxy/admin.sock"
SHOW_STAT = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'show stat\\n'); "
             "d=b''\nwhile True:\n c=s.recv(65536)\n if not c: break\n d+=c\nsys.stdout.write(d.decode())")


def capacity_of(service):
    """(capacity, how it was found) of an endpoints catalog entry."""
    if service.get("capacity"):
        return int(service["capacity"]), "catalog"
    replicas = int(service.get("replicas") or len(service.get("backends", [])) or 1)
    if service.get("concurrency"):
        return replicas * int(service["concurrency"]), "replicas x concurrency"
    per_container = FALLBACK_CONCURRENCY.get(service["kind"], 2)
    return replicas * per_container, "fallback: replicas x %d" % per_container


def clients_for(level, capacity):
    return max(1, int(round(level * capacity)))


def verdict(level, entry, from_containers=None, marked_down=None):
    """Why this run fails the benchmark, or None. from_containers: 5xx the containers gave (the LB's counters);
    the SDK reports any 503 on its WebSocket upgrade alike, so only those tell a container's 503 from the LB's.
    marked_down: how often a health check took a server out (UP to DOWN) during the run; at any level a fault."""
    failed = entry["failed"]
    if marked_down:
        return "a server was marked DOWN %d time(s) under load at %.1fx (health checks failed)" % (marked_down, level)
    if level <= 2.0 and failed:
        return "%d failed request(s) at %.1fx: %s" % (failed, level, entry["failed_by_reason"])
    others = {reason: count for reason, count in entry["failed_by_reason"].items() if reason != "lb_503"}
    if level > 2.0 and others:
        return "failures other than lb_503 at %.1fx: %s" % (level, others)
    if level > 2.0 and from_containers:
        return "%d 5xx came from the containers, not from the LB, at %.1fx" % (from_containers, level)
    return None


def line(row):
    entry = row["report"]
    return ("load service=%s kind=%s level=%.1f clients=%d requests=%d failed=%d lb_503=%d p50_ms=%s p99_ms=%s rps=%s"
            % (row["service"], row["kind"], row["level"], row["clients"], entry["ok"] + entry["failed"], entry["failed"],
               entry["failed_by_reason"].get("lb_503", 0), _num(entry["p50_ms"]), _num(entry["p99_ms"]), _num(entry["rps"])))


def _num(value):
    return "-" if value is None else ("%.1f" % value)


def markdown(rows):
    lines = ["| Service | Kind | Level | Clients | Seconds | Requests | Failed | lb_503 | Other failures "
             "| 5xx by containers | marked DOWN | p50 ms | p99 ms | max ms | req/s |", "|---" * 15 + "|"]
    for row in rows:
        entry = row["report"]
        others = ", ".join("%s %d" % item for item in entry["failed_by_reason"].items() if item[0] != "lb_503") or "-"
        lines.append("| %s | %s | %.1fx | %d | %.0f | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            row["service"], row["kind"], row["level"], row["clients"], entry["seconds"], entry["ok"] + entry["failed"],
            entry["failed"], entry["failed_by_reason"].get("lb_503", 0), others,
            "-" if row.get("container_5xx") is None else row["container_5xx"],
            "-" if row.get("marked_down") is None else row["marked_down"], _num(entry["p50_ms"]),
            _num(entry["p99_ms"]), _num(entry["max_ms"]), _num(entry["rps"])))
    return "\n".join(lines)


# ----- the fleet ----------------------------------------------------------------------------------------------

def voice_of(plan, name):
    from ansible_collections.speechops.speech.plugins.module_utils.image_ref import parse_image_reference  # noqa: E402
    return parse_image_reference(plan["services"][name]["image"])["ssml_voice"]


def make_audio(catalog, services, plan, folder, patience=60.0):
    """{service name: (wav for once/lid, wav for continuous, expected text)}, synthesized by the catalog's first TTS
    service (retried for `patience` seconds: a container may refuse queries for a while)."""
    tts = sorted(name for name, service in catalog.items() if service["kind"] in TTS_KINDS and service.get("url"))
    if not tts:
        return None
    url = catalog[tts[0]]["url"]
    voice = voice_of(plan, tts[0]) if plan else "en-US-AriaNeural"
    made = {}

    def wav(texts, file_name):
        deadline = time.monotonic() + patience
        while file_name not in made:
            try:
                made[file_name] = synthesize_wav(url, voice, texts, folder / file_name)
            except (OSError, RuntimeError) as error:
                if time.monotonic() > deadline:
                    raise
                print("#   audio: %s; again in 5 s" % error, flush=True)
                time.sleep(5)
        return made[file_name]

    audio = {}
    for name, service in services.items():
        if service["kind"] == "custom-speech-to-text":
            audio[name] = (wav(CUSTOM_PHRASE, "custom.wav"), wav([CUSTOM_PHRASE, CUSTOM_PHRASE], "custom2.wav"),
                           CUSTOM_PHRASE)
        elif service["kind"] == "speech-to-text":
            audio[name] = (wav(WEATHER, "weather.wav"), wav([WEATHER, LIGHTS], "two.wav"), WEATHER)
        elif service["kind"] == "language-detection":
            audio[name] = (wav(WEATHER, "weather.wav"), None, voice[:5])
    return audio


def workload(name, service, kind, clients, audio, voice):
    if kind.startswith("tts"):
        return Workload(name, kind=kind, url=service["url"], clients=clients, voice=voice)
    once, continuous, expect = audio[name]
    if kind == "stt_continuous":
        return Workload(name, kind=kind, url=service["url"], clients=clients, audio=continuous,
                        expect=LIGHTS if expect == WEATHER else expect)
    return Workload(name, kind=kind, url=service["url"], clients=clients, audio=once, expect=expect)


def lb_container(url, explicit=None):
    """The name of the sandbox LB container whose address is the URL's host (None when not found)."""
    if explicit:
        return explicit
    host = urllib.parse.urlsplit(url).hostname
    listed = subprocess.run(["docker", "ps", "--filter", "label=speechops.sandbox.role=speech_lb", "--format", "{{.Names}}"],
                            capture_output=True, text=True, check=False)
    for name in listed.stdout.split():
        addresses = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                                    name], capture_output=True, text=True, check=False).stdout.split()
        if host in addresses:
            return name
    return None


def lb_stats(container, backend, socket_path=LB_SOCKET):
    """{backend/server: row of HAProxy's `show stat`} of a service's servers (its backend, and for text to speech its
    WebSocket backend <service>_ws), from its runtime API; None when unreadable."""
    if not container:
        return None
    shown = subprocess.run(["docker", "exec", container, "python3", "-c", SHOW_STAT, socket_path],
                           capture_output=True, text=True, check=False, timeout=20)
    if shown.returncode != 0:
        return None
    rows = csv.DictReader(io.StringIO(shown.stdout.lstrip("# ")))
    return {"%s/%s" % (row["pxname"], row["svname"]): row for row in rows
            if row["pxname"] in (backend, backend + "_ws") and row["svname"] not in ("FRONTEND", "BACKEND")}


def _counter_delta(before, after, column, websocket_backend=True):
    """Sum over servers of how much a `show stat` counter grew between two lb_stats; None when either is missing."""
    if before is None or after is None:
        return None
    return sum(int(row[column] or 0) - int(before.get(name, {}).get(column) or 0) for name, row in after.items()
               if websocket_backend or not name.split("/")[0].endswith("_ws"))


def marked_down(before, after):
    """Times a server went from UP to DOWN on failed health checks (HAProxy's chkdown). A _ws server tracks its
    twin and repeats its transitions, so only the service's own backend counts."""
    return _counter_delta(before, after, "chkdown", websocket_backend=False)


def container_5xx(before, after):
    """5xx answers the containers themselves gave (the LB's own 503s are not counted)."""
    return _counter_delta(before, after, "hrsp_5xx")


def settle(container, backend, timeout):
    """Waits until every server of the backend is UP with no session; returns how it ended, for the output."""
    deadline = time.monotonic() + timeout
    servers = None
    while time.monotonic() < deadline:
        stats = lb_stats(container, backend)
        if stats is None:
            time.sleep(min(5.0, timeout))
            return "slept %.0f s (no LB runtime API)" % min(5.0, timeout)
        servers = {name: (row["status"], int(row["scur"] or 0), int(row["qcur"] or 0)) for name, row in stats.items()}
        if servers and all(status.startswith("UP") and not sessions and not queued
                           for status, sessions, queued in servers.values()):
            return "every server UP, no session"
        time.sleep(1.0)
    return "not settled after %.0f s: %s" % (timeout, servers)


# ----- main ---------------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=Path, default=DEFAULT_ENDPOINTS, help="speech-endpoints.json of a fleet")
    parser.add_argument("--services", help="comma-separated service names (default: every one with a URL)")
    parser.add_argument("--kinds", help="comma-separated workload kinds (default: every kind of each service)")
    parser.add_argument("--levels", default="0.5,1,2,4", help="multiples of each service's capacity")
    parser.add_argument("--seconds", type=float, default=60.0, help="per level (at least %d)" % MIN_SECONDS)
    parser.add_argument("--long-level", type=float, default=1.0, help="the level that runs --long-seconds")
    parser.add_argument("--long-seconds", type=float, default=150.0, help="two billing reports of the demo (60 s each)")
    parser.add_argument("--settle", type=float, default=60.0, help="at most this long between levels for the LB to settle")
    parser.add_argument("--lb-container", help="the LB container for the runtime API (default: found by the URL's address)")
    parser.add_argument("--json", type=Path, help="write every run's report here")
    parser.add_argument("--allow-short", action="store_true",
                        help="allow --seconds under %d (trying the bench itself)" % MIN_SECONDS)
    args = parser.parse_args(argv)
    if args.seconds < MIN_SECONDS and not args.allow_short:
        parser.error("--seconds must be at least %d (a level must be long enough to mean something)" % MIN_SECONDS)
    args.levels = [float(level) for level in args.levels.split(",")]
    return args


def main(argv=None):
    args = parse_args(argv)
    catalog = json.loads(args.endpoints.read_text())["services"]
    plan_file = args.endpoints.with_name("speech-plan.json")
    plan = json.loads(plan_file.read_text()) if plan_file.exists() else None
    wanted = set(args.services.split(",")) if args.services else None
    kinds = set(args.kinds.split(",")) if args.kinds else None
    services = {name: service for name, service in sorted(catalog.items())
                if service.get("url") and service["kind"] in KINDS_OF and (wanted is None or name in wanted)}
    if wanted and wanted - set(services):
        sys.exit("no load-balanced service named %s in %s" % (", ".join(sorted(wanted - set(services))), args.endpoints))
    rows, problems = [], []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        needs_audio = any(service["kind"] not in TTS_KINDS for service in services.values())
        audio = make_audio(catalog, services, plan, Path(folder)) if needs_audio else {}
        if needs_audio and audio is None:
            sys.exit("STT and LID need audio: the catalog has no load-balanced TTS service to synthesize it")
        for name, service in services.items():
            capacity, source = capacity_of(service)
            has_voice = plan and service["kind"] in TTS_KINDS and service["kind"] != "custom-text-to-speech"
            voice = voice_of(plan, name) if has_voice else "en-US-AriaNeural"
            container = lb_container(service["url"], args.lb_container)
            print("# %s (%s): capacity %d (%s), LB %s" % (name, service["kind"], capacity, source, service["url"]),
                  flush=True)
            for kind in KINDS_OF[service["kind"]]:
                if kinds is not None and kind not in kinds:
                    continue
                for level in args.levels:
                    print("#   settle: %s" % settle(container, name, args.settle), flush=True)
                    clients = clients_for(level, capacity)
                    seconds = max(args.seconds, args.long_seconds) if level == args.long_level else args.seconds
                    before = lb_stats(container, name)
                    load = SdkLoad([workload(name, service, kind, clients, audio, voice)]).start()
                    time.sleep(seconds)
                    report = load.stop()
                    after = lb_stats(container, name)
                    entry = report["workloads"][name]
                    row = {"service": name, "kind": kind, "level": level, "clients": clients, "capacity": capacity,
                           "capacity_source": source, "report": entry, "failures": report["failures"][:20],
                           "stuck_clients": report["stuck_clients"],
                           "container_5xx": container_5xx(before, after), "marked_down": marked_down(before, after)}
                    rows.append(row)
                    print(line(row), flush=True)
                    if args.json:  # after every run: a crash keeps what was measured
                        args.json.write_text(json.dumps({"rows": rows, "problems": problems}, indent=2) + "\n")
                    if row["container_5xx"]:
                        print("#   the containers answered %d 5xx themselves (in the LB's counters)" % row["container_5xx"],
                              flush=True)
                    problem = verdict(level, entry, row["container_5xx"], row["marked_down"])
                    if problem:
                        problems.append("%s %s: %s" % (name, kind, problem))
                        print("#   %s; first: %s" % (problem, report["failures"][:1]), flush=True)
    print()
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "problems": problems}, indent=2) + "\n")
    for problem in problems:
        print("FAIL %s" % problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
