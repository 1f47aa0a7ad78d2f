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
want=$({ cat "$REQ"; cat "$ROOT/bots/pyproject.toml" "$ROOT/bots/constraints.txt" 2>/dev/null || true; } | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap-venv: installing control tools into .venv"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r "$REQ"
  if [ -f "$ROOT/bots/pyproject.toml" ]; then
    # The bots' runtime dependencies at the versions the bot hosts get (bots/constraints.txt).
    "$VENV/bin/pip" install -q -c "$ROOT/bots/constraints.txt" -e "$ROOT/bots[test,bench]"
  fi
  echo "$want" > "$stamp"
else
  echo "bootstrap-venv: .venv up to date"
fi

# Collections pinned in requirements.yml, taken from the ansible community wheel; a
# collection whose unpacked version differs from its pin is unpacked again.
collections=$("$VENV/bin/python" - "$ROOT/requirements.yml" "$COLL_DIR" <<'PY'
import json, sys, yaml
from pathlib import Path
for c in yaml.safe_load(open(sys.argv[1]))["collections"]:
    manifest = Path(sys.argv[2]) / "ansible_collections" / c["name"].replace(".", "/") / "MANIFEST.json"
    have = json.loads(manifest.read_text())["collection_info"]["version"] if manifest.is_file() else "-"
    print(c["name"], c["version"], have)
PY
)
missing=()
while read -r name pinned have; do
  [ "$have" = "$pinned" ] || missing+=("$name=$pinned")
done <<< "$collections"
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap-venv: unpacking collections ${missing[*]} from ansible==$ANSIBLE_WHEEL_VERSION"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$VENV/bin/pip" download -q --no-deps -d "$tmp" "ansible==$ANSIBLE_WHEEL_VERSION"
  mkdir -p "$COLL_DIR/ansible_collections"
  for c in "${missing[@]}"; do
    "$VENV/bin/python" - "$tmp"/ansible-*.whl "${c%%=*}" "${c#*=}" "$COLL_DIR" <<'PY'
import json, shutil, sys, zipfile
from pathlib import Path
whl, coll, pinned, dest = sys.argv[1:]
prefix = "ansible_collections/%s/" % coll.replace(".", "/")
with zipfile.ZipFile(whl) as z:
    members = [m for m in z.namelist() if m.startswith(prefix)]
    if not members:
        sys.exit("bootstrap-venv: collection %s not in the ansible wheel" % coll)
    version = json.loads(z.read(prefix + "MANIFEST.json"))["collection_info"]["version"]
    if version != pinned:
        sys.exit("bootstrap-venv: requirements.yml pins %s %s, the ansible wheel carries %s" % (coll, pinned, version))
    shutil.rmtree(Path(dest) / prefix, ignore_errors=True)
    z.extractall(dest, members)
PY
  done
fi
echo "bootstrap-venv: ready ($("$VENV/bin/ansible" --version | head -1))"
