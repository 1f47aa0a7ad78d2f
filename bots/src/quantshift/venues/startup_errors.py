"""Why a selected adapter cannot start: reported by the CLI as one config line
and exit 78, never as a failure in every cycle. Credentials are not checked
here: config.py requires them at load."""
from __future__ import annotations

import importlib.util


class ExtraMissing(Exception):
    """An optional dependency of the selected adapter is not installed (or,
    through AdapterConfigError, its configuration cannot work)."""


class AdapterConfigError(ExtraMissing):
    """The adapter cannot work as configured: unknown exchange id, no sandbox for
    paper trading, a timeframe the venue lacks. Subclasses ExtraMissing so the
    CLI reports both the same way."""


def require_extra(module: str, extra: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ExtraMissing(f"{what} needs the '{extra}' extra: pip install 'quantshift[{extra}]'")
