#!/usr/bin/env bash
# Clean-venv smoke tests (`make smoke`; .ci/run runs it before the suite).
#
# For each extra (default: edge central demo) a fresh venv with only that extra,
# installed from this checkout as a Pi or a server would (`pip install '.[edge]'`,
# not editable; pip's cache is reused), then in that venv:
#   1. the import walk: every module the extra carries imports (tests/install/imports.py)
#   2. the extra's smoke test: tests/install/smoke_<extra>.py (plain Python, no pytest)
# Prints one "SMOKE TIME" line per extra; exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
DIR=${SMOKE_DIR:-.smoke}
extras=("$@")
[ ${#extras[@]} -gt 0 ] || extras=(edge central demo)
export PIP_DISABLE_PIP_VERSION_CHECK=1

for extra in "${extras[@]}"; do
  t0=$(date +%s)
  venv="$DIR/$extra"
  "$PYTHON" -m venv --clear "$venv"
  # (this machine's pip config names find-links folders that may be absent: not worth a line each)
  "$venv/bin/pip" install --quiet ".[$extra]" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  t1=$(date +%s)
  "$venv/bin/python" tests/install/imports.py walk "$extra" --installed
  "$venv/bin/python" "tests/install/smoke_$extra.py"
  t2=$(date +%s)
  echo "SMOKE TIME [$extra]: venv + install $((t1 - t0)) s, import walk + smoke $((t2 - t1)) s"
done
