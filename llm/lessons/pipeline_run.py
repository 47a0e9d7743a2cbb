"""One run of a chain, watched through `astream_events(version="v2")`: every step's events with
their times, the chain's output so far, and whether the chain streamed, in a sentence.

`PipelineRun.astream(chain, question)` yields the model's chunks (so the one loop can show them
as any answer) while it records every event of every step:

    >>> import asyncio
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> from llm.lessons.pipelines import preset_chain
    >>> model = FakeListChatModel(responses=['{"countries": [{"name": "France"}, {"name": "Spain"}]}'])
    >>> run = PipelineRun()
    >>> async def watch(chain):
    ...     return [chunk.content async for chunk in run.astream(chain, "France and Spain")]
    >>> len(asyncio.run(watch(preset_chain("JSON parser + plain function", model))))
    54
    >>> run.output
    ['France', 'Spain']
    >>> [row[1:3] for row in run.rows() if row[1] == "extract_country_names"]
    [['extract_country_names', 'on_chain_start'], ['extract_country_names', 'on_chain_stream'], ['extract_country_names', 'on_chain_end']]
    >>> print(run.verdicts()[0].split(";")[0])
    does not stream: `extract_country_names` waits for its whole input
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable

from llm.inert import cut
from llm.stream.report import visible_text

CARRIED_CHARS = 300  # what an event carried is shown (and exported) up to this many characters
MAX_POINTS = 2_000  # of the lanes plot, about; the events table and the export have every event
EVENT_HEADERS = ["ms since request", "step", "event", "carried"]
# Fixed colours: the page's plot takes its colour scale from the first values it draws.


@dataclass
class Step:
    """One run inside the chain (a lane): its name as shown, and where its events are."""

    label: str
    kind: str  # chain, prompt, chat_model, parser, retriever…
    parent_ids: tuple[str, ...]
    tags: tuple[str, ...]
    start_ms: float
    first_output: tuple[int, float] | None = None  # (event number, ms) of its first non-empty output
    end: tuple[int, float] | None = None
    outputs: int = 0
    last_carried: str = ""
    children: int = 0


@dataclass
class PipelineRun:
    """Every event of one chain run; `branches` names the keys of a side-by-side chain's outputs."""

    branches: tuple[str, ...] = ()
    events: list[list[Any]] = field(default_factory=list)  # [ms, step, event, carried, run id, parent ids]
    steps: dict[str, Step] = field(default_factory=dict)
    output: Any = None  # what the chain's `astream` has yielded so far, added up
    failed_step: Step | None = None  # the innermost step still running when the chain raised
    _start: float = field(default_factory=time.monotonic)
    _labels: dict[str, int] = field(default_factory=dict)

    async def astream(self, chain: Runnable, question: Any) -> AsyncIterator[AIMessageChunk]:
        """Run `chain` on `question`, recording each event; yield the chat model's chunks. Closing
        this generator closes the chain's stream, and the model's request with it."""
        self._start = time.monotonic()
        try:
            async with aclosing(chain.astream_events(question, version="v2")) as events:
                async for event in events:
                    self.add(event)
                    if event["event"] == "on_chat_model_stream":
                        yield event["data"]["chunk"]
        except Exception:
            self.failed_step = self._innermost_open_step()
            raise

    def add(self, event: dict[str, Any]) -> None:
        ms = round((time.monotonic() - self._start) * 1000, 1)
        run_id, kind = str(event["run_id"]), event["event"].split("_", 1)[1].rsplit("_", 1)[0]
        step = self.steps.get(run_id) or self._new_step(run_id, event, kind, ms)
        data, number = event.get("data", {}), len(self.events)
        carried_value = data.get("chunk", data.get("output", data.get("input")))
        carried = shown(carried_value) if any(k in data for k in ("chunk", "output", "input")) else ""
        self.events.append([ms, step.label, event["event"], carried, run_id, list(step.parent_ids)])
        if event["event"].endswith("_stream") or (event["event"].endswith("_end") and step.outputs == 0):
            if not _empty(carried_value):
                step.outputs += 1
                step.last_carried = carried
                step.first_output = step.first_output or (number, ms)
        if event["event"].endswith("_end"):
            step.end = (number, ms)
        if event["event"].endswith("_stream") and not step.parent_ids:
            self.output = added(self.output, data["chunk"])

    def _new_step(self, run_id: str, event: dict[str, Any], kind: str, ms: float) -> Step:
        name = str(event.get("name") or kind)
        seen = self._labels[name] = self._labels.get(name, 0) + 1
        parents = tuple(str(p) for p in event.get("parent_ids", ()))
        if parents and parents[-1] in self.steps:
            self.steps[parents[-1]].children += 1
        step = self.steps[run_id] = Step(name if seen == 1 else f"{name} #{seen}", kind, parents,
                                         tuple(event.get("tags", ())), ms)
        return step

    def _innermost_open_step(self) -> Step | None:
        open_steps = [s for s in self.steps.values() if s.end is None]
        return max(open_steps, key=lambda s: len(s.parent_ids)) if open_steps else None

    def step_before(self, step: Step) -> Step | None:
        """The step that fed `step` in its sequence (the one tagged `seq:step:N-1` beside it), if any."""
        number = next((int(t.rsplit(":", 1)[1]) for t in step.tags if t.startswith("seq:step:")), None)
        if number is None:
            return None
        wanted = f"seq:step:{number - 1}"
        return next((s for s in self.steps.values() if s.parent_ids == step.parent_ids and wanted in s.tags), None)

    def failure(self, error: str, inert: Callable[[str], str] = str) -> str:
        """Which step failed, with what it (and the step feeding it, if that gave nothing) had produced.
        `inert` makes what the step had produced safe for where the sentence goes (as `error` must be)."""
        step = self.failed_step
        if step is None:
            return f"The chain failed: {error}"
        had = (f" after {step.outputs} outputs (the last: {inert(step.last_carried)})" if step.outputs
               else " before it produced anything")
        before = self.step_before(step)
        if before is not None and before.outputs == 0:
            had += f" (the step before it, `{before.label}`, had produced nothing)"
        return f"`{step.label}` failed{had}: {error}"

    def rows(self, last: int | None = None) -> list[list[Any]]:
        """The events table: (ms since request, step, event, what it carried), the latest `last` only."""
        return [row[:4] for row in (self.events[-last:] if last else self.events)]

    def points(self) -> list[list[Any]]:
        """A point per event for the lanes plot: (ms, the step's lane, what the event is: start, stream
        or end, the event, the step). Past MAX_POINTS events, every start and end stays and the stream
        events are thinned evenly: a 100 KB answer made 75,000 points, megabytes per redraw."""
        lane = self.lane_names()
        every = -(-len(self.events) // MAX_POINTS)  # 1 until there are more events than points
        return [[ms, lane[step], event.rsplit("_", 1)[1], event, step]
                for number, (ms, step, event, *_) in enumerate(self.events)
                if every == 1 or not event.endswith("_stream") or number % every == 0]

    def lane_names(self) -> dict[str, str]:
        """Each step's lane: its number in the order the steps started (the chain's order), padded so
        that the plot, which sorts lanes as text, keeps that order. Numbers, not names: the plot cuts
        a label at 180 px ("7 · extract_country_names_strea…"); `lane_key` says which is which."""
        width = len(str(len(self.steps)))
        return {step.label: f"{number:>{width}}" for number, step in enumerate(self.steps.values(), 1)}

    def lane_key(self, code: Callable[[str], str]) -> str:
        """The steps by lane number, for the page (`code` shows a name inert):
        "Lanes: 1 `model only` · 2 `ChatPromptTemplate` · …"."""
        lanes = self.lane_names()
        return "Lanes: " + " · ".join(f"{lanes[label].strip()} {code(label)}" for label in lanes) if lanes else ""

    def dumps(self) -> str:
        """The events as JSON Lines, one object per event, for export."""
        keys = ["ms", "step", "event", "carried", "run_id", "parent_ids"]
        return "".join(json.dumps(dict(zip(keys, row)), ensure_ascii=False) + "\n" for row in self.events)

    def outputs_watched(self) -> list[tuple[str, Step]]:
        """(name, step) of what the verdict is about: the chain, or each branch side by side."""
        root = [("the chain", s) for s in self.steps.values() if not s.parent_ids]
        branch = [(b, s) for b in self.branches for s in self.steps.values() if f"map:key:{b}" in s.tags]
        return branch or root

    def verdicts(self) -> list[str]:
        """Whether the chain's output streamed, in words: one sentence, or one per branch."""
        models = [s for s in self.steps.values() if s.kind == "chat_model" and s.first_output]
        if not models:
            return ["The model produced nothing, so there is no stream to judge."]
        model = models[0]
        said = []
        for name, step in self.outputs_watched():
            prefix = f"**{name}** " if self.branches else ""
            if step.first_output is None:
                said.append(f"{prefix}produced no output.")
            elif model.end is None or step.first_output[0] < model.end[0]:
                said.append(f"{prefix}streams: the first output came {step.first_output[1] - model.first_output[1]:.0f} ms "
                            "after the model's first token.")
            else:
                waiting = self._first_blocking(step, model)
                why = f" `{waiting.label}` waits for its whole input;" if waiting else ""
                said.append(f"{prefix}does not stream:{why} the first output came "
                            f"{step.first_output[1] - model.end[1]:.0f} ms after the model finished.")
        said += [f"`{s.label}` answered once, {s.end[1]:.0f} ms after the request, before the model started "
                 f"({model.start_ms:.0f} ms): the start waited for it." for s in self.steps.values()
                 if s.kind == "retriever" and s.end and s.end[1] <= model.start_ms]
        return said

    def _first_blocking(self, output: Step, model: Step) -> Step | None:
        """The first step under `output` (or itself) with no steps of its own whose output came only
        after the model ended."""
        ids = {run_id for run_id, s in self.steps.items() if s is output}
        late = [s for s in self.steps.values() if s.kind != "chat_model" and not s.children and s.first_output
                and s.first_output[0] > model.end[0] and (ids & set(s.parent_ids) or s is output)]
        return min(late, key=lambda s: s.first_output[0]) if late else None


def added(so_far: Any, chunk: Any) -> Any:
    """The output so far after `chunk`, as a chain's own `astream` consumer adds it up: with `+`
    (text, lists, a parallel step's dicts), or the latest chunk where they do not add (a JSON
    parser's objects, each the whole object so far)."""
    if so_far is None:
        return chunk
    try:
        return so_far + chunk
    except TypeError:
        return chunk


def _empty(value: Any) -> bool:
    if isinstance(value, BaseMessage):
        return not value.content
    return value is None or (hasattr(value, "__len__") and len(value) == 0)


def shown(value: Any) -> str:
    """What an event carried, as text for the table: bounded, and text stays visibly text."""
    if isinstance(value, BaseMessage):
        text = visible_text(value.content if isinstance(value.content, str) else str(value.content))
    elif isinstance(value, PromptValue) or _chat_model_input(value):
        messages = value.to_messages() if isinstance(value, PromptValue) else value["messages"][0]
        text = " | ".join(f"{m.type}: {visible_text(m.text)}" for m in messages)
    elif isinstance(value, str):
        text = visible_text(value)
    elif isinstance(value, list) and value and all(isinstance(d, Document) for d in value):
        text = json.dumps([d.metadata.get("title", d.page_content[:40]) for d in value], ensure_ascii=False)
    else:
        text = json.dumps(value, ensure_ascii=False, default=_plain)
    return cut(text, CARRIED_CHARS)


def _chat_model_input(value: Any) -> bool:
    """A chat model's start event carries {"messages": [[message, …]]}."""
    batches = value.get("messages") if isinstance(value, dict) else None
    return bool(batches) and isinstance(batches, list) and isinstance(batches[0], list) and all(
        isinstance(m, BaseMessage) for m in batches[0])


def _plain(value: Any) -> Any:
    if isinstance(value, (BaseMessage, PromptValue, Document)):
        return shown(value)
    return str(value)
