"""The offline model's own process: llama-cpp-python's OpenAI-compatible server.

`llm.runtime.ModelRuntime` starts it; nobody needs to by hand:

    RUNTIME_SOCKET_FD=3 RUNTIME_API_KEY=... python -m llm.runtime_server MODEL.gguf --n-ctx 2048

Three things set it apart from `python -m llama_cpp.server`:

- It serves on a listening socket the parent made and handed down, so the port
  stays the same across restarts, and a request sent while it restarts waits in
  that socket's backlog instead of being refused.
- It exits when its standard input closes, which happens when the parent ends
  in any way, SIGKILL included: it never outlives the app.
- Streams end with a usage chunk (`choices: []`, as OpenAI sends for
  `stream_options.include_usage`), which llama-cpp-python's server leaves out.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

READY = "RUNTIME READY"  # the line the parent waits for: weights loaded, serving


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one GGUF for the app (started by llm.runtime).")
    parser.add_argument("model")
    parser.add_argument("--alias", default="local")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--n-threads-batch", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    threading.Thread(target=_exit_when_parent_goes, name="parent-watch", daemon=True).start()
    import llama_cpp
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    llama_cpp.Llama.create_chat_completion = _with_usage(llama_cpp.Llama.create_chat_completion)
    model = ModelSettings(
        model=args.model,
        model_alias=args.alias,
        n_ctx=args.n_ctx,
        n_threads=args.n_threads,
        n_threads_batch=args.n_threads_batch,
        verbose=False,
    )
    # interrupt_requests=False: by default a second request silently ends the stream being answered.
    server = ServerSettings(api_key=os.environ.get("RUNTIME_API_KEY") or None, interrupt_requests=False)
    app = create_app(server_settings=server, model_settings=[model])  # loads the weights
    print(READY, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[_listening_socket()])


def _listening_socket() -> socket.socket:
    fd = os.environ.get("RUNTIME_SOCKET_FD")
    if fd:
        return socket.socket(fileno=int(fd))
    # No inherited socket (Windows cannot pass one): bind the port the parent chose.
    sock = socket.create_server(("127.0.0.1", int(os.environ["RUNTIME_PORT"])))
    return sock


def _exit_when_parent_goes() -> None:
    # os.read, not sys.stdin: a thread blocked in a buffered read holds its lock, and Python
    # then aborts at shutdown instead of exiting with the error that ended it.
    while os.read(0, 4096):  # b"" at end of file: the parent closed the pipe, or died
        pass
    os._exit(0)


def _with_usage(create: Any) -> Any:
    """Wrap `Llama.create_chat_completion` so a stream ends with a usage chunk."""

    def create_chat_completion(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = create(self, *args, **kwargs)
        return _add_usage(self, result) if kwargs.get("stream") else result

    return create_chat_completion


def _add_usage(llama: Any, chunks: Iterator[dict]) -> Iterator[dict]:
    produced, last = 0, None
    try:
        for chunk in chunks:
            choices = chunk.get("choices") or [{}]
            produced += bool((choices[0].get("delta") or {}).get("content"))
            last = chunk
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    if last is not None:
        prompt = max(0, llama.n_tokens - produced)  # the context holds the prompt and the answer
        usage = {"prompt_tokens": prompt, "completion_tokens": produced, "total_tokens": prompt + produced}
        yield {**last, "choices": [], "usage": usage}


if __name__ == "__main__":
    main()
