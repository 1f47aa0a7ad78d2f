"""Versioned schema migrations shipped as package data.

Files are `migrations/NNNN_name.sql`, applied in order, each once, recorded in
schema_migrations. A transaction-level advisory lock serialises two processes
starting at the same moment (both bots on a host, or bot + `quantshift-db
migrate` from the deploy): the second waits, then sees the versions applied.
"""
from __future__ import annotations

import logging
import re
from importlib import resources

from .db import Database

log = logging.getLogger(__name__)

# Arbitrary constant shared by every quantshift process ("qsmigr" in ASCII).
MIGRATION_LOCK_KEY = 0x7173_6D69_6772

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def available() -> list[tuple[int, str, str]]:
    """[(version, name, sql)] from the package, in version order."""
    out = []
    for entry in resources.files("quantshift.store").joinpath("migrations").iterdir():
        m = _NAME_RE.match(entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    out.sort()
    versions = [v for v, _, _ in out]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return out


def migrate(db: Database) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    applied_now: list[int] = []
    with db.transaction() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        cur.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                           version    integer PRIMARY KEY,
                           name       text        NOT NULL,
                           applied_at timestamptz NOT NULL DEFAULT now())""")
        cur.execute("SELECT version FROM schema_migrations")
        done = {r[0] for r in cur.fetchall()}
        for version, name, sql in available():
            if version in done:
                continue
            log.info("applying migration %04d_%s", version, name)
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied_now.append(version)
    return applied_now


class SchemaNotCurrent(Exception):
    """The database lacks migrations this package needs (the deploy applies them)."""


def pending(db: Database) -> list[int]:
    done = set(applied(db))
    return [v for v, _, _ in available() if v not in done]


def require_current(db: Database) -> None:
    """Processes that trade never change the schema (their logins cannot): they
    wait for the deploy's `quantshift-db migrate` instead."""
    missing = pending(db)
    if missing:
        raise SchemaNotCurrent(f"schema lacks migrations {', '.join(f'{v:04d}' for v in missing)}: "
                               "run `quantshift-db migrate` as the schema owner (the deploy does)")


def grant_privileges(db: Database, grantees) -> bool:
    """Apply store/privileges.py to the group roles; True when anything changed."""
    from . import privileges

    with db.transaction() as cur:
        return privileges.grant(cur, grantees)


def schema_present(cur) -> bool:
    """Whether the tables exist at all (a fresh database before the first migrate)."""
    cur.execute("SELECT to_regclass('leader') IS NOT NULL")
    return bool(cur.fetchone()[0])


def applied(db: Database) -> list[int]:
    with db.transaction() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [r[0] for r in cur.fetchall()]
