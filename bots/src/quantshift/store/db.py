"""Connection handling: short timeouts, reconnect on failure, password from env.

A database outage must never hang the trading loop past the systemd watchdog:
connect_timeout and statement_timeout bound every call, and a broken connection
is dropped and re-opened on the next use.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from .fencing import SQLSTATE as FENCED_SQLSTATE
from .fencing import Fence, Fenced

log = logging.getLogger(__name__)


def _cut(conn) -> None:
    """Shut the connection's socket down: libpq's blocked read returns an error."""
    try:
        with socket.socket(fileno=os.dup(conn.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def first_line(e: Exception) -> str:
    """The first line of a driver error (its detail lines can be long)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def db_now(cur):
    """The database's clock (tz-aware): ages of stored rows are measured on it,
    never on this host's clock."""
    cur.execute("SELECT now()")
    return cur.fetchone()[0]


class DatabaseUnavailable(Exception):
    """The database could not be reached or a statement failed on the connection."""


class Database:
    def __init__(self, dsn: str, password: str | None = None, *, connect_timeout: int = 5,
                 statement_timeout_ms: int = 5000, idle_in_transaction_timeout_ms: int = 10000,
                 application_name: str = "quantshift"):
        self._dsn = dsn
        self._idle_in_transaction_timeout_ms = idle_in_transaction_timeout_ms
        # The lease holder's fence (store/fencing.py), published to every
        # transaction: the ledger refuses writes without a current one.
        self.fence: Fence | None = None
        self._password = password
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._application_name = application_name
        self._conn: psycopg2.extensions.connection | None = None

    def connect(self) -> psycopg2.extensions.connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        kwargs = dict(connect_timeout=self._connect_timeout, application_name=self._application_name,
                      # A session frozen inside a transaction (SIGSTOP, a paused host) would keep
                      # the leader row locked: the server ends it instead.
                      options=f"-c statement_timeout={self._statement_timeout_ms} -c timezone=UTC "
                              f"-c idle_in_transaction_session_timeout={self._idle_in_transaction_timeout_ms}",
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
            raise DatabaseUnavailable(first_line(e)) from None
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor inside one transaction: commit on success, rollback on error.
        The holder's fence, if any, is set for the transaction; a ledger write it
        does not cover raises Fenced. Connection-level failures drop the
        connection and raise DatabaseUnavailable."""
        conn = self.connect()
        # A paused database host still ACKs TCP: no timeout of the server's or the
        # kernel's ends a query waiting on it. This one does, from our side.
        guard = threading.Timer(self._statement_timeout_ms / 1000 + 2.0, _cut, (conn,))
        guard.daemon = True
        guard.start()
        try:
            with conn:
                with conn.cursor() as cur:
                    if self.fence is not None:
                        self.fence.apply(cur)
                    yield cur
        except psycopg2.Error as e:
            if getattr(e, "pgcode", None) == FENCED_SQLSTATE:
                raise Fenced(first_line(e)) from None
            if not isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                raise
            self.close()
            raise DatabaseUnavailable(first_line(e)) from None
        finally:
            guard.cancel()

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
