#!/bin/sh
# Benchmark: muelab CPU trainer vs PyTorch, tokens/s and MFU. Usage: bench/models/run.sh BUILD_DIR [THREADS]
set -eu
BUILD_DIR=${1:?usage: bench/models/run.sh BUILD_DIR [THREADS]}
THREADS=${2:-2}
export OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS"
exec /usr/bin/python3 "$(dirname "$0")/bench_models.py" "$BUILD_DIR/cli/muelab" "$THREADS"
