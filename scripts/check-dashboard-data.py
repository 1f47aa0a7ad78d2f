#!/usr/bin/env python3
"""Prove on a live Prometheus that every dashboard panel has data and every rule
expression evaluates (molecule/default's verify runs it against the lab).

  check-dashboard-data.py http://172.29.100.10:9090 [--wait 90]

Each panel query is substituted the way Grafana draws it with "All" selected
(tests/grafana_queries.py); a panel whose query returns no series is listed, and
the script retries for up to --wait seconds (a rate needs two scrapes) before it
fails. Exit 0: every panel has data and every rule expression of
files/prometheus/rules/ evaluated; 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from grafana_queries import dashboard_queries  # noqa: E402


def query(base: str, expr: str) -> list:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("prometheus", help="base URL, e.g. http://172.29.100.10:9090")
    parser.add_argument("--wait", type=float, default=90, help="seconds to wait for data (default 90)")
    args = parser.parse_args(argv[1:])
    base = args.prometheus.rstrip("/")
    panels = [q for path in sorted((ROOT / "files/grafana/dashboards").glob("*.json")) for q in dashboard_queries(path)]
    deadline = time.monotonic() + args.wait
    while True:
        empty = [f"{q.dashboard_uid} / {q.panel_title} [{q.ref_id}]: {q.expr}" for q in panels if not query(base, q.expr)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(5)
    exprs = [rule["expr"] for path in sorted((ROOT / "files/prometheus/rules").glob("*.yml"))
             for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]
    for expr in exprs:
        query(base, expr)  # must evaluate; most alerts are (rightly) quiet
    print(f"live queries: {len(panels)} panel queries, {len(exprs)} rule expressions, {len(empty)} panels without data")
    for line in empty:
        print(f"  no data: {line}")
    return 1 if empty or not panels else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
