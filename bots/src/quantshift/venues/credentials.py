"""The keys each venue needs, and what makes one unusable, in one place: the config
loader checks the bot's environment (/opt/quantshift/.env) with it, and the deploy's
preflight checks the vault's values with it on the control node
(filter_plugins/quantshift.py), before any host changes.

A problem names the variable and what is wrong, never the value.
"""
from __future__ import annotations

import re
from typing import Mapping

ALPACA_KEY = "APCA_API_KEY_ID"
ALPACA_SECRET = "APCA_API_SECRET_KEY"
EXCHANGE_KEY = "QUANTSHIFT_EXCHANGE_API_KEY"
EXCHANGE_SECRET = "QUANTSHIFT_EXCHANGE_API_SECRET"

_NEEDED = {"alpaca": (ALPACA_KEY, ALPACA_SECRET), "ccxt": (EXCHANGE_KEY, EXCHANGE_SECRET)}
# Alpaca key ids are upper-case letters and digits; paper accounts' start with PK,
# live accounts' with AK. A key of the other kind is refused before it is sent.
_ALPACA_KEY_RE = re.compile(r"^[A-Z0-9]{16,64}$")
_ALPACA_KIND = {"PK": "paper", "AK": "live"}
_PLACEHOLDER_RE = re.compile(r"^(changeme|change[-_ ]me|xxx+|\.\.\.|todo|<.*>|your[-_ ].*)$", re.IGNORECASE)


def needed(kind: str) -> tuple[str, ...]:
    """The environment variables a broker kind (or market data source) needs."""
    return _NEEDED.get(kind, ())


def problems(kind: str, env: Mapping[str, object], paper: bool | None = None) -> list[tuple[str, str]]:
    """(variable, what is wrong) per missing or malformed key for `kind`; with `paper`
    given (trading, not only market data), an Alpaca key of the other account kind too."""
    found = []
    for var in needed(kind):
        value = env.get(var)
        if value is None or str(value) == "":
            found.append((var, "is not set"))
            continue
        value = str(value)
        if any(c.isspace() for c in value):
            found.append((var, "contains white space"))
        elif _PLACEHOLDER_RE.match(value) or len(value) < 16:
            found.append((var, "looks like a placeholder (shorter than 16 characters, or e.g. 'changeme')"))
        elif var == ALPACA_KEY and not _ALPACA_KEY_RE.match(value):
            found.append((var, "must be upper-case letters and digits"))
        elif var == ALPACA_KEY and paper is not None and value[:2] in _ALPACA_KIND:
            wanted = "paper" if paper else "live"
            if _ALPACA_KIND[value[:2]] != wanted:
                found.append((var, f"is a {_ALPACA_KIND[value[:2]]} account's key ({value[:2]}...) "
                                   f"but the bot trades {wanted}"))
    return found
