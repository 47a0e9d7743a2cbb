"""Shared fixtures: the scripted OpenAI-compatible server and the real app on loopback."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from llm import Settings
from tests.openai_server import FakeOpenAIServer, Scenario

ROOT = Path(__file__).resolve().parents[1]
FIRST_CHOSEN_PORT = 10_000  # free_port's lowest: above the well-known and most registered services' ports
SECRET = "test-secret-not-a-real-key"  # the key the app under test holds; it must never come back out


def ephemeral_ports_start() -> int:
    """The first port of the range the kernel gives outgoing connections (Linux); 0 where unknown."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    return int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 0


def free_port() -> int:
    """A port free now, for a server started next. Chosen below the kernel's ephemeral range where
    there is one: a port the kernel hands out (bind to 0) can go to any outgoing connection before
    the server binds it, and once did (an app in CI: "Cannot find empty port"). Below the range, only
    another test's choice could take it."""
    low = ephemeral_ports_start()
    for _ in range(100 if low > FIRST_CHOSEN_PORT else 0):
        port = random.randrange(FIRST_CHOSEN_PORT, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def server(openai_server: FakeOpenAIServer) -> FakeOpenAIServer:
    """The session's server with a fresh scenario and empty logs."""
    openai_server.reset(Scenario())
    return openai_server


@pytest.fixture
def fresh_memory():
    """No JSON mode remembered from an earlier test (llm/lessons/json_modes.py remembers what each server took)."""
    from llm.lessons.json_modes import _WORKED

    _WORKED.clear()
    yield
    _WORKED.clear()


def server_settings(server: FakeOpenAIServer, **overrides) -> Settings:
    base = dict(
        provider="openai",
        openai_api_key=SECRET,
        openai_base_url=server.base_url,
        openai_model="fake-model",
        request_timeout=5.0,
        max_retries=0,
        concurrency_limit=16,
    )
    return Settings(**{**base, **overrides})


def launch(settings: Settings):
    """Start the real app in this process on a free loopback port; returns (demo, url)."""
    from app import build_demo, launch_options

    demo = build_demo(settings)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **launch_options(settings))
    return demo, demo.local_url


@pytest.fixture(scope="module")
def app_url(openai_server: FakeOpenAIServer) -> Iterator[str]:
    demo, url = launch(server_settings(openai_server))
    yield url
    demo.close()


@contextmanager
def running_app(args: list[str], env_extra: dict[str, str], port: int) -> Iterator[str]:
    """`python app.py ARGS` in a subprocess, as a person starts it, with none of this
    process's model settings (no keys, no provider); yields the page's URL once it answers."""
    process = start_app(args, env_extra, port)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=20)


def start_app(args: list[str], env_extra: dict[str, str], port: int) -> subprocess.Popen:
    """Start `python app.py ARGS` and return once its page answers on `port`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "LOCAL_", "GRADIO_"))}
    env.update(env_extra)
    process = subprocess.Popen(
        [sys.executable, "app.py", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=_interrupt_as_in_a_terminal if os.name == "posix" else None,
    )
    deadline = time.monotonic() + 90
    while not page_answers(f"http://127.0.0.1:{port}/"):
        if process.poll() is not None:
            pytest.fail(f"app.py exited: {process.stdout.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("app.py did not answer within 90 s")
        time.sleep(0.2)
    return process


def _interrupt_as_in_a_terminal() -> None:
    """Ctrl-C's signal at its default in the app, as in a terminal. A shell without job control
    starts background jobs with SIGINT ignored, and a process inherits that: the suite run that way
    (`bash .ci/run &`) would start an app that Ctrl-C cannot stop."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def runtime_children(pid: int) -> list[int]:
    """Processes whose parent is `pid` and that run the local model (`llm.backends.runtime_server`), via /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if b"runtime_server" in cmdline and (parent == pid or pid == 0):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session", autouse=True)
def no_model_process_outlives_the_suite():
    """Every local-model process the tests started in this process ends when its runtime stops."""
    yield
    from llm.backends.runtime import stop_all

    stop_all()
    if Path("/proc").is_dir():
        assert runtime_children(os.getpid()) == []


# -- the browser tests' Chromium and pages (tests/test_browser*.py) ------------------------------

CHAT_INPUT = "#chat-input textarea"  # the page is ready once the chat's input is there

CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
def find_chromium() -> str | None:
    """$CHROMIUM if set (a path), else Chromium on the PATH or at Debian's place."""
    if "CHROMIUM" in os.environ:
        return os.environ["CHROMIUM"] if os.path.isfile(os.environ["CHROMIUM"]) else None
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


@pytest.fixture(scope="module")
def browser():
    path = find_chromium()
    reason = "no Chromium found (install it, e.g. apt-get install chromium, or set CHROMIUM=/path/to/chrome)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path, reason = None, "the playwright package is not installed"
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def _open(url: str):
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url)
        page.locator(CHAT_INPUT).wait_for()
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def unconfigured_app_url():
    """The README's run command, `python app.py`, with no model settings in the environment."""
    if (ROOT / ".env").exists():
        pytest.skip("a .env in the project would configure the app")
    port = free_port()
    with running_app(["--port", str(port)], {}, port) as url:
        yield url


def page_answers(url: str) -> bool:
    """Whether the app at `url` serves its page (or its login, behind APP_AUTH)."""
    try:
        return httpx.get(f"{url}config", timeout=2).status_code in (200, 401)  # 401: up, behind APP_AUTH
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def llama_cpp_server(tmp_path_factory):
    """`python -m llama_cpp.server` on the bundled GGUF: a real OpenAI-compatible server people use."""
    from llm.backends.local import find_bundled_gguf

    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"  # a file, not a pipe: its verbose log would fill one
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", find_bundled_gguf(),
                                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
                               stdout=subprocess.DEVNULL, stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)


def server_settings_for(url: str):
    class _Server:  # server_settings takes the scripted server; only its base_url is read
        base_url = url

    return server_settings(_Server(), openai_model="SmolLM2", request_timeout=120.0)
