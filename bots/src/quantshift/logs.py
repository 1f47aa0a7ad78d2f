"""Logging: structured journald entries under systemd, plain lines elsewhere.

Under systemd (stdout is the journal stream named by JOURNAL_STREAM) every
record goes to journald through systemd-python's JournalHandler with fields an
operator can filter on:

    journalctl -u quantshift-equity ACCOUNT=equity CLIENT_ORDER_ID=qs-equity-e3-...

The process-wide fields (ACCOUNT, HOST, EPOCH) are bound once by the component
(`bind`). An order's fields (CLIENT_ORDER_ID, SYMBOL) reach every line logged
while it is being worked on (`with order(coid, symbol):`), the broker adapters'
and retries' lines included; a single call can pass its own with `fields(...)`
(e.g. EPOCH of an older epoch's order).
Outside systemd - a terminal, `--once`, tests - the lines stay plain text on
stdout. systemd-python comes from Debian's python3-systemd on the hosts (the
role links it into the venv); where it is missing, plain lines go to the
journal unchanged and one warning says the fields are off.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from typing import Callable, Iterator

# The journal fields this package sets; journald accepts upper-case names only.
FIELDS = ("ACCOUNT", "HOST", "EPOCH", "CLIENT_ORDER_ID", "SYMBOL")
_KEYWORDS = {f.lower(): f for f in FIELDS}

_PLAIN = "%(levelname)s %(name)s: %(message)s"


def fields(**values) -> dict:
    """`extra=` for a log call: fields(client_order_id=coid, symbol="AAPL").
    None values are left out, so a call site need not check what it knows."""
    out = {}
    for k, v in values.items():
        name = _KEYWORDS.get(k)
        if name is None:
            raise ValueError(f"unknown journal field {k!r} (known: {', '.join(_KEYWORDS)})")
        if v is not None:
            out[name] = str(v)
    return {"extra": out}


_order: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("quantshift_order", default=None)


@contextlib.contextmanager
def order(client_order_id: str, symbol: str | None = None) -> Iterator[None]:
    """Every record logged inside the block carries the order's fields."""
    token = _order.set(fields(client_order_id=client_order_id, symbol=symbol)["extra"])
    try:
        yield
    finally:
        _order.reset(token)


class _Bound(logging.Filter):
    """Adds the current order's and the process-wide fields to every record that
    does not carry its own."""

    def __init__(self):
        super().__init__()
        self.static: dict[str, str] = {}
        self.dynamic: dict[str, Callable[[], object]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_order.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        for name, value in self.static.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        for name, read in self.dynamic.items():
            if not hasattr(record, name):
                try:
                    value = read()
                except Exception:  # a field must never cost the log line
                    value = None
                if value is not None:
                    setattr(record, name, str(value))
        return True


_bound = _Bound()


def bind(*, account: str | None = None, host: str | None = None, epoch: Callable[[], object] | None = None) -> None:
    """The fields of this process: account and host are fixed, epoch is read at
    each record (it changes when the lease is taken over)."""
    for key, value in (("account", account), ("host", host)):
        if value is not None:
            _bound.static[_KEYWORDS[key]] = str(value)
    if epoch is not None:
        _bound.dynamic["EPOCH"] = epoch


def under_journal(env=os.environ, stream=None) -> bool:
    """True when `stream` (stdout) is the journal stream systemd connected:
    JOURNAL_STREAM is "<device>:<inode>" of that socket (systemd.exec(5))."""
    value = env.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat((stream or sys.stdout).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def journal_handler(identifier: str) -> logging.Handler | None:
    """systemd-python's handler (bare messages: journald keeps level and logger as
    fields), or None where systemd-python is not importable."""
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    handler = JournalHandler(SYSLOG_IDENTIFIER=identifier)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def _install(handler: logging.Handler, level: str) -> None:
    """The root logger's only handler, with this process's fields bound."""
    handler.addFilter(_bound)
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True)


def setup(level: str = "INFO", *, identifier: str = "quantshift", env=os.environ) -> str:
    """Configure the root logger; returns "journal" or "stdout"."""
    journal = under_journal(env)
    handler = journal_handler(identifier) if journal else None
    if handler is not None:
        _install(handler, level)
        return "journal"
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(_PLAIN))
    _install(handler, level)
    if journal:
        logging.getLogger("quantshift").warning(
            "python3-systemd is not importable: journal entries carry no ACCOUNT/CLIENT_ORDER_ID fields")
    return "stdout"


JOURNAL_SOCKET = "/run/systemd/journal/socket"


def also_to_journal(identifier: str, level: str = "INFO", socket_path: str = JOURNAL_SOCKET) -> bool:
    """For commands whose stdout is their answer (quantshift-ha prints JSON for the
    playbooks): their events go to the host's journal with fields, nothing to
    stdout. False where there is no journal or no systemd-python."""
    handler = journal_handler(identifier) if os.path.exists(socket_path) else None
    if handler is None:
        return False
    _install(handler, level)
    return True
