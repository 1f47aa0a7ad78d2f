"""Least privilege: the schema owner migrates and grants; the per-host bot logins
trade but cannot change the schema; the failover monitor's login takes leases
over but cannot trade. Real PostgreSQL, real logins, the CLIs the deploy runs."""
from __future__ import annotations

import os
import uuid

import psycopg2
import pytest

from quantshift.store import Database, failover_events, leader_lease, migrate, orders
from quantshift.store.privileges import BOT_TABLES, MONITOR_TABLES, unmapped_tables

from .conftest import create_database
from .test_cli import _config, run


@pytest.fixture
def logins(pg_server):
    """Owner, two group roles and their member logins, like roles/postgresql makes
    them, plus a database owned by the owner. Dropped afterwards (roles are
    cluster-wide)."""
    sfx = uuid.uuid4().hex[:8]
    names = {k: f"qs_{k}_{sfx}" for k in ("owner", "bots", "monitors", "bot_ct100", "monitor")}
    dbname = f"qs_priv_{sfx}"
    admin = psycopg2.connect(host=pg_server["host"], port=pg_server["port"], user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{names["owner"]}" LOGIN')
        cur.execute(f'CREATE ROLE "{names["bots"]}" NOLOGIN')
        cur.execute(f'CREATE ROLE "{names["monitors"]}" NOLOGIN')
        cur.execute(f'CREATE ROLE "{names["bot_ct100"]}" LOGIN IN ROLE "{names["bots"]}"')
        cur.execute(f'CREATE ROLE "{names["monitor"]}" LOGIN IN ROLE "{names["monitors"]}"')
        cur.execute(f'CREATE DATABASE "{dbname}" OWNER "{names["owner"]}" TEMPLATE template0')
    base = f"host={pg_server['host']} port={pg_server['port']} dbname={dbname}"
    yield {k: v for k, v in names.items()} | {"dsn": lambda user: f"{base} user={user}"}
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
        for role in ("bot_ct100", "monitor", "bots", "monitors", "owner"):
            cur.execute(f'DROP ROLE "{names[role]}"')
    admin.close()


def _migrate_as_owner(cfg, logins):
    return run("quantshift-db", "--config", cfg, "migrate", "--owner", logins["owner"],
               "--grant-bots", logins["bots"], "--grant-monitor", logins["monitors"],
               env={**os.environ, "QUANTSHIFT_DB_OWNER_PASSWORD": "owner-secret"})


def _denied(dsn: str, statement: str) -> str:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege) as e:
                cur.execute(statement)
        return str(e.value)
    finally:
        conn.close()


def test_every_table_of_the_schema_has_a_privilege_entry(db):
    with db.transaction() as cur:
        assert unmapped_tables(cur) == set()
        cur.execute("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
        tables = {r[0] for r in cur.fetchall()}
    # ...and the maps name no table that does not exist.
    assert set(BOT_TABLES) == tables and set(MONITOR_TABLES) == tables


def test_bot_login_trades_but_cannot_change_the_schema(tmp_path, logins, redis_url):
    owner_cfg = _config(tmp_path, logins["dsn"](logins["bot_ct100"]), redis_url)
    r = _migrate_as_owner(owner_cfg, logins)
    assert r.returncode == 0, r.stderr
    assert "applied now: 0001, 0002, 0003" in r.stdout and "privileges updated" in r.stdout
    assert "owner-secret" not in r.stdout + r.stderr
    again = _migrate_as_owner(owner_cfg, logins)
    assert "applied now: none" in again.stdout and "privileges unchanged" in again.stdout

    # The bot's own config names its own login: the whole trading path works.
    cfg = owner_cfg
    assert run("quantshift-lease", "--config", cfg, "init", "--holder", "ct100").returncode == 0
    r = run("quantshift-bot", "--config", cfg, "--once")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "filled buy" in r.stdout

    bot = logins["dsn"](logins["bot_ct100"])
    assert "must be owner" in _denied(bot, "DROP TABLE orders")
    assert "must be owner" in _denied(bot, "ALTER TABLE orders ADD COLUMN x int")
    assert "permission denied for schema public" in _denied(bot, "CREATE TABLE sneaky (x int)")
    assert "permission denied" in _denied(bot, "INSERT INTO schema_migrations (version, name) VALUES (9, 'x')")
    # A trading login asked to migrate fails with one line and changes nothing.
    r = run("quantshift-db", "--config", cfg, "migrate")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "permission denied" in r.stderr


def test_monitor_login_takes_a_lease_over_but_cannot_trade(tmp_path, logins, redis_url):
    cfg = _config(tmp_path, logins["dsn"](logins["bot_ct100"]), redis_url)
    assert _migrate_as_owner(cfg, logins).returncode == 0
    assert run("quantshift-lease", "--config", cfg, "init", "--holder", "ct100").returncode == 0

    mon = logins["dsn"](logins["monitor"])
    d = Database(mon)
    try:
        ll = leader_lease.LeaderLease(d)
        with d.transaction() as cur:
            cur.execute("UPDATE leader SET lease_expires_at = now() - interval '1 second'")
        lease = ll.take_over_if_expired("equity", "ct101", ttl=10)
        assert lease is not None and lease.holder == "ct101" and lease.epoch == 2
        with d.transaction() as cur:
            failover_events.record(cur, "failover", account="equity", from_holder="ct100", to_holder="ct101",
                                   epoch=2)
            orders.recent(cur, "equity")   # reading is allowed
    finally:
        d.close()
    assert "permission denied" in _denied(mon, "INSERT INTO orders (client_order_id) VALUES ('x')")
    assert "permission denied" in _denied(mon, "DELETE FROM positions")
    assert "permission denied" in _denied(mon, "UPDATE bot_status SET status = 'PRIMARY'")
    assert "must be owner" in _denied(mon, "DROP TABLE leader")


def test_migrate_without_the_group_roles_fails_with_one_line_and_changes_nothing(tmp_path, pg_dsn, redis_url):
    cfg = _config(tmp_path, pg_dsn, redis_url)
    r = run("quantshift-db", "--config", cfg, "migrate", "--grant-bots", "no_such_role", "--grant-monitor", "x")
    assert r.returncode == 1
    assert r.stderr.strip() == "quantshift-db migrate: role 'no_such_role' does not exist (the postgresql role creates it)"
    r = run("quantshift-db", "--config", cfg, "migrate", "--grant-bots", "only_one")
    assert r.returncode == 2 and "--grant-bots and --grant-monitor go together" in r.stderr
    r = run("quantshift-db", "--config", cfg, "migrate", "--owner", "someone",
            env={k: v for k, v in os.environ.items() if k != "QUANTSHIFT_DB_OWNER_PASSWORD"})
    assert r.returncode == 78 and "QUANTSHIFT_DB_OWNER_PASSWORD" in r.stderr


def test_a_bot_on_an_unmigrated_database_waits_with_a_clear_reason(make_cfg, pg_server):
    from quantshift.bot import Bot, StartupError
    from quantshift.metrics import BotMetrics
    from quantshift.watchdog import Notifier

    empty = create_database(pg_server)
    cfg = make_cfg(database={"dsn": empty})
    m = BotMetrics(cfg.metrics_prefix, 0, "127.0.0.1")
    bot = Bot(cfg, metrics=m, notifier=Notifier(env={}))
    try:
        with pytest.raises(StartupError, match="schema lacks migrations 0001, 0002, 0003: run `quantshift-db migrate`"):
            bot.start(wait=False)
    finally:
        bot.shutdown()
        m.stop()
    assert migrate(Database(empty)) == [1, 2, 3]   # it changed nothing
