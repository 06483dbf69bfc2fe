#!/usr/bin/env bash
# CI lane of the regression runner: the cheapest CPU-scale known result, one seed, checked against its band.
#
#   scripts/ci_regress.sh [REPORT_DIR]      # default: outputs/regress/ci-<time>; exit 1 if the result leaves its band
#
# Runs algorithmic_sort_problem (1000 steps of transformer_tiny_algorithmic) in one training process with one
# CPU thread: about 3.5 minutes on 2 CPU cores beside another run (1 thread is also the fastest setting on a busy
# machine, where 2 threads contend). The same check runs inside pytest (tests/regress/test_regress.py). The full CPU set,
# 3 seeds each (about 1 hour with 2 jobs on 2 cores; benchmarks/regression.md):
#   t2t-regress --all-cpu --seeds 1,2,3 --threads 1 --jobs 2
set -euo pipefail

cd "$(dirname "$0")/.."
report_dir="${1:-outputs/regress/ci-$(date +%Y-%m-%d_%H-%M-%S)}"
exec python scripts/regress.py algorithmic_sort_problem --threads 1 --report-dir "$report_dir"
