"""Streamed chat chunks read as the plain dicts they arrive as, not built into the openai SDK's models.

langchain-openai turns every chunk the openai SDK yields back into a dict (`model_dump`) before it
reads it; the SDK had just built that chunk's pydantic model from the same dict (`construct_type`,
with a runtime Protocol check per chunk): about 100 µs a chunk on this project's 2-core machine. With
100 answers of 100 chunks at once, the model client's CPU per answer fell from 35.2 to 24.7 ms
(docs/benchmarks.md, "Against Gradio's own floor").

`read_chunks_as_dicts(client)` makes a client hand chat chunks over as the dicts the server sent;
langchain-openai reads a dict as it is. Everything else (whole responses, errors, other streams)
the client still builds as before.

    >>> from openai import AsyncOpenAI
    >>> from openai.types.chat import ChatCompletionChunk
    >>> client = read_chunks_as_dicts(AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1"))
    >>> chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": []}
    >>> client._process_response_data(data=chunk, cast_to=ChatCompletionChunk, response=None) is chunk
    True
"""

from __future__ import annotations

from typing import Any, TypeVar

from openai.types.chat import ChatCompletionChunk

Client = TypeVar("Client")


def read_chunks_as_dicts(client: Client) -> Client:
    """`client` (an `openai.OpenAI` or `AsyncOpenAI`), its streamed chat chunks now left as dicts."""
    build = getattr(client, "_process_response_data", None)
    if build is None or getattr(build, "keeps_chunk_dicts", False):  # another SDK version, or done already
        return client

    def process(*args: Any, **kwargs: Any) -> Any:
        if not args and kwargs.get("cast_to") is ChatCompletionChunk and isinstance(kwargs.get("data"), dict):
            return kwargs["data"]
        return build(*args, **kwargs)

    process.keeps_chunk_dicts = True  # type: ignore[attr-defined]
    client._process_response_data = process  # type: ignore[attr-defined]
    return client
