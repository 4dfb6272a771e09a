#!/usr/bin/env bash
# Installs pollard's build and test dependencies on Debian 12 (apt) when any is missing.
set -euo pipefail

# python3-scipy and python3-matplotlib: the calibration-data study's statistics check and plots
# (benchmarks/study).
# strace: cli/fsync_before_rename traces that every output is fsync'ed before its rename.
packages=(cmake g++ clang make libeigen3-dev doctest-dev libbenchmark-dev libdlpack-dev
          libopenblas-dev liblapacke-dev libpcre2-dev zlib1g-dev pkg-config libcli11-dev libtorch-dev
          python3-torch python3-numpy python3-scipy python3-matplotlib unzip strace)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python packages the cross-checks use (each check skips, saying so, when its package is absent):
# numpy, the reference `safetensors` and llama.cpp's own `gguf` reader.
python="${PYTHON:-python3}"
if ! "$python" -c "import numpy, safetensors, gguf" >/dev/null 2>&1; then
  "$python" -m pip install --quiet --disable-pip-version-check numpy safetensors gguf ||
    echo "install-deps: pip could not install numpy/safetensors/gguf; their cross-checks will skip" >&2
fi

# benchmarks/prune_model_vs_torch.sh runs PyTorch from Debian's python3-torch, so Debian's own
# python3 needs the `gguf` package as well.
if [ -x /usr/bin/python3 ] && ! /usr/bin/python3 -c "import gguf" >/dev/null 2>&1; then
  /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --break-system-packages gguf ||
    echo "install-deps: could not install gguf for /usr/bin/python3; prune_model_vs_torch.sh needs it" >&2
fi
