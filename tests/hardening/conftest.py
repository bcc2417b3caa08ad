"""The hardening suites run inside Molecule scenarios (see molecule/*/verify.yml); hosts.py is their
shared view of the scenario's hosts."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
