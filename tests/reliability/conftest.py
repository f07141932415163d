"""Reliability suite: trial counters reported at the end of the run."""

from __future__ import annotations

from collections import Counter

TRIALS: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if TRIALS:
        terminalreporter.write_sep("-", "reliability trials")
        for name, count in sorted(TRIALS.items()):
            terminalreporter.write_line(f"{name}: {count} trials")
