# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cost model of docs/performance.md: fitted to a fleet benchmark's log, it predicts a no-op, a rollout and a key
rotation on larger fleets for a given controller.

From bench_fleet.py's output it takes, for each run of ours, the wall time and the controller's CPU at each size, and
fits both as `a + b * hosts` (least squares). The controller's CPU per host, b_cpu, is split into Ansible's main
process (one thread; its share `--main-share` of the controller's CPU, measured with main_process_cpu.py) and its
workers (the rest, spread over min(cores, forks)). On a fleet of separate hosts the hosts'
own work runs on them, in waves of `forks` hosts, each wave as long as the path's remote calls (`--calls` per host,
`--latency` seconds each) plus, for a rollout, each batch's health gate.

  predicted(hosts) = fixed + hosts * max(main, workers / min(cores, forks)) + waves * calls * latency + batches * gate

Usage: python tests/bench/cost_model.py BENCH_LOG [--cores 16] [--forks 50] [--latency 0.25] [--main-share 0.2]
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

LINE = re.compile(r"bench: hosts=(\d+) ours (converge|no-op 1|no-op 2|rollout|rotation) ([\d.]+) s \(controller CPU ([\d.]+) s\)")
# per path: module calls per speech host in sequence (no-op: host_facts and probe; a host whose containers are
# replaced: facts, compare, drain, stop, rename, run, gate, enable, clean up), and rollout batches (serial [1, 100%])
PATHS = {"noop": {"calls": 2, "batches": 0}, "rollout": {"calls": 10, "batches": 2}, "rotation": {"calls": 10, "batches": 2}}
SIZES = (100, 500, 2000)


def measurements(text):
    """{run: {hosts: (wall, cpu)}}, the best no-op of each size."""
    runs = {}
    for hosts, run, wall, cpu in LINE.findall(text):
        run = "noop" if run.startswith("no-op") else run
        seen = runs.setdefault(run, {}).get(int(hosts))
        if seen is None or float(wall) < seen[0]:
            runs[run][int(hosts)] = (float(wall), float(cpu))
    return runs


def fit(points):
    """(a, b) of a + b * x through [(x, y)] by least squares."""
    count = len(points)
    mean_x = sum(point[0] for point in points) / count
    mean_y = sum(point[1] for point in points) / count
    spread = sum((point[0] - mean_x) ** 2 for point in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return mean_y - slope * mean_x, slope


def predict(run, by_size, hosts, args):
    wall_fixed, wall_per_host = fit([(size, measured[0]) for size, measured in by_size.items()])
    cpu_per_host = fit([(size, measured[1]) for size, measured in by_size.items()])[1]
    path = PATHS[run]
    main = cpu_per_host * args.main_share
    workers = cpu_per_host - main
    parallel = min(args.cores, args.forks)
    waves = math.ceil(hosts / args.forks)
    gate = args.gate if path["batches"] else 0.0
    seconds = (wall_fixed + hosts * max(main, workers / parallel) + waves * path["calls"] * args.latency
               + path["batches"] * gate * waves)
    return seconds, {"fixed_s": wall_fixed, "bench_s_per_host": wall_per_host, "cpu_s_per_host": cpu_per_host,
                     "main_s_per_host": main, "workers_s_per_host": workers}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path)
    parser.add_argument("--cores", type=int, default=16, help="the controller's cores")
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per module call over SSH (pipelined)")
    parser.add_argument("--main-share", type=float, default=0.2, help="the main process's share of the controller's CPU")
    parser.add_argument("--gate", type=float, default=20.0, help="seconds of one batch's health gate")
    args = parser.parse_args()
    runs = measurements(args.log.read_text())
    print("cost model: cores=%d forks=%d latency=%.2fs main_share=%.2f gate=%.0fs"
          % (args.cores, args.forks, args.latency, args.main_share, args.gate))
    for run in PATHS:
        by_size = runs.get(run, {})
        if len(by_size) < 2:
            continue
        predictions = [predict(run, by_size, hosts, args) for hosts in SIZES]
        params = predictions[0][1]
        print("model run=%s fixed_s=%.1f bench_s_per_host=%.2f cpu_s_per_host=%.2f main_s_per_host=%.2f %s" % (
            run, params["fixed_s"], params["bench_s_per_host"], params["cpu_s_per_host"], params["main_s_per_host"],
            " ".join("hosts%d_s=%.0f" % (hosts, prediction[0]) for hosts, prediction in zip(SIZES, predictions))))


if __name__ == "__main__":
    main()
