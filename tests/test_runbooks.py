"""The runbooks: every alert that pages a human links a page in docs/runbooks
(checked to exist by test_prometheus_rules), the index lists every page, and the
prometheus role deploys the links under the inventory's base URL."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RUNBOOKS = REPO / "docs" / "runbooks"
_spec = importlib.util.spec_from_file_location("qs_filters", REPO / "filter_plugins/quantshift.py")
_filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_filters)
_runbook_links = _filters._runbook_links

# What issue #13 asks a runbook for, by the alert that leads there.
PAGES = {
    "QuantShiftOrderOutcomeUnknown": "unknown-order.md",
    "QuantShiftOrdersRejected": "rejected-orders.md",
    "QuantShiftDailyLossLimitHit": "kill-switch-reset.md",
    "QuantShiftFencedOrder": "fenced-order.md",
}


def _alerts():
    for path in sorted((REPO / "files/prometheus/rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield rule


def test_the_order_and_risk_alerts_link_their_runbook_pages():
    links = {r["alert"]: r["annotations"].get("runbook_url") for r in _alerts()}
    for alert, page in PAGES.items():
        assert links[alert] == f"docs/runbooks/{page}", alert


def test_every_modular_component_alert_opens_its_section_of_the_components_page():
    # One page for the modular architecture's alerts, a section each (test_prometheus_rules
    # proves the anchors are headings of the page).
    path = REPO / "files/prometheus/rules/components.rules.yml"
    alerts = [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    for rule in alerts:
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/runbooks/modular-components.md" and anchor, rule["alert"]
    index = (RUNBOOKS / "README.md").read_text()
    row = next(line for line in index.splitlines() if "(modular-components.md)" in line)
    assert all(f"`{rule['alert']}`" in row for rule in alerts), row


def test_the_index_lists_every_runbook_page_and_each_relative_link_resolves():
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    index = (RUNBOOKS / "README.md").read_text()
    listed = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert pages and listed == pages
    for page in RUNBOOKS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / target).resolve().exists(), f"{page.name}: broken link {target}"


def test_runbook_paths_become_links_under_the_base_url_and_nothing_else_changes():
    text = (REPO / "files/prometheus/rules/quantshift.rules.yml").read_text()
    linked = _runbook_links(text, "https://git.example.org/ops/quantshift-infra/-/blob/main/")
    assert _runbook_links(text, "") == text
    urls = re.findall(r"runbook_url:\s*\"([^\"]+)\"", linked)
    assert urls and all(u.startswith("https://git.example.org/ops/quantshift-infra/-/blob/main/docs/") for u in urls)
    assert "main//docs" not in linked
    # Outside the runbook_url lines the file is the same, so promtool sees the same rules.
    strip = lambda t: re.sub(r"(?m)^\s*runbook_url:.*$", "", t)  # noqa: E731
    assert strip(linked) == strip(text)
    assert yaml.safe_load(linked) is not None
