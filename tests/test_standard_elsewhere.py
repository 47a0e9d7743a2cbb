"""LangChain's standard suites on `ChatLocalModel()` from a folder outside the project, as a user
runs them: the test module alone in a new folder, the project on PYTHONPATH, and pytest's asyncio
mode as LangChain's integration packages set it. 0 failures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.local_model, pytest.mark.slow]


@pytest.mark.timeout(900)
def test_the_standard_suites_pass_from_another_folder(tmp_path):
    shutil.copy(ROOT / "tests" / "test_standard_local.py", tmp_path / "test_chat_local_model.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "LOCAL_", "PYTHONPATH"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
         "--rootdir", str(tmp_path), "test_chat_local_model.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=840,
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert int(re.search(r"(\d+) passed", summary).group(1)) >= 40, summary
