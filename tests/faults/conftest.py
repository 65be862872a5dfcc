"""The fault-injection suite records one row per injected fault: ``(fault, family, outcome)``.

With ``PYPROGEN_FAULT_TABLE=FILE.json`` in the environment the rows are written there at the end of
the session (benchmarks/fault_table.py runs the suite that way and prints the table).
"""
import json
import os

import pytest

_ROWS = []


@pytest.fixture
def record():
    def add(fault, family, outcome, count=1):
        _ROWS.extend([{"fault": fault, "family": family, "outcome": outcome}] * count)

    return add


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("PYPROGEN_FAULT_TABLE")
    if path and _ROWS:
        with open(path, "w") as f:
            json.dump(_ROWS, f, indent=1)
