"""The Tools tab: the model may call two small demo tools; each call's arguments grow as they
stream, the call runs as soon as they are complete, and the results feed the answer.

`/tools` takes (message, system prompt, temperature, max tokens, model, your API key, the tools
that are on) and yields (the conversation so far, a status line, then the Debug outputs). Each
round (the model's answer, which may hold tool calls) is an `Answer` the frame streams through the
one loop with `ToolsView`; between rounds (`Answer.then`) the calls finish running and their results
go back to the model as `ToolMessage`s. At most `MAX_ROUNDS` rounds of calls per message.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import gradio as gr
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool

from llm import Accumulator, Phase, Settings, max_concurrency, to_messages
from llm.backends.backend import Backend
from llm.guards.limits import Limits, check_text
from llm.inert import cut, inert_markdown, inert_text
from llm.lessons.tool_calls import COMPLETE, DONE, FAILED, INVALID, RUNNING, STREAMING, StreamingCall, ToolCalls
from llm.lessons.tools import TOOLS, run_tool

from .answer_frame import Answer, Ask, Frame, wire_stop
from .chat_view import note
from .debug_outputs import STREAMING as STREAMING_MARK
from .debug_outputs import HandOver
from .inputs import CheckedCheckboxGroup, CheckedTextbox
from .settings import chosen_model, settings_inputs

MAX_ROUNDS = 3
SHOWN_CHARS = 2_000  # of a call's arguments or result on the page; Debug's export has them whole
STOPPED = "stopped"
TOOLS_STOPPED = "■ Stopped by you: what had arrived stays; a tool still running was left to finish unseen."
# Offline, the bundled model is told when to call: at 135M it calls a tool after it has the result
# (country_facts('Mali') after 84 came back), so it must call one first and answer in words after.
LOCAL_CHOICES = ("required", "none")
LOCAL_SAYS = ("Offline, the bundled model (SmolLM2-135M) is told when to call, as it does not choose well by itself: "
              "in round 1 it must call one tool (`tool_choice=\"required\"`: a grammar lets it pick only a tool's "
              "name, and write only arguments that fit that tool's schema), and in round 2 it answers in words from "
              "the result (`tool_choice=\"none\"`).")
NO_CALL = ("Answered without calling a tool: tools were offered and none was called, so any figure or fact in the "
           "answer comes from the model alone.")
EXAMPLE = "What is 12*7, and what is the capital of Kenya?"
LOCAL_EXAMPLE = "What is 12*7?"  # one call: the bundled model makes one per round


def tools_tab(backend: Backend, defaults: Settings, frame: Frame, limits: Limits) -> None:
    """Lay out the Tools tab (inside the current Blocks) and wire `/tools`."""
    local = backend.settings is not None and backend.settings.provider == "local"
    # Offline it starts at 0: at 0.7 the bundled model once wrote "12 * 7.5" for 12*7.
    start_temperature = 0.0 if local and defaults.temperature is None else defaults.default_temperature

    @frame.answers(refused=lambda text: ([note(text)], f"⚠ {inert_text(text)}", gr.skip()),
                   busy=lambda text: (gr.skip(), f"⚠ {inert_text(text)}", gr.skip()))
    def run_tools(
        message: str, system_prompt: str = "", temperature: float = start_temperature,
        max_tokens: float = defaults.default_max_tokens, model_name: str | None = None, api_key: str = "",
        tools_on: list[str] | None = None, http: gr.Request = None,
    ) -> Ask:
        """Answer with tools; yields (conversation, status, the view, *Debug outputs)."""
        tools_on = list(TOOLS) if tools_on is None else tools_on

        def start(model: Any, secrets: tuple[str | None, ...]) -> Answer:
            options = {"temperature": float(temperature), "max_tokens": limits.cap(max_tokens),
                       **chosen_model(model_name, backend)}
            view = ToolsView(message, {name: TOOLS[name] for name in tools_on})
            messages = to_messages(message, system_prompt or None)

            def round_of(number: int) -> Answer:
                choice = LOCAL_CHOICES[min(number, len(LOCAL_CHOICES)) - 1] if local and tools_on else None
                view.next_round(number, choice)
                bound = model.bind_tools([TOOLS[name] for name in tools_on], tool_choice=choice).bind(**options)
                return Answer(bound.astream(list(messages)), view, then=lambda: after(number))

            async def after(number: int):
                """Between rounds: the calls finish running, and their results go back to the model."""
                if view.acc is None or view.acc.phase is not Phase.COMPLETE or not view.calls_made():
                    return  # failed, stopped, or answered
                if number > MAX_ROUNDS:
                    view.note = f"Stopped at the limit of {MAX_ROUNDS} rounds of tool calls for one message: these calls were not run."
                    yield view.page(), view.status(), gr.skip()
                    return
                async for _ in view.tools_finishing():
                    yield view.page(), view.status(), gr.skip()
                messages.extend(view.round_messages())
                yield round_of(number + 1)

            return round_of(1)

        return Ask(http, api_key, start=start, checks=lambda session: (
            check_text(system_prompt, "system prompt") or check_text(model_name, "model name")
            or _check_tools(tools_on) or limits.refuse(session, message, temperature, max_tokens, what="message")))

    with gr.Tab("Tools"):
        gr.Markdown(
            "The model may call two small tools: `calculator` (arithmetic) and `country_facts` (a bundled "
            "table). Each call's arguments grow as they stream, field by field; the call runs as soon as they "
            "are complete, and its result goes back to the model, whose answer then streams."
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
        latest = gr.State(None)

    event = gr.on([run.click, message.submit], run_tools,
                  [message, settings.system_prompt, settings.temperature, settings.max_tokens, settings.model,
                   settings.api_key, tools_on],
                  [conversation, status, latest, *frame.debug.outputs], api_name="tools", show_progress="minimal",
                  concurrency_limit=max_concurrency(defaults))
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


def call_message(call: StreamingCall) -> dict[str, Any]:
    """One call as a titled message: its arguments so far (inert: in a code block), then its result."""
    arguments = cut(json.dumps(call.arguments, ensure_ascii=False, indent=1), SHOWN_CHARS)
    content = f"```json\n{arguments}\n```"
    if call.state == INVALID:
        content += f"\n\nNot run: {inert_text(call.problem or 'invalid arguments')} The text was: `{inert_text(cut(call.text, 300))}`"
    if call.result is not None:
        content += f"\n\n**{'Result' if call.state == DONE else 'Error'}:** {inert_text(cut(call.result, SHOWN_CHARS))}"
    title = f"Tool call: {inert_text(call.name or '…')} ({inert_text(call.id or f'#{call.index}')})"
    # Open while it streams or runs (with a spinner), and open after (no status): the result stays in view.
    status = {"status": "pending"} if call.state in (STREAMING, RUNNING) else {}
    return {"role": "assistant", "content": inert_markdown(content), "metadata": {"title": title, "log": call.state, **status}}


class ToolsView:
    """The Tools tab's view of one message: every round's text and calls, each call's state."""

    source = "Tools tab"

    def __init__(self, message: str, tools: dict[str, BaseTool] = TOOLS) -> None:
        self.tools = tools  # the tools that are on: a call to any other gets an error, and never runs
        self.shown: list[dict[str, Any]] = [{"role": "user", "content": inert_text(message)}]
        self.calls = ToolCalls()
        self.acc: Accumulator | None = None
        self.round = 0
        self.choice: str | None = None  # the round's tool_choice, when the tab sets one
        self.note = ""
        self.said = ""  # what happened, said once at the end (not a warning)
        self.finished = False
        self._tasks: dict[int, asyncio.Future] = {}
        self._hand_over = HandOver()  # this view, for Stop

    def next_round(self, number: int, choice: str | None = None) -> None:
        if self.acc is not None:
            self.shown = self._messages()
        self.round, self.choice, self.calls, self.acc, self._tasks = number, choice, ToolCalls(), None, {}

    def _messages(self) -> list[dict[str, Any]]:
        current = [call_message(call) for call in self.calls]
        if self.acc is not None and self.acc.answer:
            current.insert(0, {"role": "assistant", "content": inert_markdown(self.acc.answer)})
        return [*self.shown, *current]

    def page(self) -> list[dict[str, Any]]:
        return self._messages() + ([note(self.note)] if self.note else []) + ([said(self.said)] if self.said else [])

    def status(self) -> str:
        if self.note:
            return f"⚠ {inert_text(self.note)}"
        states = [call.state for call in self.calls]
        told = f" (`tool_choice=\"{self.choice}\"`)" if self.choice else ""
        if any(state in (STREAMING, RUNNING) for state in states) or (self.acc and self.acc.phase is Phase.STREAMING):
            return f"{STREAMING_MARK} round {self.round}{told}: {len(states)} tool calls so far."
        if self.said:
            return f"✓ {self.said}"
        return f"✓ Round {self.round}{told} done."

    def _start_ready_calls(self) -> None:
        """Run each call that is ready (its arguments closed as one JSON object, and the stream moved on to
        another call) or was found complete at the end."""
        for call in self.calls:
            if call.ready:
                call.state = COMPLETE
            if call.state == COMPLETE and call.index not in self._tasks:
                call.id = call.id or f"call_{self.round}_{call.index}"
                call.state = RUNNING
                self._tasks[call.index] = asyncio.ensure_future(asyncio.to_thread(run_tool, call.as_tool_call(), self.tools))
                self._tasks[call.index].add_done_callback(lambda task, call=call: self._ran(call, task))

    def _ran(self, call: StreamingCall, task: asyncio.Future) -> None:
        if call.state != RUNNING or task.cancelled():
            return
        ok, result = task.result()
        call.state, call.result = (DONE if ok else FAILED), result

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]:
        self.acc = acc
        self.calls.update(acc.records)
        self._start_ready_calls()
        return self.page(), self.status(), self._hand_over(self)

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]:
        self.acc = acc
        self.calls.update(acc.records)
        self.calls.finish(acc.records[-1].ms_since_start if acc.records else None)
        self._start_ready_calls()
        self.finished = not self.calls_made()
        if self.finished and self.round == 1:  # no call in the whole message: say so, or ✓ would vouch for it
            self.said = NO_CALL
        return self.page(), self.status() if self.calls_made() or self.said else "✓ Answered.", self._hand_over(self)

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]:
        self.acc, self.finished = acc, True
        return [*self._messages(), note(error)], f"⚠ {inert_text(error)}", self._hand_over(self)

    def calls_made(self) -> bool:
        return any(call.state not in (STREAMING, INVALID) for call in self.calls)

    async def tools_finishing(self):
        """Yield once as each running tool finishes."""
        for call in self.calls:
            if (task := self._tasks.get(call.index)) is not None:
                await asyncio.shield(task)
                self._ran(call, task)  # its done-callback may not have run yet
                yield

    def round_messages(self) -> list[BaseMessage]:
        """This round for the model: its message with the calls that ran, and their results."""
        ran = [call for call in self.calls if call.state in (DONE, FAILED)]
        said = AIMessage(content=self.acc.text if self.acc else "", tool_calls=[call.as_tool_call() for call in ran])
        return [said, *(ToolMessage(call.result or "", tool_call_id=call.id, status="success" if call.state == DONE
                                    else "error") for call in ran)]

    def stop(self) -> None:
        self.finished = True
        for call in self.calls:
            if call.state in (RUNNING, STREAMING):
                call.state = STOPPED
