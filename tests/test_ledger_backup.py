"""The ledger backup (roles/ledger_backup/files/ledger_backup.py) on a real
PostgreSQL 15: a dump and its row counts come from one snapshot, the restore
reproduces every table's count (and says so, or fails), retention prunes only
after a complete dump and never the newest, a failed dump prunes nothing and is
published as failed, and the metrics file is what node-exporter reads."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
from pathlib import Path

import psycopg2
import pytest

from pg_cluster import initdb

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("ledger_backup", ROOT / "roles/ledger_backup/files/ledger_backup.py")
lb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lb)
UTC = dt.timezone.utc


def fake_dumps(directory: Path, *stamps: str) -> list[Path]:
    paths = []
    for stamp in stamps:
        p = directory / f"ledger-{stamp}.dump"
        p.write_bytes(b"x" * 10)
        Path(f"{p}.json").write_text("{}")
        paths.append(p)
    return paths


def test_retention_keeps_the_newest_count_drops_the_old_and_never_the_newest(tmp_path):
    fake_dumps(tmp_path, "20261201T000000Z", "20261120T000000Z", "20261202T000000Z", "20261202T010000Z")
    (tmp_path / ".ledger-20261202T020000Z.dump.tmp").write_bytes(b"partial")
    found = lb.dumps(tmp_path)
    assert [p.name[7:22] for p in found] == ["20261202T010000", "20261202T000000", "20261201T000000", "20261120T000000"]
    now = dt.datetime(2026, 12, 2, 2, tzinfo=UTC)
    assert [p.name for p in lb.to_prune(found, 3, 0, now)] == ["ledger-20261120T000000Z.dump"]
    assert [p.name for p in lb.to_prune(found, 10, 7, now)] == ["ledger-20261120T000000Z.dump"]
    assert [p.name for p in lb.to_prune(found, 2, 0, now)] == ["ledger-20261201T000000Z.dump",
                                                                "ledger-20261120T000000Z.dump"]
    # every dump is older than a day: the newest one still stays
    later = dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert [p.name for p in lb.to_prune(found, 10, 1, later)] == [p.name for p in found[1:]]


def test_metrics_name_the_newest_dump_and_say_never_without_one(tmp_path):
    fake_dumps(tmp_path, "20261202T010000Z", "20261202T000000Z")
    text = lb.metrics_text(lb.dumps(tmp_path), True, 3600)
    stamp = int(dt.datetime(2026, 12, 2, 1, tzinfo=UTC).timestamp())
    assert f"quantshift_ledger_last_backup_timestamp_seconds {stamp}\n" in text
    assert "quantshift_ledger_last_backup_size_bytes 10\n" in text
    assert "quantshift_ledger_last_backup_success 1\n" in text
    assert "quantshift_ledger_backup_interval_seconds 3600\n" in text
    assert "quantshift_ledger_backups_kept 2\n" in text
    never = lb.metrics_text([], False, 3600)
    assert "quantshift_ledger_last_backup_success 0\n" in never
    assert "timestamp" not in never and "size_bytes" not in never
    # every sample has its HELP and TYPE, as the textfile collector wants
    samples = [line.split()[0] for line in text.splitlines() if not line.startswith("#")]
    assert samples and all(f"# TYPE {name} gauge" in text for name in samples)


def test_write_atomic_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "x.prom"
    target.write_text("old\n")
    lb.write_atomic(target, "new\n", 0o644)
    assert target.read_text() == "new\n"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["x.prom"]


@pytest.fixture(scope="module")
def server():
    c = initdb("qs-ledger-")
    datadir, sockdir, port, tmp = c.datadir, c.sockdir, c.port, c.tmp
    with (datadir / "postgresql.conf").open("a") as f:
        f.write(f"\nport = {port}\nlisten_addresses = ''\nunix_socket_directories = '{sockdir}'\nfsync = off\n")
    started = c.start()
    assert started.returncode == 0, started.stdout + started.stderr
    env = {"PGHOST": str(sockdir), "PGPORT": str(port), "PGUSER": "postgres"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        admin = psycopg2.connect(dbname="postgres")
        admin.autocommit = True
        admin.cursor().execute("CREATE DATABASE quantshift")
        admin.close()
        conn = psycopg2.connect(dbname="quantshift")
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE leader (account text PRIMARY KEY, epoch int)")
            cur.execute("CREATE TABLE orders (id serial PRIMARY KEY, account text)")
            cur.execute("CREATE TABLE fills (id serial PRIMARY KEY, order_id int REFERENCES orders)")
            cur.execute("INSERT INTO leader VALUES ('equity', 3), ('crypto', 1)")
            cur.execute("INSERT INTO orders (account) SELECT 'equity' FROM generate_series(1, 25)")
            cur.execute("INSERT INTO fills (order_id) SELECT id FROM orders WHERE id <= 17")
        conn.close()
        yield tmp
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        c.stop()


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "dumps").mkdir()
    (tmp_path / "textfile").mkdir()
    return {"database": "quantshift", "dir": str(tmp_path / "dumps"), "interval_seconds": 3600, "keep_count": 2,
            "keep_days": 7, "textfile_dir": str(tmp_path / "textfile")}


def test_backup_then_restore_reproduces_every_tables_row_count(server, cfg, capsys):
    assert lb.backup(cfg) == 0
    (dump,) = lb.dumps(Path(cfg["dir"]))
    manifest = json.loads(Path(f"{dump}.json").read_text())["tables"]
    assert manifest == {"public.leader": 2, "public.orders": 25, "public.fills": 17}
    prom = (Path(cfg["textfile_dir"]) / lb.PROM_NAME).read_text()
    assert "quantshift_ledger_last_backup_success 1\n" in prom
    assert f"quantshift_ledger_last_backup_size_bytes {dump.stat().st_size}\n" in prom
    capsys.readouterr()
    assert lb.restore(cfg, "ledger_restore_check", "latest", replace=False) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["equal"] is True and verdict["restored"] == manifest and verdict["dump"] == dump.name
    # an existing target is only replaced on request
    assert lb.restore(cfg, "ledger_restore_check", dump.name, replace=False) == 1
    assert lb.restore(cfg, "ledger_restore_check", dump.name, replace=True) == 0


def test_a_restore_that_differs_from_the_dump_fails(server, cfg, capsys):
    assert lb.backup(cfg) == 0
    (dump,) = lb.dumps(Path(cfg["dir"]))
    manifest = Path(f"{dump}.json")
    data = json.loads(manifest.read_text())
    data["tables"]["public.orders"] += 1  # the dump claims a row the restore cannot produce
    manifest.write_text(json.dumps(data))
    capsys.readouterr()
    assert lb.restore(cfg, "ledger_restore_bad", "latest", replace=True) == 1
    assert json.loads(capsys.readouterr().out)["equal"] is False


def test_a_failed_dump_prunes_nothing_and_is_published_as_failed(server, cfg):
    old = fake_dumps(Path(cfg["dir"]), "20200101T000000Z", "20200102T000000Z", "20200103T000000Z")
    assert lb.backup({**cfg, "database": "no_such_database"}) == 1
    assert all(p.exists() for p in old), "a failing backup must never eat the old dumps"
    assert not list(Path(cfg["dir"]).glob(".ledger-*.tmp"))
    prom = (Path(cfg["textfile_dir"]) / lb.PROM_NAME).read_text()
    assert "quantshift_ledger_last_backup_success 0\n" in prom
    stamp = int(dt.datetime(2020, 1, 3, tzinfo=UTC).timestamp())
    assert f"quantshift_ledger_last_backup_timestamp_seconds {stamp}\n" in prom
    # the next good dump prunes by retention: keep_count 2, keep_days 7 -> the new one only
    assert lb.backup(cfg) == 0
    assert [p.name[:9] for p in lb.dumps(Path(cfg["dir"]))] == ["ledger-20"]
    assert not any(p.exists() for p in old)
