"""Jinja filters for the roles and playbooks: the package's own rules, so Ansible and
Python build the same names and configs and check the same things.
- naming (bots/src/quantshift/naming.py): unit names, config paths;
- trading_mode (bots/src/quantshift/trading_mode.py): a bot's broker and market data
  for its mode, and the broker keys that needs.
The control node's venv has the package installed."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from quantshift import naming, trading_mode


def _trading_mode(base, mode, market_data="venue", allow_live=False):
    try:
        return trading_mode.apply(base, mode, market_data, bool(allow_live))
    except trading_mode.ModeError as e:
        raise AnsibleFilterError(str(e)) from None


def _trading_mode_error(base, mode, market_data="venue", allow_live=False):
    """'' when the mode deploys, else the one-line reason."""
    try:
        trading_mode.apply(base, mode, market_data, bool(allow_live))
    except trading_mode.ModeError as e:
        return str(e)
    return ""


class FilterModule:
    def filters(self):
        return {
            "quantshift_unit": naming.unit,
            "quantshift_config_path": naming.config_path,
            "quantshift_trading_mode": _trading_mode,
            "quantshift_trading_mode_error": _trading_mode_error,
            "quantshift_key_problems": trading_mode.key_problems,
            "quantshift_extras": trading_mode.extras,
        }
