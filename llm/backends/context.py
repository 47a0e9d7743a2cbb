"""Fit a conversation into a model's context window by leaving out the oldest turns.

The system prompt and the newest message always stay; room is kept for the
answer. langchain-core's `trim_messages` does the trimming; this adds the
budget, the count of what was left out, and a clear refusal when the newest
message cannot fit at all.

    >>> from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
    >>> chat = [SystemMessage("be brief"), HumanMessage("one two"), AIMessage("three four"), HumanMessage("five")]
    >>> words = lambda messages: sum(len(m.text.split()) for m in messages)
    >>> fitted = fit_messages(chat, words, window=20, max_tokens=4)
    >>> [m.text for m in fitted.messages], fitted.turns_left_out
    (['be brief', 'five'], 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, trim_messages

from llm.errors import ReadableError

TokenCounter = Callable[[Sequence[BaseMessage]], int]
MIN_ANSWER_ROOM = 16  # a message that leaves less than this for the answer is refused


class MessageTooLong(ReadableError, ValueError):
    """Even alone with the system prompt, the newest message does not fit the window."""


@dataclass(frozen=True)
class Fitted:
    messages: list[BaseMessage]
    tokens: int  # what the kept messages take, by the counter
    window: int | None = None
    messages_left_out: int = 0
    turns_left_out: int = 0  # user messages among those left out

    def note(self) -> str | None:
        """A sentence for the chat and the Debug tab, when anything was left out."""
        if not self.messages_left_out:
            return None
        turns = f"{self.turns_left_out} earliest turn{'s' if self.turns_left_out != 1 else ''}"
        return (
            f"Left out the {turns} ({self.messages_left_out} messages) so the conversation fits the "
            f"model's {self.window:,}-token window; it does not see them."
        )


def fit_messages(messages: list[BaseMessage], count: TokenCounter, window: int, max_tokens: int) -> Fitted:
    """Keep the newest messages that fit `window` with room for a `max_tokens` answer
    (at most half the window), the system prompt included. Raises `MessageTooLong`."""
    answer_room = max(MIN_ANSWER_ROOM, min(max_tokens, window // 2))
    budget = window - answer_room
    total = count(messages)
    if total <= budget:
        return Fitted(messages, total, window)
    kept = trim_messages(
        messages,
        max_tokens=budget,
        token_counter=count,
        strategy="last",
        include_system=True,
        start_on="human",
        allow_partial=False,
    )
    if not kept or kept[-1] is not messages[-1]:
        essential = [m for m in messages[:1] if m.type == "system"] + messages[-1:]
        needed = count(essential)
        if needed > window - MIN_ANSWER_ROOM:
            raise MessageTooLong(
                f"This message is too long for the model: with the system prompt it takes about "
                f"{needed:,} tokens, and the model's window is {window:,} tokens in all, answer included. "
                "Shorten it (or, for the local model, raise LOCAL_N_CTX)."
            )
        kept = essential  # it fits once the answer makes do with less room
    kept_ids = {id(m) for m in kept}
    left_out = [m for m in messages if id(m) not in kept_ids]
    turns = sum(isinstance(m, HumanMessage) for m in left_out)
    return Fitted(kept, count(kept), window, len(left_out), turns)


def has_window(model: object) -> bool:
    """Whether the model says how large its context window is (the bundled model does)."""
    return bool(getattr(model, "context_window", None))


def fit_for_model(model: object, messages: list[BaseMessage], max_tokens: int) -> Fitted:
    """`fit_messages` with the model's own window and token count; unchanged where the model
    does not say how large its window is (remote servers answer an overflow themselves)."""
    window = getattr(model, "context_window", None)
    if not window:
        return Fitted(messages, 0)
    return fit_messages(messages, model.get_num_tokens_from_messages, window, max_tokens)
