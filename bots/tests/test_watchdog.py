"""sd_notify against a real unix datagram socket (what systemd listens on)."""
from __future__ import annotations

import os
import socket
import uuid

import pytest

from quantshift.watchdog import Notifier


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(2)
    yield path, s
    s.close()


def _recv_all(sock) -> list[str]:
    out = []
    sock.settimeout(0.2)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except (TimeoutError, socket.timeout):
        return out


def test_ready_watchdog_status_stopping_arrive_as_datagrams(notify_socket):
    path, sock = notify_socket
    calls = []
    n = Notifier(env={"NOTIFY_SOCKET": path}, on_watchdog=lambda: calls.append(1))
    assert n.ready("ready: 100 symbols") and n.watchdog() and n.status("PRIMARY epoch 1") and n.stopping()
    assert _recv_all(sock) == ["READY=1\nSTATUS=ready: 100 symbols", "WATCHDOG=1", "STATUS=PRIMARY epoch 1",
                               "STOPPING=1"]
    assert calls == [1]  # the watchdog_notifications_total hook ran once


def test_abstract_namespace_socket_is_supported():
    name = "qs-test-" + uuid.uuid4().hex
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    try:
        n = Notifier(env={"NOTIFY_SOCKET": "@" + name})
        assert n.watchdog()
        s.settimeout(2)
        assert s.recv(100) == b"WATCHDOG=1"
    finally:
        s.close()


def test_without_notify_socket_everything_is_a_silent_noop():
    calls = []
    n = Notifier(env={}, on_watchdog=lambda: calls.append(1))
    assert not n.enabled
    assert n.ready() is False and n.watchdog() is False and n.stopping() is False
    n.keepalive()
    assert calls == []  # nothing was sent, so nothing is counted


def test_a_dead_socket_never_raises(tmp_path):
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.notify("WATCHDOG=1") is False
    assert n.ready() is False


def test_ping_interval_is_a_quarter_of_watchdog_usec_and_keepalive_respects_it(notify_socket):
    path, sock = notify_socket
    n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "90000000"})
    assert n.ping_interval == 22.5
    n.keepalive()
    n.keepalive()  # not due yet: only one ping
    assert _recv_all(sock) == ["WATCHDOG=1"]
    fast = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1"})
    fast.keepalive()
    fast.keepalive()
    assert _recv_all(sock) == ["WATCHDOG=1", "WATCHDOG=1"]


def test_watchdog_meant_for_another_pid_is_ignored(notify_socket):
    path, _ = notify_socket
    n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert n.ping_interval is None
    mine = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.ping_interval == 0.25
