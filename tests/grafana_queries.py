"""Every query of a Grafana dashboard, ready to send to Prometheus.

dashboard_queries(path) substitutes the template variables the way Grafana
would with "All" selected, so a live test can run each query against the lab's
Prometheus (GET /api/v1/query?query=...) and prove the panel has data. "All"
is every account of the inventory, and a panel repeated over a variable gives
one query per value, as Grafana draws one copy per value:

    for q in dashboard_queries("files/grafana/dashboards/quantshift-system-health.json"):
        assert prometheus_query(q.expr), f"{q.panel_title}: no data"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from bot_inventory import bot_accounts

# Grafana formats a multi-value "All" selection as a regex alternation in
# parentheses; the bot metric names use it inside __name__=~"...".
SUBSTITUTIONS = {
    "datasource": "n/a",
    "bot": "(" + "|".join(bot_accounts()) + ")",
    "instance": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class PanelQuery:
    dashboard_uid: str
    panel_id: int
    panel_title: str
    ref_id: str
    raw_expr: str  # as written in the dashboard
    expr: str  # variables substituted


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    values = {**SUBSTITUTIONS, **(values or {})}

    def replace(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise KeyError(f"unknown template variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def iter_panels(panels: list[dict]):
    """Panels in order, descending into collapsed rows (they nest panels)."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


# The values Grafana repeats a panel over with "All" selected.
REPEAT_VALUES = {"bot": bot_accounts()}


def panel_copies(panel: dict) -> list[dict[str, str]]:
    """The variable value of each copy Grafana draws of a panel: one copy per
    value of its repeat variable, else the panel itself (no value fixed)."""
    if "repeat" not in panel:
        return [{}]
    return [{panel["repeat"]: value} for value in REPEAT_VALUES[panel["repeat"]]]


def dashboard_queries(path: str | Path, values: dict[str, str] | None = None) -> list[PanelQuery]:
    dashboard = json.loads(Path(path).read_text())
    queries = []
    for panel in iter_panels(dashboard.get("panels", [])):
        for copy in panel_copies(panel):
            for target in panel.get("targets", []):
                if not target.get("expr"):
                    continue
                queries.append(PanelQuery(
                    dashboard_uid=dashboard["uid"],
                    panel_id=panel["id"],
                    panel_title=substitute(panel.get("title", ""), {**(values or {}), **copy}),
                    ref_id=target.get("refId", ""),
                    raw_expr=target["expr"],
                    expr=substitute(target["expr"], {**(values or {}), **copy}),
                ))
    return queries
