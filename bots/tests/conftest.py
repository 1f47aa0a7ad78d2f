"""Session fixtures: a REAL PostgreSQL 15 and a REAL redis-server, started here in
a temp dir on free loopback ports. A missing binary fails loudly (no skip):
these tests exist to prove the bot against the real services.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import quantshift  # noqa: F401  (sets single-threaded BLAS before numpy loads)

PG_BIN = Path(os.environ.get("QUANTSHIFT_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_pg_user() -> list[str]:
    # initdb refuses to run as root: run the server as the postgres system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"]
    return []


@pytest.fixture(scope="session")
def pg_server():
    for b in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / b).exists():
            pytest.fail(f"PostgreSQL binary {PG_BIN / b} missing: install postgresql-15 (tests need a real server)")
    tmp = Path(tempfile.mkdtemp(prefix="qs-pg-"))
    datadir, sockdir = tmp / "data", tmp / "sock"
    sockdir.mkdir()
    os.chmod(tmp, 0o755)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for p in (tmp, sockdir):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    port = free_port()
    pre = _as_pg_user()
    subprocess.run(pre + [str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust",
                          "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    opts = (f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            f"-c full_page_writes=off -c max_connections=100")
    subprocess.run(pre + [str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(tmp / "pg.log"),
                          "-w", "-t", "60", "start"], check=True, capture_output=True)
    try:
        yield {"host": "127.0.0.1", "port": port, "user": "postgres"}
    finally:
        subprocess.run(pre + [str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(pg_server, prefix: str = "qs_") -> str:
    """Create an empty database on the test server; returns its DSN."""
    import psycopg2

    name = prefix + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(host=pg_server["host"], port=pg_server["port"], user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    admin.close()
    return f"host={pg_server['host']} port={pg_server['port']} user=postgres dbname={name}"


@pytest.fixture
def pg_dsn(pg_server) -> str:
    """A fresh, empty database per test."""
    yield create_database(pg_server)


@pytest.fixture
def migrated_dsn(pg_dsn):
    """A fresh database with the schema applied, as the deploy leaves it before
    any bot starts (trading logins cannot migrate)."""
    from quantshift.store import Database, migrate

    d = Database(pg_dsn)
    migrate(d)
    d.close()
    return pg_dsn


@pytest.fixture
def db(pg_dsn):
    from quantshift.store import Database, migrate

    d = Database(pg_dsn)
    migrate(d)
    yield d
    d.close()


@pytest.fixture(scope="session")
def redis_server():
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server not on PATH: install the Debian package redis-server (tests need a real server)")
    tmp = Path(tempfile.mkdtemp(prefix="qs-redis-"))
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp), "--daemonize", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server):
    import redis

    r = redis.Redis.from_url(redis_server)
    r.flushall()
    r.close()
    return redis_server


SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]


@pytest.fixture
def make_cfg(migrated_dsn, redis_url, tmp_path):
    """Build a BotConfig dict for a test, with the real DB and Redis. Each host
    id gets its own lock directory, as each real host has its own /run."""
    from quantshift import config

    def _make(**over):
        lock_dir = tmp_path / "run" / over.get("host_id", "ct100")
        lock_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "lock_dir": str(lock_dir),
            "name": "equity", "host_id": "ct100", "metrics_port": 9200, "cycle_interval_seconds": 1,
            "heartbeat_interval_seconds": 1, "lease_ttl_seconds": 10, "lease_safety_margin_seconds": 1,
            "database": {"dsn": migrated_dsn}, "redis": {"url": redis_url},
            "marketdata": {"seed": 3, "lookback_bars": 120},
            "symbols": list(SYMBOLS),
            "risk": {"position_size_usd": 5000, "max_position_usd": 10000, "max_open_positions": 5},
        }
        for k, v in over.items():
            if isinstance(v, dict) and isinstance(data.get(k), dict):
                data[k] = {**data[k], **v}
            else:
                data[k] = v
        return config.from_mapping(data, "test.yaml", env={})

    return _make
