"""The alert rules are proven by promtool and only use contract metric names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot_inventory import bot_accounts, named_account
from metric_contract import SERIES, metric_names, rated_selectors

REPO = Path(__file__).resolve().parent.parent
RULES_DIR = REPO / "files" / "prometheus" / "rules"
# The prometheus role's generated rules as rendered for the promtool tests
# (tests/test_prometheus_role.py proves them equal to the role's render).
GENERATED_RULES = REPO / "files" / "prometheus" / "tests" / "fixtures" / "expected-bots.rules.yml"
CHECK_SCRIPT = REPO / "scripts" / "check-prometheus-rules.sh"
SEVERITIES = {"critical", "warning", "none"}


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.y*ml"))


def rules(paths: list[Path] | None = None) -> list[dict]:
    found = []
    for path in rule_files() if paths is None else paths:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(group["rules"])
    return found


def alerts() -> list[dict]:
    return [r for r in rules() if "alert" in r]


def recorded_names() -> set[str]:
    return {r["record"] for r in rules(rule_files() + [GENERATED_RULES]) if "record" in r}


def rule_id(rule: dict) -> str:
    return rule.get("alert") or rule.get("record")


def test_rule_files_exist():
    assert rule_files(), f"no rule files in {RULES_DIR}"
    assert alerts(), "no alert rules defined"


def test_check_script_passes_syntax_unit_tests_and_coverage():
    if shutil.which("promtool") is None:
        pytest.fail("promtool not found: install Debian's 'prometheus' package")
    result = subprocess.run(
        [str(CHECK_SCRIPT)], capture_output=True, text=True, timeout=300, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "check-prometheus-rules: OK" in output
    # the coverage table lists every alert as tested
    for alert in {a["alert"] for a in alerts()}:
        assert re.search(rf"^\s+{alert}\s.*\btested$", output, re.M), f"{alert} not tested:\n{output}"


@pytest.mark.parametrize("rule", rules(), ids=rule_id)
def test_rule_uses_only_contract_metric_names(rule):
    allowed = set(SERIES) | recorded_names()
    unknown = metric_names(rule["expr"]) - allowed
    assert not unknown, f"{rule_id(rule)} uses metrics outside the contract: {sorted(unknown)}"


@pytest.mark.parametrize("rule", alerts(), ids=rule_id)
def test_annotation_queries_use_only_contract_metric_names(rule):
    # annotations may run queries: {{ with printf "metric{...}" ... | query }}
    text = " ".join(str(v) for v in rule.get("annotations", {}).values())
    for query in re.findall(r'(?:printf|query)\s+"((?:[^"\\]|\\.)*)"', text):
        query = query.replace('\\"', '"').replace("%s", "x")
        unknown = metric_names(query) - set(SERIES)
        assert not unknown, f"{rule_id(rule)} annotation queries {sorted(unknown)}"


@pytest.mark.parametrize("rule", rules(), ids=rule_id)
def test_rate_and_increase_only_over_counters(rule):
    for selector in rated_selectors(rule["expr"]):
        for name in metric_names(selector):
            assert SERIES.get(name) == "counter", f"{rule_id(rule)}: rate-like call over non-counter {name}"


@pytest.mark.parametrize("rule", alerts(), ids=rule_id)
def test_alert_has_severity_summary_description_and_runbook(rule):
    labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
    assert labels.get("severity") in SEVERITIES
    assert annotations.get("summary") and annotations.get("description")
    if labels["severity"] != "none":
        assert annotations.get("runbook_url", "").startswith("docs/"), "runbook_url must point into docs/"


def _github_anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_runbook_urls_resolve_to_doc_headings():
    targets = {a["annotations"]["runbook_url"] for a in alerts() if "runbook_url" in a.get("annotations", {})}
    missing_docs = sorted({t.split("#")[0] for t in targets if not (REPO / t.split("#")[0]).exists()})
    assert missing_docs == [], f"runbook documents missing: {missing_docs}"
    for target in sorted(targets):
        path, _, anchor = target.partition("#")
        headings = re.findall(r"^#+\s+(.+?)\s*$", (REPO / path).read_text(), re.M)
        assert not anchor or anchor in {_github_anchor(h) for h in headings}, f"{target}: no such heading"


def test_contract_scanner_catches_a_renamed_metric():
    # the check above is only worth something if it sees renames
    expr = 'rate({__name__=~"quantshift_(equity|crypto)_cycle_error_total"}[5m]) > 0'
    assert metric_names(expr) - set(SERIES) == {
        "quantshift_equity_cycle_error_total",
        "quantshift_crypto_cycle_error_total",
    }
    assert metric_names("time() - quantshift_equity_heartbeat_second > 60") - set(SERIES) == {
        "quantshift_equity_heartbeat_second"
    }


def test_recorded_expected_bots_are_known_to_the_contract():
    # the rules read quantshift:bot_expected, which only the role's generated file records
    assert "quantshift:bot_expected" in recorded_names()


def test_any_bot_selector_selects_every_inventory_account():
    expr = 'time() - {__name__=~"quantshift_.+_heartbeat_seconds", bot!=""}'
    assert metric_names(expr) == {f"quantshift_{a}_heartbeat_seconds" for a in bot_accounts()}


@pytest.mark.parametrize("selector", [
    '{__name__=~"quantshift_.+_heartbeat_seconds"}',
    '{__name__=~"quantshift_.+_heartbeat_seconds", job=~"quantshift_.+"}',
    '{__name__=~"quantshift_.+_heartbeat_seconds", bot=~".*"}',
])
def test_any_bot_selector_without_a_bot_label_is_refused(selector):
    # it would match quantshift_failover_monitor_heartbeat_seconds as well
    with pytest.raises(ValueError, match='bot!=""'):
        metric_names(selector)


@pytest.mark.parametrize("selector", [
    '{__name__=~"quantshift_.+_heartbeat_second", bot!=""}',
    '{__name__=~"quantshift_.+_seconds", bot!=""}',
])
def test_any_bot_selector_with_a_suffix_no_bot_exports_is_refused(selector):
    with pytest.raises(ValueError, match="is not a series a bot exports"):
        metric_names(selector)


@pytest.mark.parametrize("rule", rules(), ids=rule_id)
def test_rule_names_no_bot_account(rule):
    # a new account is an inventory entry: no rule may list the accounts
    assert named_account(rule["expr"]) is None, f"{rule_id(rule)} names the account {named_account(rule['expr'])}"


def test_every_modular_component_kind_is_in_the_contract():
    # A new kind in quantshift.metrics.COMPONENT_PREFIXES needs its class here, or
    # its panels and rules would be refused as unknown names.
    from quantshift.metrics import COMPONENT_PREFIXES
    from metric_contract import _COMPONENT_CLASSES, COMPONENTS, COORDINATOR
    assert set(COMPONENT_PREFIXES) - {"coordinator"} == set(_COMPONENT_CLASSES)
    for kind, prefix in COMPONENT_PREFIXES.items():
        names = COORDINATOR if kind == "coordinator" else COMPONENTS
        assert f"{prefix}_heartbeat_seconds" in names or kind == "coordinator", kind
        assert any(n.startswith(prefix + "_") for n in names), kind


def test_the_coordinators_own_series_are_no_bot_series():
    # The coordinator's targets carry the bot label, so a bot rule's
    # {__name__=~"quantshift_.+_<suffix>", bot!=""} also matches its own
    # quantshift_trading_coordinator_* series: none may end like a bot series.
    from metric_contract import BOT_SUFFIXES, COORDINATOR
    clashes = [n for n in COORDINATOR for suffix in BOT_SUFFIXES if n.endswith("_" + suffix)]
    assert clashes == []
