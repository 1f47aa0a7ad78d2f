"""The bot accounts of the inventory (inventories/common/all.yml,
quantshift_bot_instances): the accounts Prometheus scrapes, so the ones a
dashboard's "All" and its repeated panels expand to and the metric contract
lists. Adding an account there is the only edit a new bot needs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

INVENTORY = Path(__file__).resolve().parent.parent / "inventories" / "common" / "all.yml"


def bot_accounts() -> list[str]:
    # Plain YAML: the Jinja strings of other keys load as strings.
    return [bot["name"] for bot in yaml.safe_load(INVENTORY.read_text())["quantshift_bot_instances"]]


def named_account(query: str) -> str | None:
    """The first account a PromQL query names literally: in a metric or job name
    (quantshift_<account>...), a label value ("<account>") or an alternation
    ((<account>|...)). Not market="us_equity": a market is no account."""
    for account in bot_accounts():
        if re.search(rf'quantshift_{account}(_|\b)|[("|]{account}[|)"]', query):
            return account
    return None
