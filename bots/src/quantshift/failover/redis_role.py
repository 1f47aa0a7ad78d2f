"""Redis replication role changes, shared by the monitor and the planned playbooks.

The replication role is runtime state. Redis includes a small file that holds it
(written once by the redis role at first deploy); every role change here updates
Redis at runtime with REPLICAOF *and* rewrites that file, so a Redis restart keeps
the new role and a later `site.yml` run never re-points a promoted master.
CONFIG REWRITE is not used: it would rewrite the Ansible-owned main file.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import redis


ROLE_FILE_HEADER = "# Runtime replication role: written at first deploy, then by the failover steps.\n"


@dataclass(frozen=True)
class ReplicaState:
    role: str                      # "master" or "slave"
    link_up: bool | None           # replica only
    last_io_seconds: float | None  # replica only: seconds since the last byte from the master
    offset: int


def client(url: str, password: str | None, timeout: float = 3.0) -> redis.Redis:
    return redis.Redis.from_url(url, password=password, socket_timeout=timeout, socket_connect_timeout=timeout)


def state(r: redis.Redis) -> ReplicaState:
    info = r.info("replication")
    if info["role"] == "master":
        return ReplicaState("master", None, None, int(info.get("master_repl_offset", 0)))
    return ReplicaState("slave", info.get("master_link_status") == "up",
                        float(info.get("master_last_io_seconds_ago", -1)),
                        int(info.get("slave_repl_offset", 0)))


def write_role_file(path: str, master: tuple[str, int] | None) -> None:
    """Atomically replace the included role file, keeping its owner and mode."""
    # Same text as the redis role's replication.conf.j2, so a later site.yml run
    # sees the file as it would write it (tests/test_redis_role_file.py).
    lines = [ROLE_FILE_HEADER]
    if master is not None:
        lines.append(f"replicaof {master[0]} {master[1]}\n")
    directory = os.path.dirname(path) or "."
    try:
        st = os.stat(path)
        owner, mode = (st.st_uid, st.st_gid), st.st_mode & 0o777
    except FileNotFoundError:
        owner, mode = None, 0o640
    fd, tmp = tempfile.mkstemp(prefix=".replication.", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def pause_writes(r: redis.Redis, seconds: float) -> None:
    """Hold every write on this master for `seconds` (CLIENT PAUSE ... WRITE): with
    no write accepted, a replica that caught up has everything, so the switch of
    roles loses nothing. The pause ends by itself, or when REPLICAOF demotes it."""
    r.execute_command("CLIENT", "PAUSE", str(int(seconds * 1000)), "WRITE")


def promote(r: redis.Redis, role_file: str | None) -> ReplicaState:
    """Make this Redis a master (idempotent). Returns the state seen *before*."""
    before = state(r)
    if before.role != "master":
        r.execute_command("REPLICAOF", "NO", "ONE")
    if role_file:
        write_role_file(role_file, None)
    return before


def follow(r: redis.Redis, master_host: str, master_port: int, role_file: str | None) -> bool:
    """Make this Redis a replica of master_host:master_port (idempotent).
    Returns True when the role changed."""
    info = r.info("replication")
    changed = not (info["role"] == "slave" and info.get("master_host") == master_host
                   and int(info.get("master_port", 0)) == master_port)
    if changed:
        r.execute_command("REPLICAOF", master_host, str(master_port))
    if role_file and (changed or not _role_file_says(role_file, (master_host, master_port))):
        write_role_file(role_file, (master_host, master_port))
    return changed


def _role_file_says(path: str, master: tuple[str, int] | None) -> bool:
    try:
        with open(path) as fh:
            lines = [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
    except FileNotFoundError:
        return False
    return lines == ([f"replicaof {master[0]} {master[1]}"] if master else [])
