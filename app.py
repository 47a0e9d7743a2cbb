"""Watch an LLM stream: a chat whose answer grows token by token, a JSON tab whose
object grows field by field, a Pipeline tab where every step of a chain streams (or visibly
does not), and a Debug tab that shows every chunk, with timings.

    python app.py [--host H] [--port P] [--share]

Importing this module builds the page (`demo`) and nothing else: the model's process starts,
and the server's model list is read, when the page launches (or, if something else serves it,
when the first page opens).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import logging
import os
import sys
from typing import Any

import gradio as gr

from llm import ConfigError, Settings, max_concurrency
from llm.backends.backend import Backend
from llm.guards.limits import Limits
from llm.inert import inert_text
from serving import guarded_app_kwargs
from ui.answer_frame import Frame, session_of
from ui.chat_tab import chat_tab
from ui.chat_view import THINKING_CSS
from ui.chunk_files import chunk_files
from ui.debug_outputs import DEBUG_TAB, DebugOutputs
from ui.debug_tab import debug_view
from ui.json_tab import json_tab
from ui.loop_preprocess import preprocess_on_the_loop
from ui.pipeline_tab import pipeline_tab
from ui.token_probabilities import token_probabilities
from ui.tools_tab import tools_tab

QUEUE_STATUS_EVERY_S = 1.0  # how often a visitor waiting in line hears their place again


def header(settings: Settings | None, problem: str | None) -> str:
    lines = [
        "# Watch an LLM stream",
        "Ask something in **Chat**, or for an object in **JSON**; watch every step of a chain stream in "
        "**Pipeline**, and tool calls stream in **Tools**; open **Debug** to see every chunk of the answer.",
    ]
    if settings is not None:
        lines.append(f"**Backend:** {settings.describe()}")  # its names are inert code spans
    if problem:
        lines.append(f"⚠ **Not ready:** {inert_text(problem)}")
    if settings is not None and settings.provider == "local":
        lines.append(
            "Running offline. To use OpenAI instead, set `OPENAI_API_KEY` (and optionally `OPENAI_MODEL`) "
            "in `.env` or the environment and restart; for another OpenAI-compatible server "
            "(Ollama, vLLM, llama.cpp, LM Studio) set `OPENAI_BASE_URL`."
        )
    return "\n\n".join(lines)


def read_settings() -> tuple[Settings | None, str | None]:
    """Settings from the environment and `.env`, or None and the reason, shown on the page."""
    try:
        return Settings.from_env(), None
    except ConfigError as error:
        return None, str(error)


class Page(gr.Blocks):
    """The page, whose launch also starts its backend: the local model's process warms up in the
    background, and the model picker gets the server's list before the page's config is made."""

    def __init__(self, backend: Backend, **kwargs: Any) -> None:
        self.backend = backend
        super().__init__(**kwargs)

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        self.backend.start()
        kwargs["css"] = THINKING_CSS + (kwargs.get("css") or "")
        return super().launch(*args, **kwargs)


def build_demo(settings: Settings | None = None, problem: str | None = None, backend: Backend | None = None) -> Page:
    if settings is None and problem is None:
        settings, problem = read_settings()
    backend = backend or Backend.load(settings, problem)
    defaults = settings or Settings.defaults()  # what the controls start at, even when the settings are broken
    limits = Limits.from_settings(defaults)

    # delete_cache: exported chunk logs and uploaded ones are removed after a day.
    with Page(backend, title="Watch an LLM stream", fill_height=True, analytics_enabled=False,
              delete_cache=(86400, 86400)) as demo:
        gr.Markdown(header(settings, backend.problem), elem_id="backend-info")
        debug = DebugOutputs()  # made first: every tab writes to it
        debug.answered_by.render()
        frame = Frame(backend, limits, debug)  # around every tab's answer: session, refusal, one at a time
        with gr.Tabs() as tabs:
            chat = chat_tab(backend, defaults, frame, limits)
            json_tab(backend, defaults, frame, limits)
            pipeline_tab(backend, defaults, frame, limits)
            tools_tab(backend, defaults, frame, limits)
            debug.show_model_line()
            with gr.Tab(DEBUG_TAB) as debug_tab:
                explorer = debug_view(debug)
                token_probabilities(frame, max_concurrency(defaults))
                chunk_files(frame, chat)
        # The explorer shows the latest answer when Debug opens, and follows it to its end (a replay's too).
        for event in [debug_tab.select, debug.ended.change]:
            event(**explorer.show_whole_answer())

        async def page_opened(request: gr.Request) -> None:
            """Start the backend if whatever serves the page did not launch it (it returns at once if it
            did). Being called also makes Gradio set up the visitor's session now, while the visitor
            reads and types, not at the first message (see docs/benchmarks.md). The page opens on Chat,
            with Debug closed."""
            debug.pages.opened(session_of(request))
            if not backend.started:
                await asyncio.to_thread(backend.start)

        demo.load(page_opened, None, None, queue=False, show_progress="hidden", api_visibility="undocumented")
        frame.follow_tabs(tabs)  # answers redraw Debug only on pages that show it
    preprocess_on_the_loop(demo)  # the answers' inputs, checked on the loop: a first token sooner under load
    # When each event ends, Gradio sums up every event it keeps (up to 10,000) with pandas, for the latency
    # figures on the API page: 1.7-8 ms of a worker thread's CPU an answer, holding the GIL that the event
    # loop needs. Every 100 events is plenty for those figures (the release here does it every event; its
    # pull request, gradio-app/gradio#11764, meant every 10). An owner's own setting stands.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
    # Beyond QUEUE_MAX_SIZE waiting, a visitor is told the queue is full instead of waiting without end.
    # A visitor in line is told their place on joining and then once a second, not again every time the
    # line moves (Gradio's "auto"): visitors arriving together were told n²/2 times between them, 819
    # messages for 50, 2,650 for 100, each one more turn of the loop before their first tokens
    # (docs/benchmarks.md, "Eighth pass": 50 users at once, first token p50 698 -> 473 ms).
    demo.queue(max_size=defaults.queue_max_size, status_update_rate=QUEUE_STATUS_EVERY_S)
    return demo


def launch_options(settings: Settings | None) -> dict[str, Any]:
    """`demo.launch` arguments that make a shared app safer; see docs/security.md."""
    settings = settings or Settings.defaults()
    return {
        "auth": [(user, password.get_secret_value()) for user, password in settings.app_auth] or None,  # APP_AUTH
        "enable_monitoring": settings.enable_monitoring,  # /monitoring shows request counts and latencies
        "show_error": False,  # visitors see our sentences, never Gradio's internal error text
        "max_file_size": "25mb",  # uploads (chunk logs to replay: at most 20 MB) are refused beyond it
        # Per client address: a throttle on wrong logins, no API description before login, and a fair
        # share of the MAX_SESSIONS sessions kept (see serving.py).
        "app_kwargs": guarded_app_kwargs(settings.max_sessions),
    }


def launch_kwargs(argv: list[str] | None = None) -> dict[str, Any]:
    """`demo.launch` arguments from the command line; None leaves Gradio's GRADIO_* variables in charge."""
    parser = argparse.ArgumentParser(description="Watch an LLM stream, chunk by chunk.")
    parser.add_argument("--host", help="interface to listen on (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a public *.gradio.live link")
    args = parser.parse_args(argv)
    share = args.share
    if share and os.environ.get("SPACE_ID"):
        logging.getLogger("app").warning("On Hugging Face Spaces the app is already public: --share is ignored.")
        share = False
    return {"server_name": args.host, "server_port": args.port, "share": share}


def quiet_http_logs() -> None:
    """Log at INFO, but not the HTTP clients' request lines: they carry full request URLs. openai's
    client logs as `httpx2`, langchain-openai's and Gradio's as `httpx`."""
    logging.basicConfig(level=logging.INFO)
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)


def missing_imports_fail_at_once(*names: str) -> None:
    """Gradio tries `import matplotlib` twice for every step of every event (it switches matplotlib's
    backend around each one: `gradio.utils.MatplotlibBackendMananger`). Where it is not installed, each
    try searches every path again: 106 µs a step. With None in `sys.modules`, Python's own way to say
    "not here", the same ImportError comes at once (3.9 µs). Nothing changes for an installed one."""
    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = None  # type: ignore[assignment]


settings, problem = read_settings()
backend = Backend.load(settings, problem)  # builds the model object only: nothing starts on import
if __name__ == "__main__":
    backend.start()  # `python app.py`: the model's process loads while the page is built (about a second)
demo = build_demo(settings, problem, backend)

if __name__ == "__main__":
    quiet_http_logs()
    missing_imports_fail_at_once("matplotlib")
    # Gradio, LangChain and pydantic leave about a million objects behind at start-up, which every full
    # collection of the garbage collector walks again while the event loop waits: 0.1-0.5 s pauses
    # for everyone once a long answer or replay has made many new objects. Frozen, they are skipped.
    gc.freeze()
    # And a full collection at most every 20 collections of the middle generation, not 10: a long
    # answer or replay makes hundreds of thousands of objects, and each full pass over them held the
    # loop 0.1-0.2 s, a dozen times in a replay of the largest chunk log (measured with a gc callback).
    # Not 100: garbage then waited so long that 1,000 chats grew the process by 120 MB instead of 24
    # (at 20: 35 MB; `python -m benchmarks.run --only memory`, goal at most 50).
    gc.set_threshold(*gc.get_threshold()[:2], 20)
    demo.launch(**launch_kwargs(), **launch_options(settings))  # starts the model's process first
