"""The benchmark still runs: `python -m benchmarks.run --smoke`, every part, tiny sizes.

Speed goals are the benchmark's business, not a test's: on tiny sizes and a busy machine they
say nothing. What must hold at any size is checked here: every part reports, every answer is
exact, and every chunk reaches each user's Debug table.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.local_model
def test_the_benchmark_runs_every_part_and_every_answer_is_exact(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    names = [f["name"] for f in results["figures"]]
    for part in ["1 user", "users: wall time", "time to first token p95", "unlimited model", "CPU per token",
                 "resident memory", "JSON view", "local model", "cost of token probabilities",
                 "browser, 300 tokens at 1,000/s", "browser, 300-token thinking block", "browser, 300 tokens at 2,000/s",
                 "against Gradio's floor"]:
        assert any(part in name for name in names), f"no figure for {part!r} in {names}"
    correctness = [f for f in results["figures"] if "exact" in f["name"] or "unlimited model" in f["name"]]
    assert correctness and all(f["ok"] for f in correctness), correctness
    assert "| figure | measured | goal | met |" in run.stdout
    assert results["machine"]["cores"] and results["seconds"] > 0
