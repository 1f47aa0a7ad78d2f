"""Connection handling: short timeouts, reconnect on failure, password from env.

A database outage must never hang the trading loop past the systemd watchdog:
connect_timeout and statement_timeout bound every call, and a broken connection
is dropped and re-opened on the next use.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.extras

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database could not be reached or a statement failed on the connection."""


class Database:
    def __init__(self, dsn: str, password: str | None = None, *, connect_timeout: int = 5,
                 statement_timeout_ms: int = 5000, application_name: str = "quantshift"):
        self._dsn = dsn
        self._password = password
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._application_name = application_name
        self._conn: psycopg2.extensions.connection | None = None

    def connect(self) -> psycopg2.extensions.connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        kwargs = dict(connect_timeout=self._connect_timeout, application_name=self._application_name,
                      options=f"-c statement_timeout={self._statement_timeout_ms} -c timezone=UTC",
                      keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                      # A partition drops packets silently: without this a query on an open
                      # connection hangs for minutes, and a primary could not even notice
                      # that it must stop trading.
                      tcp_user_timeout=self._connect_timeout * 1000)
        if self._password:
            kwargs["password"] = self._password
        try:
            self._conn = psycopg2.connect(self._dsn, **kwargs)
        except psycopg2.Error as e:
            # psycopg2 messages can echo the DSN; never the password (not in the DSN).
            raise DatabaseUnavailable(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor inside one transaction: commit on success, rollback on error.
        Connection-level failures drop the connection and raise DatabaseUnavailable."""
        conn = self.connect()
        try:
            with conn:
                with conn.cursor() as cur:
                    yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            self.close()
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DatabaseUnavailable(msg) from None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    @classmethod
    def from_config(cls, dbcfg, application_name: str = "quantshift") -> "Database":
        return cls(dbcfg.dsn, dbcfg.password, connect_timeout=dbcfg.connect_timeout_seconds,
                   statement_timeout_ms=dbcfg.statement_timeout_ms, application_name=application_name)
