#!/usr/bin/env bash
# The test suite, self-sufficient on a fresh Debian 12 machine (run as root):
# installs dependencies, builds with warnings as errors, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh dev
# Makes the built Python package importable by Debian's python3 (README, "From Python"): a .pth file in
# its site directory names build/dev/python. Skipped with a line when that directory is not writable.
site="$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')"
if mkdir -p "$site" 2>/dev/null && [ -w "$site" ]; then
  echo "$PWD/build/dev/python" > "$site/muelab-build.pth"
  echo "test.sh: python3 now imports muelab from build/dev/python ($site/muelab-build.pth)"
else
  echo "test.sh: $site is not writable; use PYTHONPATH=$PWD/build/dev/python to import muelab"
fi
ctest --preset dev -j "$(nproc)"
