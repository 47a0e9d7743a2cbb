"""What a shared app refuses, in words: bad input, oversized messages and histories, too many
messages a minute from one session, and a second answer while one is streaming.

Each check returns a sentence for the person (or None when all is well); nothing here raises
at a visitor, and nothing is sent upstream when a check fails.

    >>> check_request("hi", "hot", 10)
    "Temperature must be a number between 0 and 2, not 'hot'."
    >>> rate = SessionRate(per_minute=2)
    >>> [rate.take("a", now=0.0), rate.take("a", now=1.0), rate.take("b", now=2.0)]
    [None, None, None]
    >>> rate.take("a", now=30.0)
    'This app allows 2 messages a minute; your next message can go in 30 seconds.'
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from llm.stream.messages import sent_part
from llm.stream.token_probs import MAX_TOP

ROLES = {"user", "assistant", "system"}
DEFAULT_TOKEN_CAP = 4096  # Max tokens' ceiling (the slider's top) when MAX_OUTPUT_TOKENS is not set
_SESSIONS_KEPT = 10_000  # the rate limiter forgets the oldest sessions beyond this many


def check_request(
    message: Any, temperature: Any, max_tokens: Any, max_chars: int | None = None, what: str = "message"
) -> str | None:
    """What is wrong with a request from the page or the API, in words; None if nothing."""
    if message is not None and not isinstance(message, str):
        return f"The {what} must be text, not {type(message).__name__}."
    if not (message or "").strip():
        return f"Type a {what} first."
    if max_chars and len(message) > max_chars:
        return (f"The {what} is {len(message):,} characters; this app takes at most {max_chars:,}. "
                "Shorten it and send it again.")
    if not _number_in(temperature, 0, 2):
        return f"Temperature must be a number between 0 and 2, not {temperature!r}."
    if not _number_in(max_tokens, 1, math.inf):
        return f"Max tokens must be a whole number of at least 1, not {max_tokens!r}."
    return None


def check_text(value: Any, what: str) -> str | None:
    """A sentence if an optional text input (system prompt, model name) is not text."""
    return None if value is None or isinstance(value, str) else f"The {what} must be text, not {type(value).__name__}."


def check_top_logprobs(value: Any) -> str | None:
    """A sentence if token probabilities' alternatives (0 = off, at most MAX_TOP, OpenAI's ceiling) are
    not a whole number in range."""
    if value is None or whole_number_in(value, 0, MAX_TOP):
        return None
    return f"Token probabilities must be a whole number from 0 (off) to {MAX_TOP}, not {value!r}."


def check_history(history: Any, max_chars: int | None = None, adding: str = "") -> str | None:
    """What is wrong with a chat history (Gradio's message dicts), in words; None if nothing.
    `adding`: the new message, counted with the history against `max_chars`."""
    if not isinstance(history, Sequence) or isinstance(history, str):
        return "The chat history must be a list of messages."
    for number, message in enumerate(history, start=1):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"Message {number} of the history has no known role (user, assistant or system)."
        if _text_of(message.get("content")) is None:
            return f"Message {number} of the history is not text; this app only sends text to the model."
    total = len(adding) + sum(len(_text_of(m.get("content"))) for m in sent_part(history))
    if max_chars and total > max_chars:
        return (f"The conversation is {total:,} characters; this app sends at most {max_chars:,}. "
                "Clear the chat (the 🗑 button) to start a new one.")
    return None


def whole_number_in(value: Any, low: float, high: float) -> bool:
    """Whether `value` is a whole number (an int, or a float such as 3.0) from `low` to `high`."""
    return _number_in(value, low, high) and float(value).is_integer()


def _number_in(value: Any, low: float, high: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and low <= value <= high)


def _text_of(content: Any) -> str | None:
    """The text of a message's content (a string, or Gradio's list of text parts); None if not text."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    return None


class SessionRate:
    """At most `per_minute` messages in any 60 seconds, counted per browser session."""

    def __init__(self, per_minute: int | None) -> None:
        self.per_minute = per_minute
        self._sent: dict[str, deque[float]] = {}

    def take(self, session: str, now: float | None = None) -> str | None:
        """Count one message for `session`; a sentence instead if it is over the limit."""
        if not self.per_minute:
            return None
        now = time.monotonic() if now is None else now
        sent = self._sent.pop(session, None) or deque()
        self._sent[session] = sent  # most recently used last, so the oldest are forgotten first
        while sent and now - sent[0] >= 60:
            sent.popleft()
        if len(sent) >= self.per_minute:
            wait = math.ceil(60 - (now - sent[0]))
            return (f"This app allows {self.per_minute} messages a minute; "
                    f"your next message can go in {wait} seconds.")
        sent.append(now)
        while len(self._sent) > _SESSIONS_KEPT:
            del self._sent[next(iter(self._sent))]
        return None


class OneAtATime:
    """One answer streaming at a time per session: a second one gets a sentence, not a queue place."""

    BUSY = "One answer at a time: wait for the current one to finish, or press Stop."

    def __init__(self) -> None:
        self._busy: set[str] = set()

    @contextmanager
    def answer(self, session: str) -> Iterator[str | None]:
        """Yields None while this session's answer runs, or `BUSY` if one already is."""
        if session in self._busy:
            yield self.BUSY
            return
        self._busy.add(session)
        try:
            yield None
        finally:
            self._busy.discard(session)


class Limits:
    """The owner's limits for one app (from `Settings`), shared by every tab and session."""

    def __init__(self, max_message_chars: int | None = None, max_history_chars: int | None = None,
                 per_minute: int | None = None, max_output_tokens: int | None = None) -> None:
        self.max_message_chars = max_message_chars
        self.max_history_chars = max_history_chars
        self.max_output_tokens = max_output_tokens
        self.rate = SessionRate(per_minute)
        self.one = OneAtATime()

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(settings.max_message_chars, settings.max_history_chars, settings.messages_per_minute,
                   settings.max_output_tokens)

    def refuse(self, session: str, message: Any, temperature: Any, max_tokens: Any, history: Any = (),
               what: str = "message") -> str | None:
        """Why this request is not sent upstream, or None. Only a request that passes is counted
        against the session's messages a minute."""
        return (check_request(message, temperature, max_tokens, self.max_message_chars, what)
                or check_history(history, self.max_history_chars, message)
                or self.rate.take(session))

    @property
    def token_ceiling(self) -> int:
        """The most Max tokens may be, on the slider and through the API."""
        return self.max_output_tokens or DEFAULT_TOKEN_CAP

    def cap(self, max_tokens: float) -> int:
        """Max tokens as sent upstream: what was asked, never above `token_ceiling`."""
        return int(min(max_tokens, self.token_ceiling))
