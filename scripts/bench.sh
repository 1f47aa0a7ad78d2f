#!/usr/bin/env bash
# make bench: deploy timings of the lab (fresh converge, idempotent re-run) and
# the engine benchmark. Uses the seed's default settings (inventories/lab).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg"
OUT="$ROOT/.build/bench"
mkdir -p "$OUT"

recap() {  # "changed=N ok=N" summed over hosts from an ansible log
  awk '/PLAY RECAP/{f=1;next} f && /ok=/{for(i=1;i<=NF;i++){split($i,a,"="); if(a[1]=="ok")ok+=a[2]; if(a[1]=="changed")ch+=a[2]; if(a[1]=="failed")fl+=a[2]}} END{printf "ok=%d changed=%d failed=%d", ok, ch, fl}' "$1"
}
timed() {  # timed NAME LOG CMD...: prints seconds
  local name=$1 log=$2; shift 2
  local t0; t0=$(date +%s.%N)
  if ! "$@" >"$log" 2>&1; then echo "bench: $name failed, see $log" >&2; tail -20 "$log" >&2; exit 1; fi
  awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}'
}

echo "bench: deploy timings (fresh lab containers; this destroys a running lab)"
scripts/lab.sh destroy >/dev/null
t_create=$(timed create "$OUT/create.log" scripts/lab.sh create)
t_converge=$(timed converge "$OUT/converge.log" scripts/lab.sh deploy)
t_idem=$(timed idempotent "$OUT/idempotent.log" scripts/lab.sh deploy)

printf '\n%-40s %10s  %s\n' "deploy step" "seconds" "recap"
printf '%-40s %10.1f\n' "containers (create, image cached)" "$t_create"
printf '%-40s %10.1f  %s\n' "site.yml full converge (fresh hosts)" "$t_converge" "$(recap "$OUT/converge.log")"
printf '%-40s %10.1f  %s\n' "site.yml idempotent re-run" "$t_idem" "$(recap "$OUT/idempotent.log")"

echo
lab() { .venv/bin/python scripts/lab_status.py "$@"; }  # the lab's one ssh and naming rule
COMPONENT_UNITS=$(lab units | tr ' ' '\n' | grep -v failover-monitor)
echo "bench: memory of the running components on ct100 (goal <= 150 MB each)"
for unit in $COMPONENT_UNITS; do
  lab exec ct100 "pid=\$(systemctl show -p MainPID --value $unit); awk '/VmRSS/{printf \"  $unit: RSS %.1f MB\\n\", \$2/1024}' /proc/\$pid/status"
done

echo
.venv/bin/python scripts/bench_modular_lab.py

echo
echo "bench: failover at the seed's defaults (a few minutes: it waits out the 60 s lease)"
.venv/bin/python scripts/bench_failover.py

echo
echo "bench: systemd-analyze security of the bot units (exposure, lower is safer)"
for unit in $(lab units); do
  lab exec ct100 "systemd-analyze security $unit --no-pager 2>/dev/null | tail -1 | sed 's/^/  $unit: /'"
done

if [ -f bots/bench/bench_engine.py ]; then
  echo
  echo "bench: trading engine"
  .venv/bin/python bots/bench/bench_engine.py
fi
