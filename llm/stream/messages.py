"""Turn a question or a chat history into LangChain messages.

    >>> [m.type for m in to_messages("hi", system_prompt="be brief")]
    ['system', 'human']
    >>> history = [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ...            {"role": "assistant", "content": "hello"}]
    >>> [(m.type, m.content) for m in to_messages(history + [{"role": "user", "content": "again"}])]
    [('human', 'hi'), ('ai', 'hello'), ('human', 'again')]
    >>> refused = [{"role": "user", "content": "x" * 30_000}, {"role": "assistant", "content": "Too long.",
    ...            "metadata": {"title": "⚠ Note"}}]
    >>> [m.content for m in to_messages(history + refused + [{"role": "user", "content": "again"}])]
    ['hi', 'hello', 'again']
    >>> blocks = [{"role": "assistant", "content": "Part one.\\n\\n"}, {"role": "assistant", "content": "Part two."}]
    >>> [m.content for m in to_messages(history[:1] + blocks)]  # a long answer the page showed in blocks
    ['hi', 'Part one.\\n\\nPart two.']
    >>> transcript(history + [{"role": "assistant", "content": "401", "metadata": {"title": "⚠ Note"}}])[1:]
    [{'role': 'assistant', 'content': 'hello'}, {'role': 'assistant', 'content': '401', 'note': '⚠ Note'}]
    >>> thought = {"role": "assistant", "content": "Part one.\\n\\n", "metadata": {"title": "Thinking", "id": "t1"}}
    >>> part = {"role": "assistant", "content": "Part two.", "metadata": {"parent_id": "t1"}}
    >>> transcript([thought, part])  # a long thinking block, nested on the page
    [{'role': 'assistant', 'content': 'Part one.\\n\\nPart two.', 'note': 'Thinking'}]
    >>> [m.content for m in to_messages(history[:1] + [thought, part, {"role": "assistant", "content": "4."}])]
    ['hi', '4.']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage, convert_to_messages

from llm.inert import restored

Prompt = str | Sequence[BaseMessage | dict[str, Any]]


def to_messages(prompt: Prompt, system_prompt: str | None = None) -> list[BaseMessage]:
    """A string becomes one user message; a list is a history (OpenAI/Gradio dicts or messages).

    Dict messages that carry a `metadata.title` are notes the chat page showed
    (such as an error) rather than turns of the conversation, so they are left out; so is
    a user message answered only by notes (refused, or failed before any answer).
    """
    if isinstance(prompt, str):
        items: list[Any] = [{"role": "user", "content": prompt}]
    else:
        items = _joined([_plain(m) for m in sent_part(prompt)])
    messages = convert_to_messages(items)
    if system_prompt and not any(isinstance(m, SystemMessage) for m in messages):
        messages.insert(0, SystemMessage(content=system_prompt))
    return messages


def _joined(items: list[Any]) -> list[Any]:
    """An assistant message followed by another joined into one where the first ends in a blank line,
    as a finished block does: the page shows a long answer as several messages (its blocks, cut at
    paragraph breaks, see llm/stream/markdown_blocks.py), and the model said it as one."""
    joined: list[Any] = []
    for item in items:
        previous = joined[-1] if joined else None
        if (isinstance(item, dict) and isinstance(previous, dict) and item.get("role") == previous.get("role")
                == "assistant" and isinstance(item.get("content"), str) and isinstance(previous.get("content"), str)
                and previous["content"].endswith("\n\n")):
            joined[-1] = {**previous, "content": previous["content"] + item["content"]}
        else:
            joined.append(item)
    return joined


def transcript(history: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """A chat as the page showed it, as plain JSON data: role and text of each message, and the
    title of the page's own notes (which the model never saw). The parts of a long thinking block,
    nested in it on the page (`metadata.parent_id`), are joined to it again."""
    items: list[dict[str, str]] = []
    by_id: dict[str, dict[str, str]] = {}
    for message in history:
        item, metadata = _plain(message), message.get("metadata") or {}
        parent = by_id.get(str(metadata["parent_id"])) if "parent_id" in metadata else None
        if parent is not None:
            parent["content"] += item["content"]
            continue
        if title := metadata.get("title"):
            item["note"] = str(title)
        if "id" in metadata:
            by_id[str(metadata["id"])] = item
        items.append(item)
    return items


def sent_part(history: Sequence[Any]) -> list[Any]:
    """The messages of a chat history that go to the model: no page notes, no unanswered user messages."""
    return [m for i, m in enumerate(history) if not _is_page_note(m) and not _unanswered(history, i)]


def _unanswered(history: Sequence[Any], index: int) -> bool:
    """A user message followed, up to the next user message, by page notes only (at least one)."""
    if not (isinstance(history[index], dict) and history[index].get("role") == "user"):
        return False
    reply = []
    for message in history[index + 1:]:
        if isinstance(message, dict) and message.get("role") == "user":
            break
        reply.append(message)
    return bool(reply) and all(_is_page_note(m) for m in reply)


def _is_page_note(message: Any) -> bool:
    """A note the page showed, or a part nested in one (a long thinking block's, see ui/chat_view.py)."""
    metadata = (message.get("metadata") or {}) if isinstance(message, dict) else {}
    return bool(metadata.get("title") or metadata.get("parent_id"))


def _plain(message: Any) -> Any:
    """Keep only role and text of a dict message: Gradio adds keys the model must not see. The text is
    as the model wrote it, without what `inert_markdown` added for the page."""
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    elif not isinstance(content, str):
        content = "" if content is None else str(content)
    return {"role": message.get("role", "user"), "content": restored(content)}
