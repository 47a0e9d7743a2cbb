"""A Hugging Face Space's build, step by step as its builder does it (`sdk: gradio`).

The builder mounts `requirements.txt` *alone* and runs one pip command in an app folder that is
still empty, together with the SDK's own packages; only then does it copy the repository in and
run `python app.py`. From real Spaces' build logs:

    RUN --mount=target=/tmp/requirements.txt,source=requirements.txt \\
        pip install --no-cache-dir -r /tmp/requirements.txt gradio[oauth,mcp]==<sdk_version> \\
        "uvicorn>=0.14.0" "websockets>=10.4" spaces
    COPY --link --chown=1000 ./ /home/user/app

So a line of requirements.txt that points into the repository (a path, an editable install)
fails the build. This test does the same steps in a brand-new virtual environment (pip's cache
may serve the wheels; the builder has none), then streams from `/chat` offline, with no key.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import venv

import pytest

from tests.conftest import ROOT, free_port, page_answers

pytestmark = [pytest.mark.local_model, pytest.mark.space_build, pytest.mark.slow]


def sdk_version() -> str:
    """`sdk_version` from the README's front matter: the Gradio the Space installs."""
    front = ROOT.joinpath("README.md").read_text().split("---")[1]
    found = re.search(r"^sdk_version:\s*([\w.]+)\s*$", front, re.M)
    assert found, "README.md's front matter names no sdk_version"
    return found.group(1)


def tracked_files() -> list[str]:
    """What a Space's repository holds: the committed files, not this checkout's .venv or caches."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.mark.timeout(3600)  # a first build compiles llama-cpp-python (about 10 minutes on 2 cores)
def test_the_space_builder_installs_requirements_alone_and_the_app_streams_offline(tmp_path):
    requirements = tmp_path / "mount" / "requirements.txt"
    requirements.parent.mkdir()
    shutil.copy(ROOT / "requirements.txt", requirements)
    app_dir, home = tmp_path / "app", tmp_path / "home"
    app_dir.mkdir()
    home.mkdir()
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"

    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(requirements), f"gradio[oauth,mcp]=={sdk_version()}",
         "uvicorn>=0.14.0", "websockets>=10.4", "spaces"],
        cwd=app_dir, capture_output=True, text=True,  # an empty folder: the repository is not there yet
    )
    assert install.returncode == 0, install.stderr[-3000:]

    for name in tracked_files():  # COPY ./ /home/user/app
        (app_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, app_dir / name)

    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "LLM_", "LOCAL_", "GRADIO_", "APP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(SPACE_ID="tester/watch-an-llm-stream", SYSTEM="spaces", GRADIO_SERVER_NAME="0.0.0.0",
               GRADIO_SERVER_PORT=str(port), HOME=str(home), PATH=f"{python.parent}:{env.get('PATH', '')}")
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([str(python), "app.py"], cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while not page_answers(url):
            assert app.poll() is None, f"app.py exited: {(tmp_path / 'app.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the Space's app did not answer within 120 s"
            time.sleep(0.5)

        from gradio_client import Client

        client = Client(url, verbose=False)
        job = client.submit("Say hello.", "Be brief.", 0.0, 24, api_name="/chat")
        answers = [_text(update[0]) for update in job]
        assert job.status().code.name == "FINISHED"
        final = answers[-1]
        assert final.strip(), f"no answer; log: {(tmp_path / 'app.log').read_text()[-3000:]}"
        growing = [a for a in answers if a and final.startswith(a.rstrip())]
        assert len(set(growing)) >= 3, f"the answer did not stream: {answers}"
        assert "could not" not in final.lower() and "error" not in final.lower(), final
    finally:
        app.terminate()
        app.wait(timeout=30)
        log.close()


def _text(answer) -> str:
    """The chat output's answer as text: a string, or the last message's content."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, list) and answer:
        content = answer[-1].get("content") if isinstance(answer[-1], dict) else answer[-1]
        return content if isinstance(content, str) else str(content)
    return ""

