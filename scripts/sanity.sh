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
git ls-files -z -co --exclude-standard -- . ':!:collections' | tar --null -T - -cf - | tar -C "$dest" -xf -
cd "$dest"
git init -q && git add -A >/dev/null   # ansible-test lists the files to check from git
ansible-test sanity --venv --python 3.11 --color no "$@"
