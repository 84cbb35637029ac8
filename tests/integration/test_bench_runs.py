"""The benchmark still runs against today's diagrams (a changed diagram broke it once).
Not a timing test: it checks that every figure is produced, not what it is."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_engine_produces_every_figure():
    command = [sys.executable, "bench/engine.py", "--instances", "2", "--due", "5", "--filler", "20",
               "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"persisted_over_raw", "sweep_large_over_small", "start_to_first_task_ms"} <= set(figures)


def test_bench_floor_produces_every_figure():
    done = subprocess.run([sys.executable, "bench/floor.py", "--per-step", "2", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"library_cold_ms", "web_stack_ms", "sql_ms", "cold_floor_ms", "warm_ms"} <= set(figures)
    assert figures["statements"] >= 5  # the completions' statements were captured and replayed
