"""The chaos run's report: the timings table at the end of the terminal output,
after the last case, and also when a case failed (pytest -x stops there)."""
from __future__ import annotations

from lab import TIMINGS


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS.rows:
        terminalreporter.section("chaos timings")
        for line in TIMINGS.table():
            terminalreporter.write_line(line)
