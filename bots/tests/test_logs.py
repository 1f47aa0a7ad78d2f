"""Structured logging: the journal fields an operator filters on, and when the
journal is used at all. journald itself is exercised on the lab (the chaos
suite finds an order's whole story with journalctl ... CLIENT_ORDER_ID=)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from quantshift import logs


def _record(logger: logging.Logger, msg: str, **extra) -> logging.LogRecord:
    got = []

    class Keep(logging.Handler):
        def emit(self, record):
            got.append(record)

    h = Keep()
    h.addFilter(logs._bound)
    logger.addHandler(h)
    logger.propagate = False
    try:
        logger.warning(msg, extra=extra or None)
    finally:
        logger.removeHandler(h)
    return got[0]


@pytest.fixture
def bound():
    saved = (dict(logs._bound.static), dict(logs._bound.dynamic))
    yield logs
    logs._bound.static, logs._bound.dynamic = saved


def test_fields_names_journal_fields_in_upper_case_and_leaves_out_unknown_values():
    assert logs.fields(client_order_id="qs-equity-e3-ab12cd34", symbol="AAPL", epoch=None) == {
        "extra": {"CLIENT_ORDER_ID": "qs-equity-e3-ab12cd34", "SYMBOL": "AAPL"}}
    with pytest.raises(ValueError, match="unknown journal field 'coid'"):
        logs.fields(coid="x")


def test_bound_fields_reach_every_record_and_the_epoch_is_read_when_logging(bound):
    epoch = {"now": 3}
    bound.bind(account="equity", host="ct100", epoch=lambda: epoch["now"])
    log = logging.getLogger("test.logs.bound")
    r = _record(log, "first")
    assert (r.ACCOUNT, r.HOST, r.EPOCH) == ("equity", "ct100", "3")
    epoch["now"] = 4  # a takeover: later records carry the new epoch
    assert _record(log, "second").EPOCH == "4"
    # A call that names its own epoch (an older epoch's fenced order) keeps it.
    r = _record(log, "fenced", **logs.fields(epoch=2, client_order_id="qs-equity-e2-00ff00ff")["extra"])
    assert (r.EPOCH, r.CLIENT_ORDER_ID, r.ACCOUNT) == ("2", "qs-equity-e2-00ff00ff", "equity")


def test_every_line_logged_while_an_order_is_worked_on_carries_its_fields(bound):
    bound.bind(account="equity")
    log = logging.getLogger("quantshift.brokers.remote")
    with logs.order("qs-equity-e1-0123abcd", "AAPL"):
        inner = _record(log, "lookup failed")
        with logs.order("qs-equity-e1-ffff0000", "MSFT"):  # nested: the inner order wins
            nested = _record(log, "other")
        back = _record(log, "after")
    outside = _record(log, "no order")
    assert (inner.CLIENT_ORDER_ID, inner.SYMBOL, inner.ACCOUNT) == ("qs-equity-e1-0123abcd", "AAPL", "equity")
    assert (nested.CLIENT_ORDER_ID, back.CLIENT_ORDER_ID) == ("qs-equity-e1-ffff0000", "qs-equity-e1-0123abcd")
    assert not hasattr(outside, "CLIENT_ORDER_ID") and outside.ACCOUNT == "equity"


def test_a_failing_epoch_reader_costs_the_field_not_the_line(bound):
    bound.bind(account="crypto", epoch=lambda: 1 / 0)
    r = _record(logging.getLogger("test.logs.fail"), "still logged")
    assert r.ACCOUNT == "crypto" and not hasattr(r, "EPOCH") and r.getMessage() == "still logged"


def test_the_journal_is_used_only_when_stdout_is_the_stream_systemd_named(tmp_path):
    with open(tmp_path / "out", "w") as fh:
        st = os.fstat(fh.fileno())
        assert logs.under_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, fh)
        assert not logs.under_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, fh)
        assert not logs.under_journal({"JOURNAL_STREAM": "garbage"}, fh)
        assert not logs.under_journal({}, fh)


def test_outside_systemd_the_lines_stay_plain_text_on_stdout():
    code = ("import logging; from quantshift import logs; logs.bind(account='equity');"
            "print(logs.setup('INFO', env={})); logging.getLogger('quantshift.bot').info('hello %s', 'world')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "JOURNAL_STREAM": ""})
    assert out.stdout.splitlines() == ["stdout", "INFO quantshift.bot: hello world"]


def test_under_systemd_without_systemd_python_plain_lines_go_on_with_one_warning(tmp_path):
    # stdout is a file whose device:inode JOURNAL_STREAM names; systemd-python is
    # hidden, as on a host where python3-systemd is not linked into the venv.
    out = tmp_path / "stream"
    code = ("import os, sys; sys.modules['systemd'] = None; from quantshift import logs;"
            "st = os.fstat(1); env = {'JOURNAL_STREAM': f'{st.st_dev}:{st.st_ino}'};"
            "sys.stderr.write(logs.setup('INFO', env=env))")
    with open(out, "w") as fh:
        res = subprocess.run([sys.executable, "-c", code], stdout=fh, stderr=subprocess.PIPE, text=True, check=True)
    assert res.stderr == "stdout"
    assert out.read_text().splitlines() == [
        "WARNING quantshift: python3-systemd is not importable: journal entries carry no ACCOUNT/CLIENT_ORDER_ID "
        "fields"]


def test_commands_answering_on_stdout_log_to_the_journal_only_where_there_is_one(tmp_path):
    # quantshift-ha prints JSON for the playbooks: without a journal its log stays off stdout.
    code = ("import logging, sys; from quantshift import logs;"
            f"print(logs.also_to_journal('quantshift-ha', socket_path={str(tmp_path / 'none')!r}));"
            "logging.getLogger('quantshift.failover.switchover').info('handed over')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n" and out.stderr == ""
