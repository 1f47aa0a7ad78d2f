"""What each kind of login may do to each table: least privilege, one map.

The schema owner (the login that runs migrations, from the deploy only) grants
these to two group roles the database role creates; the per-host bot logins and
the failover monitor's login are members. No group may CREATE, ALTER or DROP
anything. A table missing from the map is a programming error: `grant()` refuses
to run, and a unit test compares the map with the migrated schema.
"""
from __future__ import annotations

from dataclasses import dataclass

# table -> privileges. Bots trade: they write their own rows of every table.
BOT_TABLES: dict[str, tuple[str, ...]] = {
    "schema_migrations": ("SELECT",),
    "leader": ("SELECT", "INSERT", "UPDATE"),          # init, renew, stand down
    "bot_status": ("SELECT", "INSERT", "UPDATE"),      # heartbeats
    "orders": ("SELECT", "INSERT", "UPDATE"),
    "fills": ("SELECT", "INSERT"),
    "positions": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # a closed position is deleted
    "cash": ("SELECT", "INSERT", "UPDATE"),
    "daily_pnl": ("SELECT", "INSERT", "UPDATE"),
    "failover_events": ("SELECT", "INSERT"),
    "fenced_orders": ("SELECT", "INSERT"),             # the holder's detection at the broker
    "decided_bars": ("SELECT", "INSERT"),              # the coordinator's once-per-bar decisions
    "monitor_checks": ("SELECT",),
}
# The failover monitor (and quantshift-ha) reads everything, takes leases over
# and records what it did; it never touches orders, fills or positions.
MONITOR_TABLES: dict[str, tuple[str, ...]] = {
    **{table: ("SELECT",) for table in BOT_TABLES},
    "leader": ("SELECT", "UPDATE"),
    "failover_events": ("SELECT", "INSERT"),
    "monitor_checks": ("SELECT", "INSERT", "UPDATE"),  # arbiter reachability, per monitor host
}


@dataclass(frozen=True)
class Grantees:
    bots: str
    monitor: str


def _tables(cur) -> set[str]:
    cur.execute("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
    return {r[0] for r in cur.fetchall()}


def _acl_snapshot(cur) -> list[tuple]:
    cur.execute("""SELECT relname, relacl::text FROM pg_class
                   WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S') ORDER BY relname""")
    return cur.fetchall()


def unmapped_tables(cur) -> set[str]:
    """Tables of the schema that the privilege maps do not mention."""
    return _tables(cur) - set(BOT_TABLES)


def grant(cur, grantees: Grantees) -> bool:
    """Make the groups' privileges exactly the maps (revoke, then grant, in the
    caller's transaction). Returns True when any privilege changed."""
    from psycopg2 import sql

    missing = unmapped_tables(cur)
    if missing:
        raise RuntimeError(f"tables without a privilege entry in store/privileges.py: {sorted(missing)}")
    for role in (grantees.bots, grantees.monitor):
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            raise RuntimeError(f"role {role!r} does not exist (the postgresql role creates it)")
    before = _acl_snapshot(cur)
    sequences = _id_sequences(cur)
    for role, tables in ((grantees.bots, BOT_TABLES), (grantees.monitor, MONITOR_TABLES)):
        r = sql.Identifier(role)
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(r))
        cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(r))
        cur.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(r))
        for table, privs in tables.items():
            cur.execute(sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privs), sql.Identifier(table), r))
            if "INSERT" in privs and table in sequences:
                # bigserial ids: inserting needs nextval() on the table's sequence.
                cur.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.SQL(sequences[table]), r))
    return _acl_snapshot(cur) != before


def _id_sequences(cur) -> dict[str, str]:
    """table -> the (quoted, qualified) sequence behind its serial `id` column."""
    cur.execute("""SELECT table_name, pg_get_serial_sequence(quote_ident(table_name), 'id')
                   FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'id'""")
    return {table: seq for table, seq in cur.fetchall() if seq}
