"""`make bench` keeps working: every benchmark runs at its smallest size and lands in the one
table (benchmarks measure, they are not tests; this only checks that they still run, since a
benchmark nobody runs rots as the code under it changes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.all import BENCHES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_benchmark_runs_and_prints_its_rows():
    out = subprocess.run(
        [sys.executable, "-m", "bench.all", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=880,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = out.stdout[out.stdout.rindex("benchmark  figure") :]
    for name in BENCHES:
        assert f"\n{name} " in table, name
    assert "failed" not in table
