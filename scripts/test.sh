#!/usr/bin/env bash
# The test suite, self-sufficient on a fresh Debian 12 machine (run as root):
# installs dependencies, builds with warnings as errors, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh dev
ctest --preset dev -j "$(nproc)"
