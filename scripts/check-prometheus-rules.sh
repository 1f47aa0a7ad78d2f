#!/usr/bin/env bash
# Prove the Prometheus alert rules: syntax, unit tests, and test coverage.
#
#   scripts/check-prometheus-rules.sh            # from anywhere in the repo
#   PROMTOOL=/path/to/promtool scripts/check-prometheus-rules.sh
#
# 1. promtool check rules   on every files/prometheus/rules/*.yml
# 2. promtool test rules    on every files/prometheus/tests/*.test.yml; they also
#    load files/prometheus/tests/fixtures/ (the prometheus role's generated
#    expected-bots rules, kept equal to its render by tests/test_prometheus_role.py)
# 3. coverage: every alert defined in the rules must be tested
#      positive  - some alert_rule_test expects it to fire (non-empty exp_alerts)
#      negative  - some alert_rule_test expects it quiet   (exp_alerts: [])
#      stale     - some check inside a test group named "... [stale]"
#                  (a target vanished or a series is absent)
#    An alert with severity "none" (the Watchdog) only needs the positive case:
#    it fires by design.
# Prints one line per alert with its tested status; exits non-zero on any failure.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rules_dir="$repo/files/prometheus/rules"
tests_dir="$repo/files/prometheus/tests"
promtool="${PROMTOOL:-promtool}"
python="${PYTHON:-python3}"

command -v "$promtool" >/dev/null || { echo "check-prometheus-rules: promtool not found (Debian package 'prometheus')" >&2; exit 2; }
"$python" -c 'import yaml' 2>/dev/null || { echo "check-prometheus-rules: $python has no PyYAML" >&2; exit 2; }

shopt -s nullglob
rule_files=("$rules_dir"/*.yml "$rules_dir"/*.yaml)
test_files=("$tests_dir"/*.test.yml "$tests_dir"/*.test.yaml)
[ ${#rule_files[@]} -gt 0 ] || { echo "check-prometheus-rules: no rule files in $rules_dir" >&2; exit 1; }
[ ${#test_files[@]} -gt 0 ] || { echo "check-prometheus-rules: no test files in $tests_dir" >&2; exit 1; }

failed=0

echo "== promtool check rules"
"$promtool" check rules "${rule_files[@]}" || failed=1

echo "== promtool test rules"
# promtool resolves rule_files relative to each test file's directory.
(cd "$tests_dir" && "$promtool" test rules "${test_files[@]}") || failed=1

echo "== alert test coverage"
"$python" - "${#rule_files[@]}" "${rule_files[@]}" "${test_files[@]}" <<'PY' || failed=1
import sys
import yaml

n_rules = int(sys.argv[1])
rule_files, test_files = sys.argv[2:2 + n_rules], sys.argv[2 + n_rules:]

alerts = {}  # name -> severity (an alert name may be defined more than once)
for path in rule_files:
    for group in (yaml.safe_load(open(path)) or {}).get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule:
                alerts.setdefault(rule["alert"], rule.get("labels", {}).get("severity", ""))

cover = {name: {"positive": 0, "negative": 0, "stale": 0} for name in alerts}
unknown = set()
for path in test_files:
    for group in (yaml.safe_load(open(path)) or {}).get("tests", []):
        stale_group = "[stale]" in group.get("name", "")
        for case in group.get("alert_rule_test", []):
            name = case["alertname"]
            if name not in cover:
                unknown.add(name)
                continue
            cover[name]["positive" if case.get("exp_alerts") else "negative"] += 1
            if stale_group:
                cover[name]["stale"] += 1

ok = True
width = max(map(len, alerts))
for name in sorted(alerts):
    c = cover[name]
    needed = ["positive"] if alerts[name] == "none" else ["positive", "negative", "stale"]
    missing = [k for k in needed if not c[k]]
    ok &= not missing
    status = "tested" if not missing else "MISSING " + ",".join(missing)
    print(f"  {name:<{width}}  {alerts[name]:<8}  +{c['positive']} -{c['negative']} stale:{c['stale']}  {status}")
for name in sorted(unknown):
    ok = False
    print(f"  test refers to an alert that no rule defines: {name}")
print(f"  {len(alerts)} alerts, {sum(1 for n in alerts if cover[n]['positive'])} with a firing test")
sys.exit(0 if ok else 1)
PY

if [ "$failed" -ne 0 ]; then
  echo "check-prometheus-rules: FAILED" >&2
  exit 1
fi
echo "check-prometheus-rules: OK"
