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
