#!/bin/sh
# Benchmark: muelab CPU trainer vs plain PyTorch (the best variant and the per-expert twin) at the
# experiments' shapes, with the sgemm limit measured in the same run (bench/models/results.md).
# Usage: bench/models/run.sh BUILD_DIR [THREADS] [extra bench_models.py options]
# Builds nothing: build the target bench_models_step in BUILD_DIR first. One OpenMP pool with a
# passive wait policy for both programs (spinning threads would only measure each other).
set -eu
BUILD_DIR=${1:?usage: bench/models/run.sh BUILD_DIR [THREADS] [options]}
THREADS=${2:-1}
[ $# -ge 2 ] && shift 2 || shift 1
export OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" OMP_WAIT_POLICY=PASSIVE
exec /usr/bin/python3 "$(dirname "$0")/bench_models.py" "$BUILD_DIR" --threads "$THREADS" "$@"
