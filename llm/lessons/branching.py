"""Continue an answer from another token: keep its first i tokens, put an alternative next, and let
the model go on from there.

The request is the answer's own (same model, options and messages) with one more message: the
assistant's, holding the kept tokens and the alternative, which the model is asked to continue
rather than answer (`continue_final_message`, vLLM's name for it; the bundled model's process
honours it too). A server that cannot do that would start a new answer after it, so only models
that say they can are asked (`can_continue`).

    >>> from llm.stream.token_probs import TokenLogprob
    >>> tokens = [TokenLogprob("The", -0.1, b"The"), TokenLogprob(" sky", -0.2, b" sky"), TokenLogprob(" is", -0.3, b" is")]
    >>> branch_prefix(tokens, 2, " sea")
    'The sky sea'
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableBinding

from llm.stream.token_probs import TokenLogprob

CANNOT_CONTINUE = (
    "This server cannot be asked to continue a prefix of an answer, so a branch cannot start here. The "
    "bundled model can; for vLLM (or another server that takes vLLM's `continue_final_message`), set "
    "OPENAI_CONTINUE_FINAL_MESSAGE=true."
)


@dataclass(frozen=True)
class Origin:
    """What asked for an answer, kept so a branch can ask again: the model with the answer's options
    (temperature, max tokens, probabilities), the messages it was sent, and the secrets to keep out of
    any error text. Held on the server only (in the answer's Debug state)."""

    model: Any
    messages: list[BaseMessage]
    top_logprobs: int = 0  # the alternatives asked for each token; 0: no probabilities
    secrets: tuple[str | None, ...] = field(default=(), repr=False)


def can_continue(model: Any) -> bool:
    """Whether the model (or the model under its bound options) continues a final assistant message."""
    while isinstance(model, RunnableBinding):
        model = model.bound
    return bool(getattr(model, "continues_final_message", False))


def branch_prefix(tokens: Sequence[TokenLogprob], position: int, alternative: str) -> str:
    """The first `position` tokens' text, then `alternative` in place of the token at `position`."""
    return b"".join(t.data for t in tokens[:position]).decode("utf-8", errors="replace") + alternative


async def astream_branch(origin: Origin, prefix: str) -> AsyncIterator[AIMessageChunk]:
    """The model's continuation of `prefix`, as its chunks stream (the prefix itself is not among them)."""
    model = origin.model.bind(continue_final_message=True)
    async with aclosing(model.astream([*origin.messages, AIMessage(content=prefix)])) as chunks:  # Stop closes it
        async for chunk in chunks:
            yield chunk
