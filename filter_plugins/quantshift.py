"""Jinja filters for the roles and playbooks: the package's own rules, so Ansible and
Python build the same names and configs and check the same things.
- naming (bots/src/quantshift/naming.py): unit and target names, an account's components, config paths;
- trading_mode (bots/src/quantshift/trading_mode.py): a bot's broker and market data
  for its mode, and the broker keys that needs;
- alert rules' runbook paths made links (prometheus role);
- and the one `validate:` command every role's unit template uses (systemd-analyze verify).
The control node's venv has the package installed."""
from __future__ import annotations

import re

from quantshift import naming, trading_mode

_RUNBOOK_URL = re.compile(r'^(\s*runbook_url:\s*["\']?)(?=docs/)', re.M)


def _trading_modes(instances, bases, modes, default_mode, market_data="venue", allow_live=False, venue_urls=None):
    """Every bot's trading settings by name: its mode, its config for that mode (None
    when it cannot be deployed) and the one-line reason why not ('' when it can)."""
    found = {}
    for bot in instances:
        mode = (modes or {}).get(bot["name"], default_mode)
        try:
            cfg, error = trading_mode.apply(bases[bot["name"]], mode, market_data, bool(allow_live),
                                            (venue_urls or {}).get(bot["name"])), ""
        except trading_mode.ModeError as e:
            cfg, error = None, str(e)
        found[bot["name"]] = {"mode": mode, "config": cfg, "error": error}
    return found


def _components(bot, architecture="modular", worker_instances=1):
    """An inventory bot entry's processes (quantshift.naming.components) as dicts:
    unit, command, args, port, kind, strategy, instance, job."""
    return [c.as_dict() for c in naming.components(bot["name"], int(bot["metrics_port"]), bot.get("components"),
                                                     architecture, int(worker_instances))]


def _unit_verify(unit_name: str) -> str:
    """A template task's `validate:` command for a systemd unit: systemd-analyze verify
    wants the unit's own file name, not Ansible's temporary one, so %s is copied to it."""
    return (f"sh -c 'd=$(mktemp -d) && cp %s \"$d/{unit_name}\" && systemd-analyze verify \"$d/{unit_name}\"; "
            f"rc=$?; rm -rf \"$d\"; exit $rc'")


def _runbook_links(rules_text: str, base_url: str) -> str:
    """A rules file's runbook_url paths (docs/...) as links under base_url, where the
    team browses this repository; unchanged when base_url is empty."""
    if not base_url:
        return rules_text
    return _RUNBOOK_URL.sub(lambda m: m.group(1) + base_url.rstrip("/") + "/", rules_text)


class FilterModule:
    def filters(self):
        return {
            "quantshift_unit": naming.unit,
            "quantshift_target": naming.target,
            "quantshift_components": _components,
            "quantshift_account_unit_globs": naming.account_unit_globs,
            "quantshift_architecture_extras": naming.architecture_extras,
            "quantshift_config_path": naming.config_path,
            "quantshift_unit_verify": _unit_verify,
            "quantshift_runbook_links": _runbook_links,
            "quantshift_trading_modes": _trading_modes,
            "quantshift_key_problems": trading_mode.key_problems,
            "quantshift_extras": trading_mode.extras,
        }
