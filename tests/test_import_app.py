"""`import app` builds the page and nothing else: no model process, no connection. Launching starts them.

Each case runs in a fresh interpreter, as a notebook, a test or Gradio's reload mode would import it.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT

REPORT = """
import json, os, sys
from pathlib import Path

def children():
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.append(entry.name)
        except OSError:
            pass
    return found

import app
report = {"children": children(), "started": app.demo.backend.started}
if sys.argv[1] == "start":  # the control: what launching does, so the test can tell
    import time
    app.demo.backend.start()
    deadline = time.monotonic() + 30  # a local model's process is started by a supervisor thread
    while app.demo.backend.model is not None and not children() and time.monotonic() < deadline:
        time.sleep(0.05)
    report.update(children_after_start=children(), listed=app.demo.backend.listed_models)
    from llm.backends.runtime import stop_all
    stop_all()
print(json.dumps(report))
"""


def import_app(env_extra: dict[str, str], then: str = "nothing") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "LOCAL_", "GRADIO_"))}
    done = subprocess.run([sys.executable, "-c", REPORT, then], cwd=ROOT, env={**env, **env_extra},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class Listener:
    """A socket that listens and never answers; `connections()` counts who tried to reach it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                self.sock.accept()[0].close()
            except BlockingIOError:
                return count
            count += 1


@pytest.fixture
def listener():
    listening = Listener()
    yield listening
    listening.sock.close()


@pytest.mark.slow
def test_importing_app_with_no_key_starts_no_model_process():
    report = import_app({})
    assert report == {"children": [], "started": False}


@pytest.mark.slow
def test_importing_app_with_a_base_url_connects_to_nothing(listener):
    port = listener.port
    report = import_app({"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"})
    assert report == {"children": [], "started": False}
    assert listener.connections() == 0


@pytest.mark.slow
def test_starting_the_backend_is_what_connects(listener):
    """The control for the test above: the same listener does count the model list being read."""
    port = listener.port
    report = import_app({"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}, then="start")
    assert listener.connections() >= 1
    assert report["listed"] is None  # it never answered: the picker keeps the configured model


@pytest.mark.local_model
@pytest.mark.slow
def test_starting_the_backend_is_what_starts_the_model_process():
    """The control for the no-key case: launching (`Backend.start`) does start the model's process."""
    report = import_app({}, then="start")
    assert report["children"] == [] and len(report["children_after_start"]) == 1
