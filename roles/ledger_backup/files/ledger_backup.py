#!/usr/bin/python3
"""The ledger's backups on the database host (installed by roles/ledger_backup).

  quantshift-ledger-backup                 one dump now: pg_dump --format=custom of the
                                           ledger, written atomically, then pruned by
                                           retention, the result published for node-exporter
  quantshift-ledger-restore --target DB [--dump NAME|latest] [--replace]
                                           restore a dump into DB and check every table's
                                           row count against the dump's own counts

Settings come from /etc/quantshift-ledger-backup.json (written by the role). Both run
as the postgres system user (root is switched to it) and reach the server over its
Unix socket. The restore prints one JSON verdict on stdout and exits 1 on a mismatch.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import subprocess
import sys
from pathlib import Path

CONFIG = Path(os.environ.get("QUANTSHIFT_LEDGER_BACKUP_CONFIG", "/etc/quantshift-ledger-backup.json"))
# ledger-20261202T140000Z.dump (UTC, so names sort in time order) and its row counts
# ledger-20261202T140000Z.dump.json, taken in the same snapshot as the dump.
DUMP = re.compile(r"^ledger-(\d{8}T\d{6}Z)\.dump$")
PROM_NAME = "quantshift_ledger_backup.prom"
METRICS = {
    "quantshift_ledger_last_backup_timestamp_seconds": "Time (unix) the newest complete ledger dump was taken.",
    "quantshift_ledger_last_backup_size_bytes": "Size of the newest complete ledger dump.",
    "quantshift_ledger_last_backup_success": "1 if the last backup run succeeded, 0 if it failed.",
    "quantshift_ledger_backup_interval_seconds": "Configured time between two backups (the stale alert uses it).",
    "quantshift_ledger_backups_kept": "Complete dumps kept after pruning.",
}


class BackupError(Exception):
    pass


# ------------------------------------------------------------------ files
def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str, mode: int) -> None:
    """Readers see the old file or the new one, never a part (temp, fsync, rename)."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)


def dumps(directory: Path) -> list[Path]:
    """Complete dumps, newest first (temp files start with a dot and never match)."""
    return sorted((p for p in directory.iterdir() if DUMP.match(p.name)), key=lambda p: p.name, reverse=True)


def taken_at(dump: Path) -> dt.datetime:
    return dt.datetime.strptime(DUMP.match(dump.name).group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def to_prune(found: list[Path], keep_count: int, keep_days: int, now: dt.datetime) -> list[Path]:
    """Dumps beyond the newest keep_count, or older than keep_days (0: no age limit);
    never the newest one."""
    out = []
    for i, dump in enumerate(found):
        too_many = i >= keep_count
        too_old = keep_days > 0 and now - taken_at(dump) > dt.timedelta(days=keep_days)
        if i > 0 and (too_many or too_old):
            out.append(dump)
    return out


def metrics_text(found: list[Path], success: bool, interval: int) -> str:
    values = {
        "quantshift_ledger_last_backup_success": 1 if success else 0,
        "quantshift_ledger_backup_interval_seconds": interval,
        "quantshift_ledger_backups_kept": len(found),
    }
    if found:  # no dump yet: no timestamp, which the stale alert reads as "never"
        values["quantshift_ledger_last_backup_timestamp_seconds"] = int(taken_at(found[0]).timestamp())
        values["quantshift_ledger_last_backup_size_bytes"] = found[0].stat().st_size
    lines = []
    for name, help_ in METRICS.items():
        if name in values:
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {values[name]}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------- database
def connect(database: str):
    import psycopg2  # Debian's python3-psycopg2 (the role installs it)

    return psycopg2.connect(dbname=database)


def table_counts(cur) -> dict[str, int]:
    """Row count of every table outside the system schemas, in the cursor's snapshot."""
    from psycopg2 import sql

    cur.execute("""SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg_toast%%' ORDER BY 1, 2""")
    counts = {}
    for schema, table in cur.fetchall():
        cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
        counts[f"{schema}.{table}"] = cur.fetchone()[0]
    return counts


def take_dump(database: str, directory: Path, now: dt.datetime) -> Path:
    """pg_dump in an exported snapshot, and the row counts of that same snapshot, so a
    restore can be checked against exactly what was dumped while the bots write."""
    dump = directory / f"ledger-{now:%Y%m%dT%H%M%SZ}.dump"
    tmp = directory / f".{dump.name}.tmp"
    try:
        conn = connect(database)
        try:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with conn.cursor() as cur:
                cur.execute("SELECT pg_export_snapshot()")
                snapshot = cur.fetchone()[0]
                result = subprocess.run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={tmp}",
                                         f"--dbname={database}"], capture_output=True, text=True)
                if result.returncode != 0:
                    raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
                counts = table_counts(cur)
            conn.rollback()
        finally:
            conn.close()
        fsync_file(tmp)
        write_atomic(Path(f"{dump}.json"), json.dumps({"database": database, "tables": counts}, sort_keys=True)
                     + "\n", 0o600)
        os.replace(tmp, dump)
    finally:
        tmp.unlink(missing_ok=True)  # a dump that did not complete is never left behind
    fsync_dir(directory)
    return dump


# ---------------------------------------------------------------- commands
def load_config() -> dict:
    return json.loads(CONFIG.read_text())


def as_postgres(argv: list[str]) -> None:
    """root runs the same command as postgres (peer authentication, the dumps' owner)."""
    if os.geteuid() == 0:
        os.execvp("runuser", ["runuser", "-u", "postgres", "--", sys.executable, os.path.abspath(argv[0]), *argv[1:]])


def backup(cfg: dict) -> int:
    directory = Path(cfg["dir"])
    prom = Path(cfg["textfile_dir"]) / PROM_NAME
    with open(directory / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("ledger backup: another backup is running", file=sys.stderr)
            return 1
        for stale in directory.glob(".ledger-*.tmp"):  # left by a run that died
            stale.unlink()
        now = dt.datetime.now(dt.timezone.utc)
        try:
            dump = take_dump(cfg["database"], directory, now)
        except Exception as exc:  # noqa: BLE001 - any failure is published, then reported
            write_atomic(prom, metrics_text(dumps(directory), False, cfg["interval_seconds"]), 0o644)
            print(f"ledger backup: FAILED, nothing pruned: {exc}", file=sys.stderr)
            return 1
        # Only after a complete dump: a failing backup never eats the old ones.
        for old in to_prune(dumps(directory), cfg["keep_count"], cfg["keep_days"], now):
            old.unlink()
            Path(f"{old}.json").unlink(missing_ok=True)
        fsync_dir(directory)
        found = dumps(directory)
        write_atomic(prom, metrics_text(found, True, cfg["interval_seconds"]), 0o644)
        print(f"ledger backup: {dump.name} ({dump.stat().st_size} bytes), {len(found)} kept")
        return 0


def restore(cfg: dict, target: str, name: str, replace: bool) -> int:
    from psycopg2 import sql

    directory = Path(cfg["dir"])
    found = dumps(directory)
    if name == "latest":
        if not found:
            print(f"ledger restore: no dump in {directory}", file=sys.stderr)
            return 1
        dump = found[0]
    else:
        dump = directory / Path(name).name
        if not DUMP.match(dump.name) or not dump.is_file():
            print(f"ledger restore: --dump {name}: no such dump in {directory}", file=sys.stderr)
            return 1
    admin = connect("postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (cfg["database"],))
        owner = (cur.fetchone() or ["postgres"])[0]
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (target,))
        sessions = cur.fetchone()[0]
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,))
        if cur.fetchone():
            if not replace:
                print(f"ledger restore: database {target} exists; --replace drops it first", file=sys.stderr)
                return 1
            if sessions:
                print(f"ledger restore: database {target} has {sessions} session(s); stop its clients first",
                      file=sys.stderr)
                return 1
            cur.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(target)))
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(target), sql.Identifier(owner)))
    admin.close()
    # One transaction: the target holds the whole dump or nothing of it.
    result = subprocess.run(["pg_restore", "--exit-on-error", "--single-transaction", f"--dbname={target}",
                             str(dump)], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"ledger restore: pg_restore of {dump.name} into {target} failed: {result.stderr.strip()}",
              file=sys.stderr)
        return 1
    manifest = Path(f"{dump}.json")
    expected = json.loads(manifest.read_text())["tables"] if manifest.exists() else None
    conn = connect(target)
    try:
        with conn.cursor() as cur:
            restored = table_counts(cur)
    finally:
        conn.close()
    equal = expected is not None and len(expected) > 0 and restored == expected
    print(json.dumps({"dump": dump.name, "target": target, "dumped": expected, "restored": restored,
                      "equal": equal}, sort_keys=True))
    return 0 if equal else 1


def main(argv: list[str]) -> int:
    as_postgres(argv)
    cfg = load_config()
    if Path(argv[0]).name.endswith("restore"):
        parser = argparse.ArgumentParser(prog="quantshift-ledger-restore", description="Restore a ledger dump.")
        parser.add_argument("--target", required=True, help="database to restore into (created)")
        parser.add_argument("--dump", default="latest", help="dump file name in the backup directory, or latest")
        parser.add_argument("--replace", action="store_true", help="drop the target first if it exists")
        args = parser.parse_args(argv[1:])
        return restore(cfg, args.target, args.dump, args.replace)
    argparse.ArgumentParser(prog="quantshift-ledger-backup", description="Take one ledger dump now.").parse_args(
        argv[1:])
    return backup(cfg)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
