"""Every case of the chaos run ends with the single-trader audit; the run's report
is the timings table at the end of the terminal output, after the last case, and
also when a case failed (pytest -x stops there)."""
from __future__ import annotations

import pytest

from lab import TIMINGS, single_trader_violations


@pytest.fixture(autouse=True)
def one_trader_after_each_case():
    """The execution audit: at most one trader per account at every instant."""
    yield
    verdict = single_trader_violations()
    print(f"single-trader check: {verdict.executions} executions, {len(verdict.violations)} violations, "
          f"overlap {verdict.overlap_seconds:.2f} s", flush=True)
    assert verdict.violations == [], verdict.violations


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS.rows:
        terminalreporter.section("chaos timings")
        for line in TIMINGS.table():
            terminalreporter.write_line(line)
