# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ansible-playbook in this process and print where the controller's CPU went: Ansible's main process (one thread:
it queues every task for every host and takes every result in, so its share does not shrink with more cores) and its
forked workers with the connections they ran (which more cores and forks do spread).

Usage: python tests/bench/main_process_cpu.py <ansible-playbook arguments>
Prints `controller main_s=… workers_s=… wall_s=… main_share=…` on stderr after the playbook's own output.
docs/performance.md's cost model takes the main process's seconds per task and host from it.
"""

from __future__ import annotations

import os
import sys
import time


def main():
    started, before = time.monotonic(), os.times()
    sys.argv = ["ansible-playbook"] + sys.argv[1:]
    from ansible.cli.playbook import main as playbook  # pylint: disable=import-outside-toplevel
    try:
        playbook()
    finally:
        after = os.times()
        own = (after.user - before.user) + (after.system - before.system)
        workers = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        sys.stderr.write("controller main_s=%.1f workers_s=%.1f wall_s=%.1f main_share=%.2f\n"
                         % (own, workers, time.monotonic() - started, own / max(own + workers, 1e-9)))


if __name__ == "__main__":
    main()
