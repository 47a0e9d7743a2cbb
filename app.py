"""Watch an LLM stream: a chat whose answer grows token by token, a JSON tab whose
object grows field by field, and a Debug tab that shows every chunk, with timings.

    python app.py [--host H] [--port P] [--share]
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import gradio as gr

from llm import Settings, build_chat_model, readable_error
from llm.models import available_models
from llm.config import ConfigError
from ui.chat_tab import chat_tab
from ui.debug_tab import DebugTab
from ui.json_tab import json_tab


def header(settings: Settings | None, problem: str | None) -> str:
    lines = [
        "# Watch an LLM stream",
        "Ask something in **Chat**, or for an object in **JSON**; open **Debug** to see every chunk of the answer.",
    ]
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


# Which model answered last, read by the browser from the Debug summary: no round trip per update.
ANSWERED_BY_JS = r"""(summary, shown) => {
  const match = /Answered by `([^`]+)`/.exec(summary || "");
  return match ? "**Last answer from:** `" + match[1] + "`" : shown;
}"""


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

    # delete_cache: exported chunk logs and uploaded ones are removed after a day.
    with gr.Blocks(title="Watch an LLM stream", fill_height=True, analytics_enabled=False,
                   delete_cache=(86400, 86400)) as demo:
        gr.Markdown(header(settings, problem), elem_id="backend-info")
        answered_by = gr.Markdown("", elem_id="answered-by")
        debug = DebugTab()  # made first: the Chat and JSON tabs write to it
        chat = chat_tab(model, problem, secret, defaults, debug, available_models(settings) if model else None)
        json_tab(model, problem, secret, defaults, debug)
        debug.render(chat)
        debug.summary.change(None, [debug.summary, answered_by], answered_by, js=ANSWERED_BY_JS, queue=False,
                             api_visibility="undocumented")
    return demo


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
