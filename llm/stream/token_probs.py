"""Token probabilities: how sure the model was of each token, and what else it could have said.

Asked with `logprobs=True, top_logprobs=k`, an OpenAI-compatible server sends each chunk's tokens
in `choices[0].logprobs.content` (token, logprob, bytes, the k likeliest alternatives), and
langchain-openai puts them in the chunk's `response_metadata["logprobs"]`. They come from outside,
so `parse_logprobs` reads them with limits: a malformed entry marks its chunk malformed, never trusted.

    >>> sent = {"content": [{"token": " Paris", "logprob": -0.1, "bytes": [32, 80, 97, 114, 105, 115],
    ...                      "top_logprobs": [{"token": " Paris", "logprob": -0.1}, {"token": " Lyon", "logprob": -2.5}]}]}
    >>> [token] = parse_logprobs(sent)
    >>> token.token, round(token.probability, 3), [(t, round(p, 3)) for t, p in token.alternatives()]
    (' Paris', 0.905, [(' Paris', 0.905), (' Lyon', 0.082)])
    >>> figures([token]).perplexity
    1.1051709180756477
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_TOP = 20  # OpenAI's own ceiling for top_logprobs
MAX_TOKEN_CHARS = 200  # a token is a few characters; anything longer is not one
MAX_ENTRIES = 64  # tokens one chunk may carry (servers send one, some a handful)
# In a token's entry as kept (`as_sent`): how many alternatives the server listed, when more than were read.
LISTED_KEY = "top_logprobs_listed"
IGNORED_KEY = "logprobs_ignored"  # in a chunk's response_metadata: its logprobs were not token probabilities


@dataclass(frozen=True)
class TokenLogprob:
    """One token as the server sent it: its text, bytes, log-probability and the likeliest alternatives."""

    token: str
    logprob: float
    data: bytes  # the token's bytes: as sent, else its text in UTF-8 (llama.cpp sends none)
    top: tuple[tuple[str, float], ...] = ()  # (token, logprob), most likely first
    listed: int = 0  # how many alternatives the server listed: more than `top` holds past MAX_TOP

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)

    def alternatives(self) -> list[tuple[str, float]]:
        """(token, probability) of the alternatives the server listed, most likely first."""
        return [(token, math.exp(logprob)) for token, logprob in self.top]


def parse_logprobs(value: Any) -> tuple[TokenLogprob, ...]:
    """The tokens in one chunk's `response_metadata["logprobs"]` (`{"content": [...]}`); () for anything
    else. An entry that is not a token with a finite log-probability ≤ 0 makes the whole chunk's
    list `MALFORMED`, so the checks below fail rather than quietly skip it."""
    content = value.get("content") if isinstance(value, dict) else None
    if not isinstance(content, list) or not content:
        return ()
    if len(content) > MAX_ENTRIES:
        return MALFORMED
    tokens = []
    for entry in content:
        token = _entry(entry)
        if token is None:
            return MALFORMED
        top = entry.get("top_logprobs") or []
        top = top if isinstance(top, list) else []
        alternatives = tuple(pair for pair in map(_entry, top[:MAX_TOP]) if pair)
        listed = max(len(top), _count(entry.get(LISTED_KEY)))
        tokens.append(TokenLogprob(token[0], token[1], _bytes(entry.get("bytes"), token[0]),
                                   tuple(sorted(alternatives, key=lambda pair: -pair[1])), listed))
    return tuple(tokens)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**9 else 0


def _entry(entry: Any) -> tuple[str, float] | None:
    if not isinstance(entry, dict):
        return None
    token, logprob = entry.get("token"), entry.get("logprob")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        return None
    if isinstance(logprob, bool) or not isinstance(logprob, (int, float)) or not -1e6 <= logprob <= 0:
        return None
    return token, float(logprob)


def _bytes(value: Any, token: str) -> bytes:
    if isinstance(value, list) and len(value) <= 4 * MAX_TOKEN_CHARS and all(
            isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value):
        return bytes(value)
    return token.encode("utf-8")


# A chunk whose logprobs did not read as tokens: one entry no real token can match.
MALFORMED = (TokenLogprob("\ufffd(malformed)", 0.0, b"\xff"),)


def well_formed(value: Any, tokens: tuple[TokenLogprob, ...]) -> bool:
    """Whether a chunk's `logprobs` (`value`, read as `tokens`) are token probabilities in OpenAI's
    shape, or none at all (None, or an empty `content`)."""
    if value is None:
        return True
    return isinstance(value, dict) and isinstance(value.get("content"), (list, type(None))) and tokens != MALFORMED


def bounded(value: Any) -> tuple[dict[str, Any] | None, bool]:
    """What a chunk keeps of the `logprobs` a server sent: (the tokens in OpenAI's shape, bounded as
    read, or None when there are none; whether they were ignored as not token probabilities).

        >>> bounded({"content": []}), bounded("a string")
        ((None, False), (None, True))
    """
    tokens = parse_logprobs(value)
    if not well_formed(value, tokens):
        return None, True
    return (as_sent(tokens) if tokens else None), False


def as_sent(tokens: tuple[TokenLogprob, ...]) -> dict[str, Any]:
    """`tokens` in OpenAI's shape, bounded as read (at most MAX_TOP alternatives each, and how many
    were listed when there were more): what a chunk keeps in place of what the server sent, so that
    adding chunks merges lists of one shape, and an answer holds no more than it shows.

        >>> as_sent((TokenLogprob("Hi", -0.5, b"Hi", (("Hi", -0.5), ("Yo", -1.0))),))
        {'content': [{'token': 'Hi', 'logprob': -0.5, 'bytes': [72, 105], 'top_logprobs': [{'token': 'Hi', 'logprob': -0.5}, {'token': 'Yo', 'logprob': -1.0}]}]}
    """
    return {"content": [{"token": t.token, "logprob": t.logprob, "bytes": list(t.data),
                         "top_logprobs": [{"token": token, "logprob": logprob} for token, logprob in t.top],
                         **({LISTED_KEY: t.listed} if t.listed > len(t.top) else {})}
                        for t in tokens]}


@dataclass(frozen=True)
class Figures:
    """What an answer's token probabilities add up to."""

    tokens: int
    mean_logprob: float
    perplexity: float  # exp(-mean log-probability): 1 is certain; k is "as unsure as k equal choices"
    least_likely: tuple[tuple[int, TokenLogprob], ...]  # (position, token), least likely first


class RunningFigures:
    """`Figures` kept up to date one token at a time (constant work per token), for a page that reads
    them at every update of a long answer."""

    def __init__(self, least: int = 3) -> None:
        self.tokens = 0
        self._sum = 0.0
        self._least = least
        self._lowest: list[tuple[float, int, TokenLogprob]] = []  # (logprob, position, token), lowest first

    def add(self, token: TokenLogprob) -> None:
        position, self.tokens, self._sum = self.tokens, self.tokens + 1, self._sum + token.logprob
        if len(self._lowest) < self._least or token.logprob < self._lowest[-1][0]:
            self._lowest = sorted([*self._lowest, (token.logprob, position, token)], key=lambda x: x[:2])[:self._least]

    def figures(self) -> Figures | None:
        if not self.tokens:
            return None
        mean = self._sum / self.tokens
        return Figures(self.tokens, mean, math.exp(-mean), tuple((i, t) for _, i, t in self._lowest))


def figures(tokens: Sequence[TokenLogprob], least: int = 3) -> Figures | None:
    """Mean log-probability, perplexity, and the `least` least likely tokens; None with no tokens."""
    running = RunningFigures(least)
    for token in tokens:
        running.add(token)
    return running.figures()


def bytes_check(tokens: Sequence[TokenLogprob], text: str, completion_tokens: int | None) -> str:
    """The sum check for probabilities: the tokens' bytes joined must be the answer's text, and (where
    the server reported usage) there must be as many as its completion tokens.

        >>> tokens = [TokenLogprob("Hi", -0.1, b"Hi"), TokenLogprob(" there", -0.2, b" there")]
        >>> print(bytes_check(tokens, "Hi there", 2))
        Probability check ✓ the 2 tokens' bytes join to the answer's text, and they are the 2 completion tokens the server reported.
        >>> print(bytes_check(tokens, "Hi there!", None))
        Probability check ✗ the 2 tokens' bytes join to 8 bytes of text, but the answer has 9.
    """
    joined = b"".join(t.data for t in tokens)
    answer = text.encode("utf-8")
    count = len(tokens)
    if joined != answer:
        return (f"Probability check ✗ the {count} tokens' bytes join to {len(joined)} bytes of text, "
                f"but the answer has {len(answer)}.")
    line = f"Probability check ✓ the {count} tokens' bytes join to the answer's text"
    if completion_tokens is None:
        return line + " (the server reported no token count to compare)."
    if completion_tokens != count:
        return (f"Probability check ✗ the {count} tokens' bytes join to the answer's text, but the server "
                f"reported {completion_tokens} completion tokens.")
    return line + f", and they are the {count} completion tokens the server reported."
