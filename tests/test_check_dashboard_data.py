"""scripts/check-dashboard-data.py, the live panel check molecule's verify runs,
against a fake Prometheus: it passes when every query has data and names the
panel that has none (so a new panel without data fails the lab run)."""
from __future__ import annotations

import importlib.util
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_dashboard_data", ROOT / "scripts/check-dashboard-data.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


@pytest.fixture
def prometheus():
    """A fake /api/v1/query: one series for every query, none for those containing `empty`."""
    state = {"empty": None, "queries": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            expr = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["query"][0]
            state["queries"].append(expr)
            result = [] if state["empty"] and state["empty"] in expr else [{"metric": {}, "value": [0, "1"]}]
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", state
    finally:
        server.shutdown()


def test_every_panel_with_data_passes_and_every_rule_is_evaluated(prometheus, capsys):
    url, state = prometheus
    assert check.main(["check", url, "--wait", "0"]) == 0
    out = capsys.readouterr().out
    assert "0 panels without data" in out
    assert any("quantshift_ledger_last_backup_age_seconds" in q for q in state["queries"])
    assert any("absent(quantshift_ledger_backup_interval_seconds)" in q for q in state["queries"]), \
        "the rules of hosts.rules.yml must be evaluated too"


def test_a_panel_without_data_fails_and_is_named(prometheus, capsys):
    url, state = prometheus
    state["empty"] = "pg_up"
    assert check.main(["check", url, "--wait", "0"]) == 1
    out = capsys.readouterr().out
    assert "no data: quantshift-system-health / PostgreSQL up [A]" in out
