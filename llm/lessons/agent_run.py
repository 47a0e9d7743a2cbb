"""One run of a LangChain agent (`create_agent`), watched through three stream modes at once.

`agent.astream(..., stream_mode=["updates", "messages", "custom"])` streams:

- "messages": the model's chunks, token by token, with the node that made them ("model"), and each
  tool's result as a message from the "tools" node;
- "updates": what each step wrote to the agent's state, once the step is done;
- "custom": whatever a tool writes with `get_stream_writer()` while it runs (`llm.lessons.tools`).

`AgentRun` records every event (ms since the request, mode, node, what it carried) and hands the page
each model call's chunks as a chunk stream of its own (`call_chunks`), so each call goes through the
one loop and gets its own sum check; between calls (`between_calls`) the tools run, and their
progress and results arrive as events. One `agent.astream` underneath: closing either closes it.

    >>> [mode for mode in MODES]
    ['updates', 'messages', 'custom']
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelCallLimitMiddleware, hook_config
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool

from llm.inert import cut
from llm.lessons.tool_calls import INVALID, ToolCalls

MODES = ("updates", "messages", "custom")
EVENT_HEADERS = ["ms since request", "mode", "node", "carried"]
CARRIED_CHARS = 300  # what an event carried, as the table shows it (and exports it)
MAX_EVENTS = 20_000  # a run's events kept (the latest); a flood of chunks would otherwise grow without end
MAX_POINTS = 2_000  # of the lanes plot, about: past it the "messages" events are thinned evenly


class RequestSettings(AgentMiddleware):
    """The page's settings for every model call of the agent (temperature, Max tokens, the chosen model),
    and which tool choice each call gets: `choices[i]` for the (i+1)th call, the last one for the rest
    (offline, the bundled model is told to call a tool first, then to answer in words)."""

    def __init__(self, options: dict[str, Any], choices: Sequence[str | None] = ()) -> None:
        super().__init__()
        self.options, self.choices = dict(options), tuple(choices)

    def _request(self, request: Any) -> Any:
        earlier = sum(isinstance(message, AIMessage) for message in request.messages)
        choice = self.choices[min(earlier, len(self.choices) - 1)] if self.choices else request.tool_choice
        return request.override(model_settings={**request.model_settings, **self.options}, tool_choice=choice)

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(self._request(request))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._request(request))


class StrictArguments(AgentMiddleware):
    """Runs a tool call only if its arguments, as the model streamed them, were one whole JSON object.

    LangChain builds a streamed message's `tool_calls` with its lenient partial-JSON parser even once
    the stream has ended, so `{"expression": 12*7` becomes `{"expression": 12}` and two objects in a row
    become the first (langchain-ai/langchain#39275). The run's own strict reading of the chunks
    (`ToolCalls`) decides instead: a call it found invalid gets an error result and never runs, and
    when every call of a message was invalid, the model is not asked again."""

    def __init__(self, run: AgentRun) -> None:
        super().__init__()
        self.run = run

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        call = request.tool_call
        problem = await self.run.arguments_problem(call.get("id"))
        if problem:
            return ToolMessage(content=f"Error: not run: {problem}", tool_call_id=call.get("id") or "",
                               name=call.get("name"), status="error")
        return await handler(request)

    @hook_config(can_jump_to=["end"])
    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return {"jump_to": "end"} if self.run.nothing_valid else None


def build_agent(model: Any, tools: Sequence[BaseTool], *, calls: int, options: dict[str, Any] | None = None,
                choices: Sequence[str | None] = (), middleware: Sequence[AgentMiddleware] = ()) -> Any:
    """`create_agent` over `model` and `tools`, with at most `calls` model calls in one run (LangChain's
    own `ModelCallLimitMiddleware`: past it, the run ends with a message saying so)."""
    return create_agent(model, list(tools), middleware=[
        RequestSettings(options or {}, choices), *middleware,
        ModelCallLimitMiddleware(run_limit=calls, exit_behavior="end")])


class AgentRun:
    """One agent run over `model` and `tools`: its events, and its model calls as chunk streams (see the
    module's docstring). Its agent runs a tool call only if the call's streamed arguments were valid."""

    def __init__(self, model: Any, tools: Sequence[BaseTool], messages: list[BaseMessage], *, calls: int,
                 options: dict[str, Any] | None = None, choices: Sequence[str | None] = ()) -> None:
        self.agent = build_agent(model, tools, calls=calls, options=options, choices=choices,
                                 middleware=[StrictArguments(self)])
        self.messages, self.call_limit = messages, calls
        self.start = time.perf_counter()
        self._streamed = ToolCalls()  # the current model call's tool calls, read strictly from its chunks
        self._problems: dict[str, str | None] = {}  # by call id, once the model call is done
        self._checked = asyncio.Event()
        self.nothing_valid = False  # the last model call made calls, and none was valid
        self.events: list[list[Any]] = []  # [ms, mode, node, carried]
        self.calls = 0  # model calls begun
        self.results: dict[str, ToolMessage] = {}  # by tool call id, as the tools node returned them
        self.progress: dict[str, list[str]] = {}  # by tool name: what it wrote while running
        self.limit_reached = False
        self.finished = False
        self._parts: AsyncIterator[Any] | None = None
        self._pending: Any = None  # the first part of the next model call, read while waiting for it

    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 1)

    async def _next(self) -> Any:
        """The agent stream's next (mode, data), or None at its end."""
        if self._pending is not None:
            part, self._pending = self._pending, None
            return part
        if self._parts is None:
            self._parts = self.agent.astream({"messages": self.messages}, stream_mode=list(MODES))
        try:
            part = await self._parts.__anext__()
        except StopAsyncIteration:
            self.finished = True
            return None
        self._record(*part)
        return part

    async def aclose(self) -> None:
        """Close the agent's stream: the model's request or the running tool step is cancelled."""
        self.finished = True
        if self._parts is not None:
            await self._parts.aclose()

    async def call_chunks(self) -> AsyncIterator[AIMessageChunk]:
        """The current model call's chunks, as the model streamed them; ends when the call's step is done.
        Closed early (Stop), it closes the agent's stream."""
        self.calls += 1
        done = False
        try:
            while (part := await self._next()) is not None:
                mode, data = part
                if mode == "messages" and _node(data[1]) == "model" and isinstance(data[0], AIMessageChunk):
                    yield data[0]
                elif mode == "updates" and "model" in data:
                    done = True
                    return
            done = True
        finally:
            if not done:
                await self.aclose()

    async def between_calls(self) -> AsyncIterator[bool]:
        """After a model call: yields False as each event comes (tools running, their results), and True
        once the next model call begins (its chunks then come from `call_chunks`). Ends with the run."""
        while (part := await self._next()) is not None:
            mode, data = part
            if mode == "messages" and _node(data[1]) == "model" and isinstance(data[0], AIMessageChunk):
                self._pending = part
                yield True
                return
            yield False

    async def arguments_problem(self, call_id: str | None) -> str | None:
        """Why a call's streamed arguments are not one JSON object (None: they are), once its model call is done."""
        await self._checked.wait()
        if not self._problems:  # the model sent its message whole, not streamed: LangChain parsed it strictly
            return None
        return self._problems.get(call_id or "", "its id matches none of the calls the model streamed")

    def _model_call_done(self) -> None:
        calls = self._streamed.finish()
        self._problems = {call.id or "": call.problem if call.state == INVALID else None for call in calls}
        self.nothing_valid = bool(self._problems) and all(self._problems.values())
        self._streamed = ToolCalls()
        self._checked.set()

    def _record(self, mode: str, data: Any) -> None:
        node, carried = describe_event(mode, data)
        if mode == "messages":
            message = data[0]
            if node == "model" and isinstance(message, AIMessageChunk):
                if self._checked.is_set():  # a new model call
                    self._checked.clear()
                self._streamed.add(message.tool_call_chunks)
            if isinstance(message, ToolMessage):
                self.results[message.tool_call_id] = message
        elif mode == "custom" and isinstance(data, dict) and data.get("tool") and data.get("says"):
            self.progress.setdefault(str(data["tool"]), []).append(str(data["says"]))
        elif mode == "updates" and isinstance(data, dict):
            limit = data.get("ModelCallLimitMiddleware.before_model")
            if isinstance(limit, dict) and limit.get("messages"):  # it ended the run with a message saying so
                self.limit_reached = True
            if "model" in data:
                self._model_call_done()
        self.events.append([self.ms(), mode, node, carried])
        if len(self.events) > MAX_EVENTS + 1_000:  # trimmed a thousand at a time, not at every event
            del self.events[:-MAX_EVENTS]

    def rows(self, last: int | None = None) -> list[list[Any]]:
        """The events table: (ms since request, mode, node, what it carried), the latest `last` only."""
        return [list(row) for row in (self.events[-last:] if last else self.events)]

    def points(self) -> list[list[Any]]:
        """A point per event for the lanes plot: (ms, its lane "mode · node", mode, node). Past MAX_POINTS
        events, every "updates" and "custom" event stays and the "messages" ones are thinned evenly."""
        every = -(-len(self.events) // MAX_POINTS)  # 1 until there are more events than points
        return [[ms, f"{mode} · {node}", mode, node] for number, (ms, mode, node, _) in enumerate(self.events)
                if every == 1 or mode != "messages" or number % every == 0]

    def dumps(self) -> str:
        """Every event as JSON Lines, for export."""
        return "".join(json.dumps(dict(zip(EVENT_HEADERS, row)), ensure_ascii=False) + "\n" for row in self.events)


def describe_event(mode: str, data: Any) -> tuple[str, str]:
    """One event of `agent.stream(stream_mode=[...])` as (node, what it carried), briefly and as text.

        >>> describe_event("custom", {"tool": "calculator", "says": "evaluating 12*7"})
        ('tools', 'calculator: evaluating 12*7')
        >>> describe_event("messages", (AIMessageChunk(content="Hel"), {"langgraph_node": "model"}))
        ('model', '"Hel"')
    """
    if mode == "messages":
        message, metadata = data
        node, carried = _node(metadata), _carried(message)
    elif mode == "custom":
        tool, says = (data.get("tool"), data.get("says")) if isinstance(data, dict) else (None, None)
        node, carried = "tools", f"{tool}: {says}" if tool and says else str(data)
    else:
        node, carried = (", ".join(data) if isinstance(data, dict) else ""), _update(data)
    return node, cut(carried, CARRIED_CHARS)


def _node(metadata: Any) -> str:
    return str(metadata.get("langgraph_node", "")) if isinstance(metadata, dict) else ""


def _carried(message: BaseMessage) -> str:
    """What one "messages" event carried: a chunk's text or argument pieces, a tool's result."""
    if isinstance(message, ToolMessage):
        return f"{message.name or 'tool'} → {message.content}"
    pieces = [chunk.get("args") or "" for chunk in getattr(message, "tool_call_chunks", None) or []]
    text = message.content if isinstance(message.content, str) else json.dumps(message.content, ensure_ascii=False)
    return json.dumps(text + "".join(pieces), ensure_ascii=False)


def _update(data: Any) -> str:
    """What one "updates" event carried: per step, the messages it added, briefly."""
    if not isinstance(data, dict):
        return str(data)
    said = []
    for node, update in data.items():
        messages = (update or {}).get("messages", []) if isinstance(update, dict) else []
        for message in messages if isinstance(messages, list) else []:
            if isinstance(message, ToolMessage):
                said.append(f"{node}: {message.name or 'tool'} → {message.content}")
            elif isinstance(message, AIMessage) and message.tool_calls:
                said.append(f"{node}: AIMessage calling " + ", ".join(call["name"] for call in message.tool_calls))
            elif isinstance(message, AIMessage):
                said.append(f"{node}: AIMessage {json.dumps(message.text, ensure_ascii=False)}")
        if not messages:
            said.append(f"{node}: (no messages)")
    return "; ".join(said)
