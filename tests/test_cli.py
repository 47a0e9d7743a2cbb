"""`python app.py` as a person runs it: flags, Gradio's variables, no configuration at all."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_flags_become_launch_arguments():
    from app import launch_kwargs

    assert launch_kwargs([]) == {"server_name": None, "server_port": None, "share": False}
    assert launch_kwargs(["--host", "0.0.0.0", "--port", "9000", "--share"]) == {
        "server_name": "0.0.0.0",
        "server_port": 9000,
        "share": True,
    }


def run_app(args: list[str], env_extra: dict[str, str], port: int) -> str:
    """Start app.py in a clean environment (no keys, no .env from elsewhere); return /config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "LOCAL_", "GRADIO_"))}
    env.update(env_extra)
    process = subprocess.Popen(
        [sys.executable, "app.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"app.py exited: {process.stdout.read().decode()[-2000:]}")
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/config", timeout=2)
                if response.status_code == 200:
                    return response.text
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail("app.py did not answer within 90 s")
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.skipif((ROOT / ".env").exists(), reason="a .env in the project would configure the app")
def test_with_no_configuration_the_app_serves_the_local_model():
    port = free_port()
    config = run_app(["--port", str(port)], {}, port)
    assert "local model" in config and "SmolLM2" in config


def test_gradio_server_port_is_honoured():
    port = free_port()
    config = run_app([], {"GRADIO_SERVER_PORT": str(port), "LLM_PROVIDER": "local"}, port)
    assert "Watch an LLM stream" in config
