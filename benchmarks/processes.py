"""The processes a benchmark runs: the scripted server, the app, the floors; their CPU and memory.

Each runs in its own process, as in production, so the load generator's CPU never counts
as the app's and the app's event loop is its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of a process now, in MB."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


@contextmanager
def started(args: list[str], ready_url: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run `python ARGS` from the repo root until the block ends; ready when `ready_url` answers."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "LOCAL_", "GRADIO_"))}
    log = tempfile.TemporaryFile()  # not a pipe: nobody reads it while the benchmark runs, and a full pipe blocks
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _answers(ready_url):
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{' '.join(args)} exited: {log.read().decode(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(args)} did not answer within 120 s")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


@contextmanager
def scripted_server(tokens: int, rate: float, thinking: int = 0, paragraph_every: int = 0) -> Iterator[str]:
    """The scripted OpenAI-compatible server in its own process, token k at k/rate (after `thinking`
    reasoning deltas; every `paragraph_every`th token and delta ending a paragraph); yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    with started(["-m", "tests.openai_server", "--port", str(port), "--tokens", str(tokens), "--rate", str(rate),
                  "--fixed-schedule", "--thinking", str(thinking), "--paragraph-every", str(paragraph_every)],
                 base + "/models"):
        yield base


@contextmanager
def app(base_url: str, **env: str) -> Iterator[tuple[str, int]]:
    """`python app.py` against `base_url` with default settings (plus `env`); yields (url, pid)."""
    port = free_port()
    settings = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "benchmark", "OPENAI_MODEL": "fake",
                "GRADIO_SERVER_PORT": str(port), **env}
    with started(["app.py"], f"http://127.0.0.1:{port}/", settings) as process:
        yield f"http://127.0.0.1:{port}/", process.pid


@contextmanager
def floor(kind: str, base_url: str, tokens: int, rate: float) -> Iterator[tuple[str, int]]:
    """One of `benchmarks.floors`; yields (url, pid)."""
    port = free_port()
    args = ["-m", "benchmarks.floors", kind, "--port", str(port), "--base-url", base_url,
            "--tokens", str(tokens), "--rate", str(rate)]
    with started(args, f"http://127.0.0.1:{port}/") as process:
        yield f"http://127.0.0.1:{port}/", process.pid
