#!/usr/bin/env bash
# Control-node toolchain: a venv on Debian's python3 with ansible-core, molecule,
# linters, pytest and the bots package; collections unpacked from the `ansible`
# wheel (Galaxy is not reachable from these machines). Re-runs are cheap: a stamp
# file records the requirements that were installed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv"
REQ="$ROOT/requirements-dev.txt"
COLL_DIR="$ROOT/.collections"
ANSIBLE_WHEEL_VERSION=12.3.0

stamp="$VENV/.installed"
want=$({ cat "$REQ"; cat "$ROOT/bots/pyproject.toml" 2>/dev/null || true; } | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap-venv: installing control tools into .venv"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r "$REQ"
  if [ -f "$ROOT/bots/pyproject.toml" ]; then
    "$VENV/bin/pip" install -q -e "$ROOT/bots[test,bench]"
  fi
  echo "$want" > "$stamp"
else
  echo "bootstrap-venv: .venv up to date"
fi

# Collections named in requirements.yml, taken from the ansible community wheel.
need=$("$VENV/bin/python" - "$ROOT/requirements.yml" <<'PY'
import sys, yaml
for c in yaml.safe_load(open(sys.argv[1]))["collections"]:
    print(c["name"] if isinstance(c, dict) else c)
PY
)
missing=()
for c in $need; do
  [ -f "$COLL_DIR/ansible_collections/${c/.//}/MANIFEST.json" ] || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap-venv: unpacking collections ${missing[*]} from ansible==$ANSIBLE_WHEEL_VERSION"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$VENV/bin/pip" download -q --no-deps -d "$tmp" "ansible==$ANSIBLE_WHEEL_VERSION"
  mkdir -p "$COLL_DIR/ansible_collections"
  for c in "${missing[@]}"; do
    "$VENV/bin/python" - "$tmp"/ansible-*.whl "$c" "$COLL_DIR" <<'PY'
import sys, zipfile
whl, coll, dest = sys.argv[1:]
prefix = "ansible_collections/%s/" % coll.replace(".", "/")
with zipfile.ZipFile(whl) as z:
    members = [m for m in z.namelist() if m.startswith(prefix)]
    if not members:
        sys.exit("bootstrap-venv: collection %s not in the ansible wheel" % coll)
    z.extractall(dest, members)
PY
  done
fi
echo "bootstrap-venv: ready ($("$VENV/bin/ansible" --version | head -1))"
