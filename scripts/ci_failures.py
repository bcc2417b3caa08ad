# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the failed and errored cases of every JUnit report under a folder, last in a CI log.

CI shows only the head and the tail of a long log; the Molecule verify steps run pytest with
--junitxml=tests/output/junit-<suite>.xml so that a failure deep inside a scenario still ends the log
with its test name and the lines that explain it.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

MAX_LINES = 40


def failures(report: Path):
    """Yield (case name, message, detail lines) for each failed or errored case in one report."""
    for case in ET.parse(report).getroot().iter("testcase"):
        for outcome in ("failure", "error"):
            for problem in case.findall(outcome):
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                detail = [line for line in (problem.text or "").splitlines() if line.strip()]
                yield name, problem.get("message", outcome), detail[-MAX_LINES:]


def main(folder: str) -> int:
    reports = sorted(Path(folder).glob("junit-*.xml"))
    found = 0
    for report in reports:
        for name, message, detail in failures(report):
            found += 1
            print(f"\n=== {report.name}: {name}\n{message[:2000]}")
            print("\n".join(line[:400] for line in detail))
    print(f"\nci: {found} failed case(s) in {len(reports)} report(s) under {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "tests/output"))
