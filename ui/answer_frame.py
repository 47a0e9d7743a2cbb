"""The frame around the one loop: what every tab's answer function shares, written once.

A tab's answer function only checks its own inputs and says what to stream: it returns an `Ask`
(its checks, and how to start the answer: a chunk source and a view, an `Answer`). The frame,
`Frame.answers`, turns it into the function Gradio calls, and does the rest in this order:

    the visitor's session → the model for their key → refusal (the backend's problem, then the tab's
    checks) → one answer at a time per session → `Ask.start` → `stream_to_page` → the page

An `Answer` may be followed by steps of the tab's own (the Tools tab runs the calls it streamed) and
another `Answer` (the next round). Stop closes the function Gradio called; `aclosing` closes each
generator inside it, down to the request upstream. `wire_stop` is every tab's Stop.

Debug times an answer from the visitor's request, not from when its turn came: the serving
middleware stamps each request's arrival, and a wait in line becomes a note of its own.

    >>> session_of(None)
    ''
    >>> waited_note(10.0, now=13.25)
    'Waited 3.2 s in line before the model was asked: time to first token counts from your request.'
    >>> waited_note(10.0, now=10.02) is None, waited_note(None, now=1.0) is None
    (True, True)
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, nullcontext
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from langchain_core.messages import AIMessageChunk

from llm import Phase, readable_error
from llm.backends.backend import Backend
from llm.guards.limits import Limits
from llm.lessons.branching import Origin
from llm.stream.pacing import UPDATES_PER_SECOND, UPDATES_PER_SECOND_BESIDE_THE_MODEL

from .debug_outputs import DEBUG_TAB, DebugAnswer, DebugOutputs
from .stream_to_page import PageView, stream_to_page

Update = tuple[Any, ...]
ARRIVED = "arrived_at"  # the request state's key serving.py's middleware stamps the arrival under
NOTED_WAIT = 0.1  # seconds in line worth a note


@dataclass
class Answer:
    """What to stream and how the tab shows it: `stream_to_page`'s arguments (`secrets` default to the
    backend's and the visitor's key). `then`, if set, runs after the stream ends (unless Stop ended it):
    it looks at how it ended, yields the tab's own page updates, and at most one more `Answer`, which
    streams next."""

    chunks: AsyncIterable[AIMessageChunk]
    view: PageView
    notes: list[str] = field(default_factory=list)
    origin: Origin | None = None
    probabilities: bool = False
    secrets: tuple[str | None, ...] | None = None
    then: Callable[[], AsyncIterator[Update | Answer]] | None = None
    calls: list[DebugAnswer] | None = None  # an agent's model calls so far: Debug keeps them all


@dataclass
class Ask:
    """What a tab's answer function returns. `refused`: the tab's first check said no, before anything
    else. `checks(session)`: the tab's sentence against the input, or None. `start(model, secrets)`:
    the `Answer`, or a `Refused`; any other error becomes a readable sentence. `uses_model=False`: the
    backend's model is not needed (a replay, a branch); `lock=False`: not one answer at a time (a replay)."""

    http: gr.Request | None = None
    api_key: str = ""
    checks: Callable[[str], str | None] = lambda session: None
    start: Callable[[Any, tuple[str | None, ...]], Answer | Awaitable[Answer]] | None = None
    refused: str | None = None
    uses_model: bool = True
    lock: bool = True


class Refused(Exception):
    """`Ask.start` found a reason to refuse (a sentence for the visitor)."""


def arrival_of(http: gr.Request | None) -> float | None:
    """When the visitor's request reached the app (`time.perf_counter()`), if the middleware saw it."""
    state = getattr(getattr(http, "request", None), "state", None)
    arrived = getattr(state, ARRIVED, None)
    return arrived if isinstance(arrived, float) else None


def waited_note(arrived: float | None, now: float) -> str | None:
    """A sentence for Debug about the time between the request and its turn, if it was long enough."""
    if arrived is None or now - arrived < NOTED_WAIT:
        return None
    return f"Waited {now - arrived:.1f} s in line before the model was asked: time to first token counts from your request."


def session_of(http: gr.Request | None) -> str:
    """The visitor's Gradio session, or "" when called without one (a test, the notebook)."""
    return getattr(http, "session_hash", None) or ""


class Frame:
    """The one frame for every tab's answer function; see the module's docstring."""

    def __init__(self, backend: Backend | None, limits: Limits, debug: DebugOutputs) -> None:
        self.backend, self.limits, self.debug = backend, limits, debug

    def answers(self, refused: Callable[[str], Update], busy: Callable[[str], Update] | None = None,
                debug: bool = True) -> Callable[[Callable[..., Ask | Awaitable[Ask]]], Callable[..., AsyncIterator[Update]]]:
        """Decorate a tab's function (its inputs → `Ask`) into the streaming function Gradio calls, with the
        same signature (Gradio reads it for the API's inputs). `refused(text)` and `busy(text)` are the
        tab's own outputs for a refusal and for "one answer at a time"; `debug=False`: the tab's updates
        carry no Debug outputs (a branch)."""
        busy = busy or refused
        skips = self.debug.unchanged() if debug else ()

        def decorate(tab_function: Callable[..., Ask | Awaitable[Ask]]) -> Callable[..., AsyncIterator[Update]]:
            @functools.wraps(tab_function)
            async def answer(*args: Any, **kwargs: Any) -> AsyncIterator[Update]:
                ask = tab_function(*args, **kwargs)
                ask = await ask if inspect.isawaitable(ask) else ask
                session = session_of(ask.http)
                model, problem = self.backend.model_for(ask.api_key) if ask.uses_model and self.backend else (None, None)
                refusal = ask.refused or problem or ask.checks(session)
                if refusal:
                    yield *refused(refusal), *skips
                    return
                with self.limits.one.answer(session) if ask.lock else nullcontext(None) as waiting:
                    if waiting:
                        yield *busy(waiting), *skips
                        return
                    secrets = (self.backend.secret if self.backend else None, ask.api_key)
                    try:
                        started = ask.start(model, secrets)
                        current: Answer | None = await started if inspect.isawaitable(started) else started
                    except Exception as error:  # a Refused's sentence, or whatever went wrong, readable and key-free
                        yield *refused(str(error) if isinstance(error, Refused) else readable_error(error, *secrets)), *skips
                        return
                    arrived = arrival_of(ask.http)
                    budget = (UPDATES_PER_SECOND_BESIDE_THE_MODEL if getattr(model, "runs_on_this_machine", False)
                              else UPDATES_PER_SECOND)
                    if note := waited_note(arrived, time.perf_counter()):
                        current.notes = [note, *current.notes]
                    while current is not None:
                        # aclosing: Stop closes `answer`, which closes the loop, and the request upstream, at once.
                        async with aclosing(stream_to_page(
                                current.chunks, current.view, notes=current.notes, origin=current.origin,
                                probabilities=current.probabilities, secrets=current.secrets or secrets,
                                debug=debug, calls=current.calls, requested=arrived,
                                updates_per_second=budget, seen=functools.partial(self.debug.pages.seen, session))) as updates:
                            async for update in updates:
                                yield update
                        following, current, arrived = current.then, None, None  # a next round is timed from its start
                        if following is None:
                            return
                        async with aclosing(following()) as steps:
                            async for step in steps:
                                if isinstance(step, Answer):
                                    current = step
                                else:
                                    yield *step, *skips

            return answer

        return decorate

    def follow_tabs(self, tabs: gr.Tabs) -> None:
        """Note which tab each page shows (`DebugVisibility`: answers redraw Debug only where it is open).
        Opening Debug while an answer streams draws it at once: its next update may be a while coming
        (a model that stalls, or thinks)."""
        debug = self.debug

        async def selected(latest: DebugAnswer | None, event: gr.SelectData, request: gr.Request) -> Update:
            opened = event.value == DEBUG_TAB
            debug.pages.selected(session_of(request), opened)
            if opened and latest is not None and latest.acc.phase is Phase.STREAMING:
                return latest.drawn(fresh=True)
            return gr.skip(), gr.skip(), gr.skip()

        tabs.select(selected, [debug.latest], [debug.summary, debug.table, debug.timeline], queue=False,
                    show_progress="hidden", api_visibility="undocumented")


MARKS = 4  # DebugOutputs.marks: summary, table, timeline, the answer's end


def stop_answer(source: str, own: Callable[..., Update] | None = None) -> Callable[..., Update]:
    """What Stop calls with the latest answer (and the hook's inputs): if that answer is this tab's
    (`source`) and still streaming, it is marked stopped, and Debug gets its marks (summary, and the
    table and timeline with every chunk). `own(stopped, *inputs)` gives the tab's own outputs first."""

    def stop(answer: DebugAnswer | None, *values: Any) -> Update:
        stopped = answer is not None and answer.source == source and answer.acc.stop()
        marks = answer.marks() if stopped else (gr.skip(),) * MARKS
        return *(own(stopped, *values) if own else ()), *marks

    return stop


def wire_stop(trigger: Callable[..., Any], running: Any, debug: DebugOutputs, source: str,
              outputs: list[gr.components.Component] | None = None, own: Callable[..., Update] | None = None,
              inputs: list[gr.components.Component] | None = None) -> Any:
    """Every tab's Stop. `trigger` is the Stop button's `click` (or the chat box's own `stop`, whose
    event ChatInterface cancels itself); with a `running` event, it is cancelled first, then the answer
    is marked (`stop_answer`, with the hook `own` for the tab's `outputs`). Cancel first, then mark:
    with both on one listener, the page never showed the mark. Returns the marking event."""
    if running is not None:
        trigger = trigger(None, cancels=[running], queue=False, api_visibility="undocumented").then
    return trigger(stop_answer(source, own), [debug.latest, *(inputs or [])], [*(outputs or []), *debug.marks],
                   queue=False, api_visibility="undocumented")


def says(text: str) -> Callable[[bool], Update]:
    """A Stop hook for a status line: `text` when this Stop ended the tab's answer."""
    return lambda stopped: (text if stopped else gr.skip(),)
