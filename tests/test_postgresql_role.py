"""The postgresql role's arbiter hardening, on a real PostgreSQL 15: the rendered
server config starts a server with the TCP keepalives, and the role itself (run
with ansible-playbook against that server) gives the bot and monitor logins their
session limits, reports no change on the second run, and those limits really
free a row lock held by a session that went quiet inside a transaction."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import jinja2
import psycopg2
import psycopg2.errors
import pytest
import yaml

from pg_cluster import initdb

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles/postgresql"
BOT, MONITOR, OWNER, EXPORTER = "qs_bot_ct100", "qs_failover_monitor", "quantshift", "qs_postgres_exporter"


def defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults/main.yml").read_text())


def rendered_conf(**over) -> str:
    env = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True, undefined=jinja2.StrictUndefined)
    return env.from_string((ROLE / "templates/quantshift.conf.j2").read_text()).render(
        **{**defaults(), "ansible_managed": "test", **over})


@pytest.fixture(scope="module")
def server():
    """A PostgreSQL 15 whose postgresql.conf includes the role's rendered file."""
    c = initdb("qs-pgrole-")
    datadir, sockdir, port, tmp = c.datadir, c.sockdir, c.port, c.tmp
    conf = datadir / "quantshift.conf"
    conf.write_text(rendered_conf(postgresql_listen_addresses="127.0.0.1", postgresql_port=port))
    with (datadir / "postgresql.conf").open("a") as f:
        f.write(f"\ninclude = '{conf}'\nunix_socket_directories = '{sockdir}'\nfsync = off\n")
    if c.pre:
        shutil.chown(conf, "postgres", "postgres")
    # A parameter the server does not know, or a bad value, fails the start here.
    started = c.start()
    assert started.returncode == 0, started.stdout + started.stderr + (tmp / "pg.log").read_text()
    try:
        yield {"port": port, "sockdir": str(sockdir), "tmp": tmp}
    finally:
        c.stop()


def connect(server, user: str, dbname: str = "quantshift"):
    # TCP, not the socket: keepalive settings only exist on TCP connections.
    conn = psycopg2.connect(host="127.0.0.1", port=server["port"], user=user, dbname=dbname)
    conn.autocommit = True
    return conn


def show(server, user: str, names: list[str], dbname: str = "quantshift") -> dict[str, str]:
    with connect(server, user, dbname) as conn, conn.cursor() as cur:
        values = {}
        for name in names:
            cur.execute(f"SHOW {name}")
            values[name] = cur.fetchone()[0]
    conn.close()
    return values


def timed_select_for_update(conn, within: float) -> float:
    """Lock the probe row; returns the seconds it took. A client-side guard cancels
    the statement after `within` s, so a missing server limit fails, not hangs."""
    guard = threading.Timer(within, conn.cancel)
    guard.start()
    t0 = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM lock_probe FOR UPDATE")
            assert cur.fetchall() == [("equity",)]
    finally:
        guard.cancel()
        elapsed = time.monotonic() - t0
    return elapsed


def run_role(server) -> subprocess.CompletedProcess:
    """The whole role (argument specs, preflight, configure) with the server
    managed elsewhere, as production may run it."""
    playbook = server["tmp"] / "role.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "module_defaults": {"group/community.postgresql.all": {
            "login_unix_socket": server["sockdir"], "login_port": server["port"]}},
        "vars": {
            "ansible_python_interpreter": sys.executable,
            "postgresql_manage_server": False,
            "postgresql_owner_password": "o" * 20,
            "postgresql_monitor_password": "m" * 20,
            "postgresql_exporter_password": "e" * 20,
            "postgresql_bot_logins": [{"name": BOT, "password": "b" * 20, "address": "127.0.0.1"}],
        },
        "roles": [{"role": "postgresql"}],
    }]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PIPELINING": "1", "ANSIBLE_LOCALHOST_WARNING": "0",
           "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}"}
    return subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", str(playbook)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def changed(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stdout + result.stderr
    recap = re.search(r"^localhost\s+:.*\bchanged=(\d+)", result.stdout, re.M)
    assert recap, result.stdout
    return int(recap.group(1))


@pytest.fixture(scope="module")
def deployed(server):
    first = run_role(server)
    assert changed(first) > 0, first.stdout
    return server, first, run_role(server)


def test_rendered_server_config_has_the_keepalives_and_the_server_applies_them(server):
    text = rendered_conf()
    for line in ("tcp_keepalives_idle = 10", "tcp_keepalives_interval = 5", "tcp_keepalives_count = 3",
                 "tcp_user_timeout = 15000"):
        assert re.search(rf"(?m)^{line}$", text), line
    # SHOW reads them back from the connection's own socket (getsockopt).
    assert show(server, "postgres", ["tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
                                     "tcp_user_timeout"], dbname="postgres") == {
        "tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3",
        "tcp_user_timeout": "15000"}


def test_second_role_run_changes_nothing(deployed):
    _, _, second = deployed
    assert changed(second) == 0, second.stdout


def test_bot_and_monitor_logins_get_the_session_limits_and_the_owner_does_not(deployed):
    server, _, _ = deployed
    names = ["idle_in_transaction_session_timeout", "statement_timeout"]
    for login in (BOT, MONITOR):
        assert show(server, login, names) == {"idle_in_transaction_session_timeout": "10s",
                                              "statement_timeout": "5s"}, login
    assert show(server, OWNER, names) == {"idle_in_transaction_session_timeout": "0", "statement_timeout": "0"}


def test_the_exporter_login_reads_statistics_and_nothing_of_the_ledger(deployed):
    server, _, _ = deployed
    with connect(server, "postgres", "postgres") as admin, admin.cursor() as cur:
        cur.execute("""SELECT pg_has_role(%(r)s, 'pg_monitor', 'MEMBER'), r.rolsuper, r.rolcreaterole, r.rolcreatedb,
                              has_database_privilege(%(r)s, 'quantshift', 'CONNECT'),
                              (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid)
                       FROM pg_roles r WHERE r.rolname = %(r)s""", {"r": EXPORTER})
        assert cur.fetchone() == (True, False, False, False, False, 1)
    admin.close()


def test_a_lock_held_by_a_session_gone_quiet_in_a_transaction_is_freed(deployed):
    server, _, _ = deployed
    with connect(server, "postgres") as admin, admin.cursor() as cur:
        cur.execute("CREATE TABLE lock_probe (account text PRIMARY KEY)")
        cur.execute("INSERT INTO lock_probe VALUES ('equity')")
        cur.execute(f"GRANT SELECT, UPDATE ON lock_probe TO {BOT}, {MONITOR}")
    admin.close()
    # The old holder takes the row lock and goes silent (a process frozen, or the
    # network gone, between two statements of its transaction).
    holder = connect(server, BOT)
    holder.autocommit = False
    holder.cursor().execute("SELECT * FROM lock_probe FOR UPDATE")
    quiet_since = time.monotonic()
    taker = connect(server, MONITOR)
    # statement_timeout: a waiter is cancelled by the server, it does not hang behind the lock.
    t0 = time.monotonic()
    with pytest.raises(psycopg2.errors.QueryCanceled, match="statement timeout"):
        timed_select_for_update(taker, within=15)
    assert time.monotonic() - t0 < 8
    # idle_in_transaction_session_timeout: the quiet holder is ended, the lock freed.
    time.sleep(max(0.0, quiet_since + 10.5 - time.monotonic()))
    assert timed_select_for_update(taker, within=5) < 2
    taker.close()
    with pytest.raises(psycopg2.OperationalError):
        holder.cursor().execute("SELECT 1")
    holder.close()
