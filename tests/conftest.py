"""Shared fixtures: the scripted OpenAI-compatible server and the real app on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from llm import Settings
from tests.openai_server import FakeOpenAIServer, Scenario


def free_port() -> int:
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


def server_settings(server: FakeOpenAIServer, **overrides) -> Settings:
    base = dict(
        provider="openai",
        openai_api_key="sk-test-secret-key-1234567890",
        openai_base_url=server.base_url,
        openai_model="fake-model",
        request_timeout=5.0,
        max_retries=0,
        concurrency_limit=16,
    )
    return Settings(**{**base, **overrides})


def launch(settings: Settings):
    """Start the real app in this process on a free loopback port; returns (demo, url)."""
    from app import build_demo

    demo = build_demo(settings)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    return demo, demo.local_url


@pytest.fixture(scope="module")
def app_url(openai_server: FakeOpenAIServer) -> Iterator[str]:
    demo, url = launch(server_settings(openai_server))
    yield url
    demo.close()
