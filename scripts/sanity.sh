#!/usr/bin/env bash
# ansible-test sanity needs the collection under a path ending in ansible_collections/<ns>/<name>.
# Copy the tracked and new (not ignored) files there and run it; the checkout stays untouched.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/speechops/speech"
mkdir -p "$dest"
cd "$repo"
# ansible-test seeds pip in its venvs with a script it downloads from a host we cannot reach;
# give it an equivalent that uses the interpreter's ensurepip and PyPI.
pip_version="$(python -c 'import inspect, ansible_test._internal.python_requirements as r; import re; print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r)).group(1))')"
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
[ -s "$get_pip" ] || install -D -m 0644 scripts/get_pip_offline.py "$get_pip"
# The emulator under sandbox/emulator is test infrastructure, not collection content (galaxy.yml
# build_ignore); its own tests hold it to account.
git ls-files -z -co --exclude-standard -- . ':!:collections' ':!:sandbox/emulator' | tar --null -T - -cf - | tar -C "$dest" -xf -
cd "$dest"
git init -q && git add -A >/dev/null   # ansible-test lists the files to check from git
ansible-test sanity --venv --python 3.11 --color no "$@"
