"""The HTTP load benchmark still runs end to end: it serves the app with gunicorn, signs
people in, seeds tasks and drives every operation without an error. Not a timing test."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "gunicorn").exists(), reason="gunicorn not installed")
def test_bench_load_drives_every_operation_without_errors():
    command = [sys.executable, "bench/load.py", "--clients", "2", "--scenario", "complete", "work", "submit",
               "worklist", "mixed", "--duration", "0.5", "--warmup", "0.2", "--open-tasks", "50", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = json.loads(done.stdout.strip().splitlines()[-1])
    operations = {}
    for report in reports:
        assert report["open_tasks"] > 50
        for op, figures in report["operations"].items():
            operations[op] = operations.get(op, 0) + figures["count"]
            assert figures["errors"] == 0, (report["scenario"], op, figures)
    assert set(operations) == {"complete", "task page", "submit", "worklist", "case page"}
    assert all(count > 0 for count in operations.values()), operations
