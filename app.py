"""Watch an LLM stream: a chat whose answer grows token by token, and a Debug tab
that shows every chunk that made it, with timings.

    python app.py [--host H] [--port P] [--share]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from contextlib import aclosing
from typing import Any

import gradio as gr

from llm import Accumulator, Settings, aaccumulate, build_chat_model, max_concurrency, readable_error, to_messages
from llm.config import ConfigError
from llm.context import fit_for_model
from llm.pacing import paced
from llm.report import TABLE_HEADERS, TIMELINE_GAP, TIMELINE_X, TIMELINE_Y, DebugReport

log = logging.getLogger("app")

FRAME_SECONDS = 1 / 60  # chunks closer together than a screen refresh share one page update
TIMELINE_EVERY_SECONDS = 0.5  # the picture is redrawn less often than the text: it is O(chunks)
STREAMING, COMPLETE, STOPPED = "● Streaming…", "✓ Complete", "■ Stopped by you"


def header(settings: Settings | None, problem: str | None) -> str:
    lines = ["# Watch an LLM stream", "Ask something in **Chat**; open **Debug** to see every chunk of the answer."]
    if settings is not None:
        lines.append(f"**Backend:** {settings.describe()}")
    if problem:
        lines.append(f"⚠ **Not ready:** {problem}")
    if settings is not None and settings.provider == "local":
        lines.append(
            "Running offline. To use OpenAI instead, set `OPENAI_API_KEY` (and optionally `OPENAI_MODEL`) "
            "in `.env` or the environment and restart; for another OpenAI-compatible server "
            "(Ollama, vLLM, llama.cpp, LM Studio) set `OPENAI_BASE_URL`."
        )
    return "\n\n".join(lines)


def load_backend(settings: Settings | None) -> tuple[Any, str | None]:
    """The chat model, or None and a sentence saying how to configure one."""
    if settings is None:
        return None, None
    if settings.needs_key:
        return None, "LLM_PROVIDER=openai but no OPENAI_API_KEY (or OPENAI_BASE_URL) is set. See `.env.example`."
    try:
        model = build_chat_model(settings)
    except Exception as error:  # a missing model file or package: say so on the page
        return None, readable_error(error, settings.openai_api_key)
    if hasattr(model, "warm_up"):  # start the local model's process in the background: the page opens at once
        model.warm_up()
    return model, None


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    problem = None
    if settings is None:
        try:
            settings = Settings.from_env()
        except ConfigError as error:
            settings, problem = None, str(error)
    model, model_problem = load_backend(settings)
    problem = problem or model_problem
    secret = settings.openai_api_key if settings else None
    defaults = settings or Settings()  # what the controls start at, even when the settings are broken

    summary = gr.Markdown("No answer yet.", render=False, elem_id="debug-summary")
    table = gr.Dataframe(
        headers=TABLE_HEADERS, value=[], render=False, interactive=False, wrap=True, elem_id="debug-table"
    )
    timeline = gr.ScatterPlot(
        x=TIMELINE_X, y=TIMELINE_Y, title="When each chunk arrived", render=False, elem_id="debug-timeline",
        tooltip=[TIMELINE_X, TIMELINE_Y, TIMELINE_GAP], height=260,
    )

    async def chat(message: str, history: list[dict], system_prompt: str, temperature: float, max_tokens: float):
        """Stream the model's answer; yields (answer so far, Debug summary, chunk table, timeline)."""
        if model is None:
            yield _note(problem or "No model is configured."), "No answer yet.", [], gr.skip()
            return
        if problem_with_input := check_input(message, temperature, max_tokens):
            yield _note(problem_with_input), gr.skip(), gr.skip(), gr.skip()
            return
        acc, report = Accumulator(), DebugReport()
        messages = to_messages([*history, {"role": "user", "content": message}], system_prompt)
        try:  # the local model's window is small: leave out the oldest turns rather than fail
            fitted = await asyncio.to_thread(fit_for_model, model, messages, int(max_tokens))
        except Exception as error:
            yield _note(readable_error(error, secret)), gr.skip(), gr.skip(), gr.skip()
            return
        left_out = fitted.note()
        notes = [_note(left_out)] if left_out else []
        report.notes = [left_out] if left_out else []
        bound = model.bind(temperature=float(temperature), max_tokens=int(max_tokens))
        stream = bound.astream(fitted.messages)
        drawn_at = 0.0
        try:
            # aclosing: when Gradio closes this generator (Stop), close the stream now, not at GC.
            async with aclosing(paced(aaccumulate(stream, acc), FRAME_SECONDS)) as updates:
                async for _ in updates:
                    report.update(acc.records)
                    ms = report.stats.last_ms
                    plot = gr.skip()
                    if ms - drawn_at >= TIMELINE_EVERY_SECONDS * 1000:
                        plot, drawn_at = report.timeline(), ms
                    yield _shown(acc.text, notes), report.summary(STREAMING), report.rows, plot
        except Exception as error:
            text = readable_error(error, secret)
            log.warning("stream failed: %s", text)
            report.update(acc.records)
            answer = [{"role": "assistant", "content": acc.text}] if acc.text else []
            yield [*notes, *answer, _note(text)], report.summary(f"✗ {text}"), report.rows, report.timeline()
            return
        report.update(acc.records)
        yield _shown(acc.text, notes), report.summary(COMPLETE, acc.text), report.rows, report.timeline()

    with gr.Blocks(title="Watch an LLM stream", fill_height=True, analytics_enabled=False) as demo:
        gr.Markdown(header(settings, problem), elem_id="backend-info")
        with gr.Tab("Chat"):
            chat_ui = gr.ChatInterface(
                chat,
                additional_inputs=[
                    # render=False: ChatInterface places them in its accordion under the chat.
                    gr.Textbox(defaults.system_prompt, label="System prompt", lines=2, render=False),
                    gr.Slider(0.0, 2.0, value=defaults.default_temperature, step=0.05, label="Temperature",
                              render=False),
                    gr.Slider(1, 4096, value=defaults.default_max_tokens, step=1, label="Max tokens", render=False),
                ],
                additional_inputs_accordion=gr.Accordion("Settings", open=False, render=False),
                additional_outputs=[summary, table, timeline],
                textbox=gr.Textbox(placeholder="Type a message...", elem_id="chat-input", render=False,
                                   show_label=False, submit_btn=True, stop_btn=True),
                api_name="chat",
                concurrency_limit=max_concurrency(defaults),
                editable=True,
                fill_height=True,
                analytics_enabled=False,
            )
        with gr.Tab("Debug"):
            gr.Markdown("The latest answer, chunk by chunk. Text is shown as a JSON string so spaces and newlines are visible.")
            summary.render()
            timeline.render()
            table.render()
        chat_ui.textbox.stop(_mark_stopped, [summary], [summary], queue=False, api_visibility="undocumented")
    return demo


def check_input(message: str, temperature: float, max_tokens: float) -> str | None:
    """What is wrong with a request from the page or the API, in words; None if nothing."""
    if not (message or "").strip():
        return "Type a message first."
    if not 0 <= float(temperature) <= 2:
        return f"Temperature must be between 0 and 2, not {temperature}."
    if int(max_tokens) < 1:
        return f"Max tokens must be at least 1, not {max_tokens}."
    return None


def _note(text: str) -> dict:
    """A message the page shows but the model never sees (see `to_messages`)."""
    return {"role": "assistant", "content": text, "metadata": {"title": "⚠ Note"}}


def _shown(answer: str, notes: list[dict]) -> str | list[dict]:
    """The answer as the chat shows it: plain text, or after notes such as "turns left out"."""
    return [*notes, {"role": "assistant", "content": answer}] if notes else answer


def _mark_stopped(summary: str) -> str:
    return summary.replace(STREAMING, STOPPED, 1)


def launch_kwargs(argv: list[str] | None = None) -> dict[str, Any]:
    """`demo.launch` arguments from the command line; None leaves Gradio's GRADIO_* variables in charge."""
    parser = argparse.ArgumentParser(description="Watch an LLM stream, chunk by chunk.")
    parser.add_argument("--host", help="interface to listen on (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a public *.gradio.live link")
    args = parser.parse_args(argv)
    return {"server_name": args.host, "server_port": args.port, "share": args.share}


demo = build_demo()

if __name__ == "__main__":
    kwargs = launch_kwargs()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full request URLs
    demo.launch(**kwargs)
