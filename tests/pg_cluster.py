"""A throwaway PostgreSQL 15 cluster for the repo tests that need a server of their
own (its config, its dump tools); the package's tests share bots/tests/conftest.py's."""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("QUANTSHIFT_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    tmp: Path
    datadir: Path
    sockdir: Path
    port: int
    pre: list[str]  # initdb refuses root: the server runs as the postgres system user

    def start(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.pre + [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l",
                                          str(self.tmp / "pg.log"), "-w", "-t", "60", "start"],
                              capture_output=True, text=True)

    def stop(self) -> None:
        subprocess.run(self.pre + [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def initdb(prefix: str) -> Cluster:
    """A new, not yet started cluster in a temp dir, on a free port; a missing binary fails the test."""
    for b in ("initdb", "pg_ctl"):
        if not (PG_BIN / b).exists():
            pytest.fail(f"PostgreSQL binary {PG_BIN / b} missing: install postgresql-15 (this test needs a real server)")
    pre = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    datadir, sockdir = tmp / "data", tmp / "sock"
    sockdir.mkdir()
    os.chmod(tmp, 0o755)
    if pre:
        pw = pwd.getpwnam("postgres")
        for p in (tmp, sockdir):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    subprocess.run(pre + [str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust", "--no-sync"],
                   check=True, capture_output=True)
    return Cluster(tmp, datadir, sockdir, free_port(), pre)
