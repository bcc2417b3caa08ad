"""The Molecule disconnected scenario's fleet (one speech host, one TLS load balancer with the outbound proxy), as
tests/rollout's Fleet sees a fleet."""
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("FLEET_LOG_FOLDER", "disconnected")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rollout"))

from fleet import Fleet, env  # noqa: E402

HOST = "speechops-moldc-host1"
LB = "speechops-moldc-lb1"


@pytest.fixture(scope="session")
def fleet():
    artifacts = Path(env("MOLECULE_EPHEMERAL_DIRECTORY")) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    fleet = Fleet(inventory=env("MOLECULE_INVENTORY_FILE"), artifacts=artifacts, hosts=[HOST], lb=LB)
    run = fleet.playbook("playbooks/plan.yml")  # writes the plan the tests read
    assert run.rc == 0, run.tail()
    return fleet
