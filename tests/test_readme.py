"""Every Python and shell block in README.md and docs/ runs as written, or says what it needs.

A block's marker is the HTML comment on the line above it:

- `<!-- runs: offline -->`: run here, on the bundled model, with no key;
- `<!-- runs: scripted server ARGS -->`: run with `python -m tests.openai_server --port P ARGS`
  started first and `OPENAI_BASE_URL` pointing at it, as the README's recipe does;
- `<!-- runs: CI ... -->`: the test command, which `.ci/run` runs word for word;
- `<!-- needs: WHAT -->`: not run as written, and WHAT says what it needs (a key, a server, a
  terminal). Blocks that need the app at http://127.0.0.1:7860/ are still run here, against the
  app on the scripted server.

A `text` block right after a run block is its output, as the README shows it: it is checked
(timings aside, `N ms`). `README_REGENERATE=1` writes the real output into the README instead.
A `text` block of `>>>` lines is a doctest, run with `...` standing for what varies.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, launch, server_settings

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!-- (runs|needs): (.+?) -->$")
CODE = {"python", "bash", "sh", "shell", "console"}
APP_URL = "http://127.0.0.1:7860/"


@dataclass
class Block:
    path: Path
    line: int  # the opening fence's line, from 1
    lang: str
    text: str
    marker: tuple[str, str] | None  # ("runs" | "needs", what)
    output: Block | None = None  # the text block that shows what it prints

    @property
    def name(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def is_doctest(self) -> bool:
        return self.lang == "text" and self.text.lstrip().startswith(">>>")


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i, last_end = 0, -1
    while i < len(lines):
        if lines[i].startswith("```"):
            start, lang = i, lines[i][3:].strip()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            marker = MARKER.match(above.strip())
            block = Block(path, start + 1, lang, "\n".join(lines[start + 1:end]) + "\n",
                          (marker.group(1), marker.group(2)) if marker else None)
            previous = found[-1] if found else None
            right_after = not any(line.strip() for line in lines[last_end + 1:start])
            if previous and previous.marker and lang == "text" and not marker and not block.is_doctest and right_after:
                previous.output = block
            found.append(block)
            i, last_end = end + 1, end
        else:
            i += 1
    return found


ALL = [b for path in DOCS for b in blocks(path)]


def marked(kind: str, starts: str = "") -> list[Block]:
    return [b for b in ALL if b.marker and b.marker[0] == kind and b.marker[1].startswith(starts)
            and (b.lang in CODE or b.is_doctest)]


def test_every_python_and_shell_block_is_run_or_says_what_it_needs():
    unmarked = [b.name for b in ALL if (b.lang in CODE or b.is_doctest) and b.marker is None]
    assert unmarked == [], "add <!-- runs: ... --> or <!-- needs: ... --> above these blocks"
    assert len([b for b in ALL if b.lang in CODE]) >= 10
    for block in marked("runs"):
        assert block.marker[1].split()[0] in ("offline", "scripted", "CI"), block.name


def test_the_test_command_is_the_one_ci_runs():
    [block] = marked("runs", "CI")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert block.text.strip() == ci


def normalized_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def normalized(text: str) -> str:
    """Output as compared: timings vary from run to run, and trailing spaces are invisible."""
    return normalized_lines(re.sub(r"\d+(\.\d+)? ms\b", "N ms", text))


def check_output(block: Block, printed: str) -> None:
    if block.output is None:
        return
    if os.environ.get("README_REGENERATE"):
        source = block.path.read_text()
        block.path.write_text(source.replace("```text\n" + block.output.text + "```",
                                             "```text\n" + normalized_lines(printed) + "\n```", 1))
        return
    assert normalized(printed) == normalized(block.output.text), f"{block.name} prints other than the README shows"


def run_python(block: Block, env_extra: dict[str, str], timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "LOCAL_", "PYTHONPATH"))}
    env.update(env_extra)
    done = subprocess.run([sys.executable, "-"], input=block.text, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{block.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.local_model
@pytest.mark.parametrize("block", [b for b in marked("runs", "offline") if b.lang == "python"], ids=lambda b: b.name)
def test_offline_blocks_run_and_print_what_the_readme_shows(block):
    check_output(block, run_python(block, {}))


@pytest.mark.local_model
@pytest.mark.parametrize("block", [b for b in marked("runs", "offline") if b.is_doctest], ids=lambda b: b.name)
def test_offline_sessions_print_what_the_readme_shows(block):
    test = doctest.DocTestParser().get_doctest(block.text, {}, block.name, str(block.path), block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("block", marked("runs", "scripted server"), ids=lambda b: b.name)
def test_scripted_server_blocks_run_as_the_readme_says(block):
    port = free_port()
    args = block.marker[1].removeprefix("scripted server").split()
    server = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--port", str(port), *args], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert server.poll() is None and time.monotonic() < deadline, "the scripted server did not start"
            time.sleep(0.1)
        printed = run_python(block, {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "test"})
    finally:
        server.terminate()
        server.wait(timeout=10)
    check_output(block, printed)


@pytest.mark.parametrize("block", [b for b in marked("needs", "the app running at") if b.lang == "python"],
                         ids=lambda b: b.name)
def test_blocks_that_need_the_app_run_against_it(block, server):
    assert APP_URL in block.text and APP_URL in block.marker[1]
    demo, url = launch(server_settings(server))
    try:
        printed = run_python(Block(block.path, block.line, block.lang, block.text.replace(APP_URL, url), None), {})
    finally:
        demo.close()
    assert printed.strip(), f"{block.name} printed nothing"


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
        return True
    except httpx.TransportError:
        return False
