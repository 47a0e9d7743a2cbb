"""The offline model's own process: llama-cpp-python's OpenAI-compatible server.

`llm.backends.runtime.ModelRuntime` starts it; nobody needs to by hand:

    RUNTIME_SOCKET_FD=3 RUNTIME_API_KEY=... python -m llm.backends.runtime_server MODEL.gguf --n-ctx 2048

What sets it apart from `python -m llama_cpp.server`:

- It serves on a listening socket the parent made and handed down, so the port
  stays the same across restarts, and a request sent while it restarts waits in
  that socket's backlog instead of being refused.
- It exits when its standard input closes, which happens when the parent ends
  in any way, SIGKILL included: it never outlives the app.
- Streams end with a usage chunk (`choices: []`, as OpenAI sends for
  `stream_options.include_usage`), which llama-cpp-python's server leaves out.
- Chat answers are decoded together, `--parallel` at once, in one llama.cpp
  context (`llm/backends/runtime_batch.py`, continuous batching); a request
  beyond that waits for a free slot. The library's route answers one request
  at a time.
- Each streaming answer is generated on a thread of its own while the event
  loop sends it, and stops between tokens when the client goes away. The
  library's route fetches every token through the thread pool, and the model
  sits idle for each hop: 0.90x of raw llama-cpp-python on 2 cores
  (benchmarks/local_model.py).
- A streaming request whose last message is the assistant's, with vLLM's
  `continue_final_message: true`, continues that message instead of starting a
  new one (the chat template rendered up to the end of its text): how the app
  branches an answer from another token (`llm/lessons/branching.py`).
- Requests that offer tools, or ask for OpenAI's `json_schema` response format,
  are answered by `llm/backends/runtime_tools.py`: the model calls a tool under a grammar
  made from the tool's schema, which llama-cpp-python's server does not offer
  with the GGUF's own chat template.
Everything else is the library's.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

READY = "RUNTIME READY"  # the line the parent waits for: weights loaded, serving


def _load(name: str) -> Any:
    """llm/backends/<name>.py by its path: this process has no `llm` package on its path (see llm.backends.runtime)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tools = _load("runtime_tools")
batching = _load("runtime_batch")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one GGUF for the app (started by llm.backends.runtime).")
    parser.add_argument("model")
    parser.add_argument("--alias", default="local")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--n-threads-batch", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--parallel", type=int, default=1, help="answers decoded at once (slots)")
    args = parser.parse_args(argv)

    threading.Thread(target=_exit_when_parent_goes, name="parent-watch", daemon=True).start()
    tools.strict_json_strings()
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    model = ModelSettings(
        model=args.model,
        model_alias=args.alias,
        n_ctx=args.n_ctx,
        n_threads=args.n_threads,
        n_threads_batch=args.n_threads_batch,
        # Token probabilities need the logits of every token. Measured (docs/benchmarks.md, "Token probabilities"):
        # +59 MB for the process, no change in tokens/s; so always on, and one process serves both.
        logits_all=True,
        verbose=False,
    )
    # interrupt_requests=False: by default a second request silently ends the stream being answered.
    server = ServerSettings(api_key=os.environ.get("RUNTIME_API_KEY") or None, interrupt_requests=False)
    app = create_app(server_settings=server, model_settings=[model])  # loads the weights
    from llama_cpp.server import app as library

    base = library._llama_proxy(args.alias)  # the loaded model; its own context serves the library's other routes
    _stream_chat_on_a_thread(app, batching.Batcher(base, slots=args.parallel, n_ctx=args.n_ctx))
    print(READY, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[_listening_socket()])


def _stream_chat_on_a_thread(app: Any, batcher: Any) -> None:
    """Put our route for /v1/chat/completions before the library's: each request takes a free slot
    of `batcher` (waiting in line for one), answers on its own thread, and gives the slot back when
    that thread has ended."""
    from fastapi import Depends, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from llama_cpp import Llama
    from llama_cpp.server import app as server
    from llama_cpp.server.types import CreateChatCompletionRequest
    from pydantic import ValidationError

    async def chat(request: Request) -> Any:
        # The body as sent: the library's request model drops fields it does not know.
        sent = tools.openai_to_llama(await request.json())
        try:
            body = CreateChatCompletionRequest.model_validate(sent)
        except ValidationError as error:
            return JSONResponse({"error": {"message": str(error), "type": "invalid_request_error"}}, status_code=400)
        choice = tools.tool_choice_of(sent)
        if choice is not None:
            def answer(llama: Any, **kwargs: Any) -> Any:
                return tools.answer_with_tools(llama, **{**kwargs, "tool_choice": choice})
        elif sent.get("continue_final_message") is True and (body.messages or [{}])[-1].get("role") == "assistant":
            answer = _continuation
        else:
            answer = Llama.create_chat_completion
        if not body.stream:
            slot = await slots.take()
            try:
                kwargs = _arguments(body)
                llama = server.prepare_request_resources(body, lambda _name: slot, body.model, kwargs)
            except BaseException:
                slots.give_back(slot)
                raise

            def whole() -> Any:
                try:
                    return answer(llama, **kwargs)
                finally:
                    slots.give_back_from_thread(slot)

            return await asyncio.to_thread(whole)
        return StreamingResponse(events(body, answer), media_type="text/event-stream")

    async def events(body: CreateChatCompletionRequest, answer: Callable[..., Any]) -> AsyncIterator[str]:
        slot = await slots.take()  # in line, while the client waits for the first byte
        tokens, ended = None, False
        try:
            kwargs = _arguments(body)
            llama = server.prepare_request_resources(body, lambda _name: slot, body.model, kwargs)
            tokens = _TokenThread(lambda: _with_usage(llama, answer(llama, **kwargs)),
                                  ended=lambda: slots.give_back_from_thread(slot))
            while (chunk := await tokens.next()) is not None:
                yield f"data: {json.dumps(chunk)}\n\n"
            ended = True
            yield "data: [DONE]\n\n"
        except Exception as error:  # the OpenAI client raises this as an APIError
            ended = tokens is not None  # the thread raised it, and has ended
            yield f"data: {json.dumps({'error': {'message': str(error)}})}\n\n"
        finally:  # also when Starlette cancels us because the client went away
            if tokens is None:
                slots.give_back(slot)
            elif not ended:  # still generating: no await between here and the thread's own end, so the
                batcher.cancel(slot)  # slot is still this answer's (a step under way finishes first)
                tokens.stop()

    slots = _Slots(batcher.slots)

    chat.__annotations__.update(request=Request)  # a name FastAPI can resolve (annotations are strings here)
    app.add_api_route("/v1/chat/completions", chat, methods=["POST"], dependencies=[Depends(server.authenticate)])
    app.router.routes.insert(0, app.router.routes.pop())


def _arguments(body: Any) -> dict:
    """The request's options as llama-cpp-python's chat functions take them."""
    return body.model_dump(exclude={"n", "logit_bias_type", "user", "min_tokens"})


class _Slots:
    """The batcher's free slots. Requests get them in the order they came, and always the free slot
    with the lowest number: one visitor's turns land in the same slot, which still holds the
    conversation so far (llama-cpp-python reads only what follows the shared prefix)."""

    def __init__(self, slots: list[Any]) -> None:
        self._free = list(slots)  # kept sorted by sequence number
        self._waiting: collections.deque[asyncio.Future] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None  # the server's, known once a request comes

    async def take(self) -> Any:
        self._loop = asyncio.get_running_loop()
        if self._free and not self._waiting:
            slot = self._free.pop(0)
        else:
            turn = self._loop.create_future()
            self._waiting.append(turn)
            try:
                slot = await turn
            except asyncio.CancelledError:  # the client went away while in line
                if turn.done() and not turn.cancelled():
                    self.give_back(turn.result())
                else:
                    self._waiting.remove(turn)
                raise
        slot.lease()
        return slot

    def give_back(self, slot: Any) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(slot)
                return
        bisect.insort(self._free, slot, key=lambda free: free.seq)

    def give_back_from_thread(self, slot: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self.give_back, slot)
        except RuntimeError:  # the loop has closed
            pass


class _TokenThread:
    """Iterates a llama.cpp stream on its own thread, handing chunks to the event loop; `ended()` runs
    on that thread when it is done with the model."""

    def __init__(self, start: Callable[[], Iterator[dict]], ended: Callable[[], None] = lambda: None) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._stopping = threading.Event()
        self._ended = ended
        self._thread = threading.Thread(target=self._run, args=(start,), name="tokens", daemon=True)
        self._thread.start()

    async def next(self) -> dict | None:
        """The next chunk; None at the end."""
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        """Stop between tokens; the thread ends on its own (at most one step later), without
        holding up the event loop, which serves every other answer."""
        self._stopping.set()

    def _run(self, start: Callable[[], Iterator[dict]]) -> None:
        try:
            chunks = start()
            with contextlib.closing(chunks):
                for chunk in chunks:  # each step evaluates one token
                    if self._stopping.is_set():
                        return
                    self._put(chunk)
            self._put(None)
        except BaseException as error:
            self._put(error)
        finally:
            self._ended()

    def _put(self, item: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is listening
            self._stopping.set()


def _continuation(llama: Any, **kwargs: Any) -> Iterator[dict]:
    """The chat's last (assistant) message continued: the GGUF's chat template rendered with that
    message open, then llama-cpp-python's own chat handler (sampling, stop tokens, logprobs)."""
    from llama_cpp.llama_chat_format import ChatFormatterResponse, Jinja2ChatFormatter

    cut = "\x00continue-here\x00"

    class Continuing(Jinja2ChatFormatter):
        def __call__(self, *, messages: list, **options: Any) -> ChatFormatterResponse:
            *earlier, last = messages
            marked = super().__call__(messages=[*earlier, {**last, "content": (last.get("content") or "") + cut}],
                                      **options)
            prompt = marked.prompt[: marked.prompt.rindex(cut)]  # without the end-of-turn after the text
            return ChatFormatterResponse(prompt=prompt, stop=marked.stop, stopping_criteria=marked.stopping_criteria,
                                         added_special=marked.added_special)

    formatter = tools.gguf_formatter(llama, Continuing, add_generation_prompt=False)
    return formatter.to_chat_handler()(llama=llama, **kwargs)


def _listening_socket() -> socket.socket:
    fd = os.environ.get("RUNTIME_SOCKET_FD")
    if fd:
        return socket.socket(fileno=int(fd))
    # No inherited socket (Windows cannot pass one): bind the port the parent chose.
    return socket.create_server(("127.0.0.1", int(os.environ["RUNTIME_PORT"])))


def _exit_when_parent_goes() -> None:
    # os.read, not sys.stdin: a thread blocked in a buffered read holds its lock, and Python
    # then aborts at shutdown instead of exiting with the error that ended it.
    while os.read(0, 4096):  # b"" at end of file: the parent closed the pipe, or died
        pass
    os._exit(0)


def _with_usage(llama: Any, chunks: Iterator[dict]) -> Iterator[dict]:
    """The chunks of a llama.cpp chat stream, then a usage chunk (`choices: []`, as OpenAI sends)."""
    produced, last = 0, None
    with contextlib.closing(chunks):
        for chunk in chunks:
            choices = chunk.get("choices") or [{}]
            delta = choices[0].get("delta") or {}
            produced += bool(delta.get("content") or delta.get("tool_calls"))
            last = chunk
            yield chunk
    if last is not None:
        prompt = max(0, llama.n_tokens - produced)  # the context holds the prompt and the answer
        usage = {"prompt_tokens": prompt, "completion_tokens": produced, "total_tokens": prompt + produced}
        yield {**last, "choices": [], "usage": usage}


if __name__ == "__main__":
    main()
