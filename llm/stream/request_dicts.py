"""Chat messages sent as the plain dicts they already are, past the openai SDK's request transform.

Before every request, `chat.completions.create` walks its whole body against the SDK's parameter
types (`async_maybe_transform`), on the event loop every visitor shares, to rename aliased keys and
format dates and files. Chat messages have none of those, and langchain-openai has already made them
plain dicts (`_convert_message_to_dict`), so the walk changes nothing; but it tries each message
against every type of the message union: about 0.25 ms a message on this project's 2-core machine
(0.66–0.80 ms for a system prompt and a question, 9.5 ms for a 20-turn conversation), before the
request can leave. The same walk is reported upstream and worked around this way elsewhere
(anthropics/anthropic-sdk-python#1195, BerriAI/litellm#29769).

`messages_past_the_transform(payload)` moves the messages into `extra_body`, which the SDK merges into
the JSON body as it is, after the transform, keeping the key's place: the server receives the same
body, byte for byte (tests/test_request_dicts.py checks against plain ChatOpenAI's). An `extra_body`
the caller gave keeps the last word, as before. A Responses API payload (`input`) is left alone.

    >>> payload = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    >>> messages_past_the_transform(payload)
    {'model': 'm', 'stream': True, 'messages': [], 'extra_body': {'messages': [{'role': 'user', 'content': 'hi'}]}}
    >>> messages_past_the_transform({"model": "m", "input": "hi"})
    {'model': 'm', 'input': 'hi'}
"""

from __future__ import annotations

from typing import Any


def messages_past_the_transform(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` (langchain-openai's keyword arguments for `create`) with its chat messages in
    `extra_body`, and an empty list where the SDK's transform would walk them."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        return payload
    extra = payload.get("extra_body") or {}
    return {**payload, "messages": [], "extra_body": {"messages": messages, **extra}}
