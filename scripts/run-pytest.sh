#!/usr/bin/env bash
# pytest with exit 5 ("no tests collected") treated as a failure we can explain:
# a gate that ran nothing must not look green.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/.venv/bin/python" -m pytest -q "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "run-pytest: no tests were collected from $* (exit 5) — failing the gate" >&2
  exit 1
fi
exit $rc
