"""Make the checkout importable as ansible_collections.speechops.speech for plain pytest.

The checkout carries collections/ansible_collections/speechops/speech -> the repository root,
the same link ansible.cfg uses, so the tests import exactly the files Ansible runs.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_DIR = REPO_ROOT / "collections"

if str(COLLECTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_DIR))

# No per-example deadline: this machine is shared and its cores are often busy with the other test lanes, so a wall
# clock limit on one example fails at random (timing belongs to tests/bench). Modules that need other settings load
# their own profile.
from hypothesis import settings  # noqa: E402

settings.register_profile("unit", deadline=None)
settings.load_profile("unit")
