"""The Tools tab: an agent (LangChain's `create_agent`) with two small demo tools, streamed in every mode.

Each tool call's arguments grow as the model streams them; the agent's tools step runs the calls
once the model's message is complete, and their results go back to the model, whose answer then
streams. Beside the chat, every event of `agent.astream(stream_mode=["updates", "messages", "custom"])`
goes on one timeline and in a table (`llm.lessons.agent_run.AgentRun`), the tools' own progress
("custom") included.

`/tools` takes (message, system prompt, temperature, max tokens, model, your API key, the tools
that are on) and yields (the conversation so far, a status line, the events, the lanes, then the
Debug outputs). Each model call is an `Answer` the frame streams through the one loop with
`ToolsView` (Debug keeps every call); between calls (`Answer.then`) the tools run. At most
`MAX_CALLS` model calls per message: the agent's own limit (`ModelCallLimitMiddleware`).
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from llm import Accumulator, Phase, Settings, max_concurrency, to_messages
from llm.backends.backend import Backend
from llm.guards.limits import Limits, check_text
from llm.inert import cut, inert_markdown, inert_text
from llm.lessons.agent_run import EVENT_HEADERS, AgentRun
from llm.lessons.tool_calls import COMPLETE, DONE, FAILED, INVALID, RUNNING, STREAMING, StreamingCall, ToolCalls
from llm.lessons.tools import TOOLS

from .answer_frame import Answer, Ask, Frame, wire_stop
from .chat_view import note
from .debug_outputs import REDRAW_EVERY_MS, STREAMING_ROWS, HandOver
from .debug_outputs import STREAMING as STREAMING_MARK
from .inputs import CheckedCheckboxGroup, CheckedTextbox
from .payloads import MODE_COLORS, agent_lanes_value
from .settings import chosen_model, settings_inputs

MAX_CALLS = 4  # model calls per message: three rounds of tool calls and an answer
SHOWN_CHARS = 2_000  # of a call's arguments or result on the page; Debug's export has them whole
SHOWN_EVENTS = 2_000  # the events table's rows once a run ends (the latest)
STOPPED = "stopped"
TOOLS_STOPPED = "■ Stopped by you: what had arrived stays; a tool still running was left to finish unseen."
# Offline, the bundled model is told when to call: at 135M it calls a tool after it has the result
# (country_facts('Mali') after 84 came back), so it must call one first and answer in words after.
LOCAL_CHOICES = ("required", "none")
LOCAL_SAYS = ("Offline, the bundled model (SmolLM2-135M) is told when to call, as it does not choose well by itself: "
              "its first model call must call one tool (`tool_choice=\"required\"`: a grammar lets it pick only a "
              "tool's name, and write only arguments that fit that tool's schema), and the next answers in words from "
              "the result (`tool_choice=\"none\"`).")
NO_CALL = ("Answered without calling a tool: tools were offered and none was called, so any figure or fact in the "
           "answer comes from the model alone.")
LIMIT = (f"Stopped at the agent's limit of {MAX_CALLS} model calls for one message (LangChain's "
         "ModelCallLimitMiddleware): the last calls' results never went back to the model.")
EXAMPLE = "What is 12*7, and what is the capital of Kenya?"
LOCAL_EXAMPLE = "What is 12*7?"  # one call: the bundled model makes one per model call


def tools_tab(backend: Backend, defaults: Settings, frame: Frame, limits: Limits) -> None:
    """Lay out the Tools tab (inside the current Blocks) and wire `/tools`."""
    local = backend.settings is not None and backend.settings.provider == "local"
    # Offline it starts at 0: at 0.7 the bundled model once wrote "12 * 7.5" for 12*7.
    start_temperature = 0.0 if local and defaults.temperature is None else defaults.default_temperature

    @frame.answers(refused=lambda text: ([note(text)], f"⚠ {inert_text(text)}", gr.skip(), gr.skip(), gr.skip()),
                   busy=lambda text: (gr.skip(), f"⚠ {inert_text(text)}", gr.skip(), gr.skip(), gr.skip()))
    def run_tools(
        message: str, system_prompt: str = "", temperature: float = start_temperature,
        max_tokens: float = defaults.default_max_tokens, model_name: str | None = None, api_key: str = "",
        tools_on: list[str] | None = None, http: gr.Request = None,
    ) -> Ask:
        """Answer with tools; yields (conversation, status, the view, events, lanes, *Debug outputs)."""
        tools_on = list(TOOLS) if tools_on is None else tools_on

        def start(model: Any, secrets: tuple[str | None, ...]) -> Answer:
            options = {"temperature": float(temperature), "max_tokens": limits.cap(max_tokens),
                       **chosen_model(model_name, backend)}
            choices = LOCAL_CHOICES if local and tools_on else ()
            run = AgentRun(model, [TOOLS[name] for name in tools_on], to_messages(message, system_prompt or None),
                           calls=MAX_CALLS, options=options, choices=choices)
            view = ToolsView(message, run, choices)
            debug_calls: list = []  # every model call's Debug view: Debug keeps them all

            def model_call() -> Answer:
                view.next_call()
                return Answer(run.call_chunks(), view, calls=debug_calls, then=between,
                              notes=[f"Model call {view.number} of the agent's run (`create_agent`)."])

            async def between():
                """The agent's steps after a model call: the tools run, their progress and results arrive."""
                if view.acc is None or view.acc.phase is not Phase.COMPLETE:
                    await run.aclose()  # failed or stopped: nothing more of the run
                    return
                yield view.outputs()
                async for next_call in run.between_calls():
                    if next_call:
                        yield model_call()
                        return
                    yield view.outputs()
                view.run_ended()
                yield view.outputs(final=True)

            return model_call()

        return Ask(http, api_key, start=start, checks=lambda session: (
            check_text(system_prompt, "system prompt") or check_text(model_name, "model name")
            or _check_tools(tools_on) or limits.refuse(session, message, temperature, max_tokens, what="message")))

    with gr.Tab("Tools"):
        gr.Markdown(
            "An agent (LangChain's `create_agent`) may call two small tools: `calculator` (arithmetic) and "
            "`country_facts` (a bundled table). Each call's arguments grow as they stream, field by field; once "
            "the model's message is complete, the agent's tools step runs the calls, and their results go back to "
            "the model, whose answer then streams. Below, every event of `agent.astream(stream_mode=[\"updates\", "
            "\"messages\", \"custom\"])` on one timeline: **messages** are the model's chunks (and each tool's "
            "result), **updates** what each step wrote once done, **custom** what a tool said while it ran."
            + (f"\n\n{LOCAL_SAYS}" if local else "")
        )
        conversation = gr.Chatbot(label="Conversation", elem_id="tools-chat", height=420)
        status = gr.Markdown("", elem_id="tools-status")
        with gr.Row():
            message = CheckedTextbox(LOCAL_EXAMPLE if local else EXAMPLE, label="Message", lines=2, scale=4, elem_id="tools-message")
            with gr.Column(scale=1):
                run = gr.Button("Send", variant="primary", elem_id="tools-run")
                stop = gr.Button("Stop", variant="stop", elem_id="tools-stop")
        with gr.Accordion("Settings", open=False):
            tools_on = CheckedCheckboxGroup(list(TOOLS), value=list(TOOLS), label="Tools that are on", elem_id="tools-on")
            settings = settings_inputs(backend, defaults, limits, temperature=start_temperature, system_prompt="",
                                       prefix="tools-")
        lanes = gr.ScatterPlot(x="ms since request", y="lane", color="mode", color_map=MODE_COLORS, height=260,
                               title="The agent's stream: every event of every mode", elem_id="tools-lanes",
                               tooltip=["ms since request", "lane", "mode"])
        events = gr.Dataframe(headers=EVENT_HEADERS, value=[], interactive=False, wrap=True, max_height=320,
                              column_widths=["12%", "12%", "22%", "54%"], elem_id="tools-events",
                              label=f"Events (the latest; up to {SHOWN_EVENTS:,} when the run ends)")
        latest = gr.State(None)

    event = gr.on([run.click, message.submit], run_tools,
                  [message, settings.system_prompt, settings.temperature, settings.max_tokens, settings.model,
                   settings.api_key, tools_on],
                  [conversation, status, latest, events, lanes, *frame.debug.outputs], api_name="tools",
                  show_progress="minimal", concurrency_limit=max_concurrency(defaults))
    wire_stop(stop.click, event, frame.debug, ToolsView.source, [conversation, status], stop_tools, [latest])


def _check_tools(tools_on: Any) -> str | None:
    if not isinstance(tools_on, list) or not all(isinstance(name, str) and name in TOOLS for name in tools_on):
        return f"Tools that are on must be a list of: {', '.join(TOOLS)}."
    if len(set(tools_on)) != len(tools_on):  # each copy would be one more definition in every request
        return "Tools that are on may name each tool once."
    return None


def stop_tools(stopped: bool, view: ToolsView | None) -> tuple[Any, ...]:
    """Stop's hook: a tool still running is shown stopped, and the conversation keeps what arrived (the
    round streaming, if any, is marked stopped by `wire_stop`)."""
    if view is None or view.finished:
        return gr.skip(), gr.skip()
    view.stop()
    return view.page(), TOOLS_STOPPED


def said(text: str) -> dict[str, Any]:
    """What happened, as a titled message the model never sees."""
    return {"role": "assistant", "content": inert_text(text), "metadata": {"title": "ℹ What happened"}}


def call_message(call: StreamingCall, progress: list[str] | None = None) -> dict[str, Any]:
    """One call as a titled message: its arguments so far (inert: in a code block), what its tool said
    while running, then its result."""
    arguments = cut(json.dumps(call.arguments, ensure_ascii=False, indent=1), SHOWN_CHARS)
    content = f"```json\n{arguments}\n```"
    for line in progress or []:
        content += f"\n\n*{inert_text(line)}…*"
    if call.state == INVALID:
        content += f"\n\nNot run: {inert_text(call.problem or 'invalid arguments')} The text was: `{inert_text(cut(call.text, 300))}`"
    if call.result is not None:
        content += f"\n\n**{'Result' if call.state == DONE else 'Error'}:** {inert_text(cut(call.result, SHOWN_CHARS))}"
    title = f"Tool call: {inert_text(call.name or '…')} ({inert_text(call.id or f'#{call.index}')})"
    # Open while it streams or runs (with a spinner), and open after (no status): the result stays in view.
    status = {"status": "pending"} if call.state in (STREAMING, RUNNING) else {}
    return {"role": "assistant", "content": inert_markdown(content), "metadata": {"title": title, "log": call.state, **status}}


class ToolsView:
    """The Tools tab's view of one message: every model call's text and tool calls, each call's state
    (from the chunks while the model streams, from the agent's events after), and the run's events."""

    source = "Tools tab"

    def __init__(self, message: str, run: AgentRun, choices: tuple[str | None, ...] = ()) -> None:
        self.run, self.choices = run, choices
        self.shown: list[dict[str, Any]] = [{"role": "user", "content": inert_text(message)}]
        self.calls = ToolCalls()
        self.acc: Accumulator | None = None
        self.number = 0  # model calls so far
        self.ran = 0  # tool calls the agent has begun running, over the whole run
        self.note = ""
        self.said = ""  # what happened, said once at the end (not a warning)
        self.finished = False
        self._lanes: dict[str, Any] | None = None
        self._drawn_at = -REDRAW_EVERY_MS
        self._hand_over = HandOver()  # this view, for Stop

    @property
    def choice(self) -> str | None:
        return self.choices[min(self.number, len(self.choices)) - 1] if self.choices else None

    def next_call(self) -> None:
        if self.acc is not None:
            self.shown = self._messages()
        self.number, self.calls, self.acc = self.number + 1, ToolCalls(), None

    def _messages(self) -> list[dict[str, Any]]:
        self._take_results()
        current = [call_message(call, self._progress(call)) for call in self.calls]
        if self.acc is not None and self.acc.answer:
            current.insert(0, {"role": "assistant", "content": inert_markdown(self.acc.answer)})
        return [*self.shown, *current]

    def _take_results(self) -> None:
        """Each call's result, as the agent's tools step returned it (by the call's id)."""
        for call in self.calls:
            if call.state == COMPLETE:
                call.state = RUNNING  # the agent's tools step runs every complete call
            if call.state == RUNNING and (result := self.run.results.get(call.id or "")) is not None:
                call.state, call.result = (FAILED if result.status == "error" else DONE), str(result.content)

    def _progress(self, call: StreamingCall) -> list[str]:
        """What the call's tool said while it ran (its "custom" events), matched by its turn among that tool's calls."""
        said = self.run.progress.get(call.name or "", [])
        turn = sum(1 for other in self.calls if other.name == call.name and other.index < call.index)
        return said[turn:turn + 1] if call.state in (RUNNING, DONE, FAILED, STOPPED) else []

    def page(self) -> list[dict[str, Any]]:
        return self._messages() + ([note(self.note)] if self.note else []) + ([said(self.said)] if self.said else [])

    def status(self) -> str:
        if self.note:
            return f"⚠ {inert_text(self.note)}"
        states = [call.state for call in self.calls]
        told = f" (`tool_choice=\"{self.choice}\"`)" if self.choice else ""
        if self.acc is not None and self.acc.phase is Phase.STREAMING:
            return f"{STREAMING_MARK} model call {self.number}{told}: {len(states)} tool calls so far."
        if RUNNING in states:
            return f"{STREAMING_MARK} the agent's tools step: {states.count(RUNNING)} of {len(states)} calls running."
        if self.said:
            return f"✓ {self.said}"
        return "✓ Answered." if self.finished else f"✓ Model call {self.number}{told} done."

    def outputs(self, final: bool = False) -> tuple[Any, ...]:
        """(conversation, status, this view the first time, events, lanes)."""
        now = self.run.ms()
        if final or self._lanes is None or now - self._drawn_at >= REDRAW_EVERY_MS:  # the plot redraws less often
            self._lanes, self._drawn_at = agent_lanes_value(self.run.points()), now
        rows = self.run.rows(SHOWN_EVENTS if final else STREAMING_ROWS)
        return self.page(), self.status(), self._hand_over(self), rows, self._lanes

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]:
        self.acc = acc
        self.calls.update(acc.records)
        return self.outputs()

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]:
        self.acc = acc
        self.calls.update(acc.records)
        self.calls.finish(acc.records[-1].ms_since_start if acc.records else None)
        self.ran += sum(call.state == COMPLETE for call in self.calls)
        return self.outputs()

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]:
        self.acc, self.finished = acc, True
        return [*self._messages(), note(error)], f"⚠ {inert_text(error)}", *self.outputs(final=True)[2:]

    def run_ended(self) -> None:
        """The agent's run is over: say how, once."""
        self.finished = True
        if self.run.limit_reached:
            self.note = LIMIT
        elif not self.ran:  # no call in the whole message: say so, or ✓ would vouch for it
            self.said = NO_CALL

    def stop(self) -> None:
        self.finished = True
        for call in self.calls:
            if call.state in (RUNNING, STREAMING, COMPLETE):
                call.state = STOPPED
