"""The Pipeline tab: run a real LangChain chain and watch every step's stream, on one timeline.

`/pipeline` takes (question, preset, temperature, max tokens, your API key, model) and yields (the chain's
output so far, the events of every step, the lanes, the verdict, the Debug outputs). The chain
runs with `astream_events(version="v2")` (`llm.lessons.pipeline_run.PipelineRun`), whose model chunks the
frame (`answer_frame`) streams through the one loop with this tab's view, so the Debug tab shows them as any answer.
"""

from __future__ import annotations

import json
import time
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache

from llm import Accumulator, Settings, max_concurrency
from llm.backends.backend import Backend
from llm.guards.limits import Limits, check_text
from llm.inert import inert_code, inert_text
from llm.lessons.pipeline_run import EVENT_HEADERS, PipelineRun
from llm.lessons.pipelines import PRESETS, SIDE_BY_SIDE, preset_chain

from .answer_frame import Answer, Ask, Frame, says, wire_stop
from .debug_outputs import REDRAW_EVERY_MS, STREAMING, STREAMING_ROWS, HandOver
from .inputs import CheckedDropdown, CheckedTextbox
from .payloads import LANE_COLORS, LANES_COLOR, LANES_EVENT, LANES_NAME, LANES_X, LANES_Y, lanes_value, page_value
from .settings import chosen_model, settings_inputs

SHOWN_EVENTS = 2_000  # the table's rows once a run ends (the latest); the export has every event
PIPELINE_STOPPED = "■ Stopped by you: the model's request is closed; the output and events show what had arrived."
FIRST = next(iter(PRESETS))


def pipeline_tab(backend: Backend, defaults: Settings, frame: Frame, limits: Limits) -> None:
    """Lay out the Pipeline tab (inside the current Blocks) and wire `/pipeline` and its export."""

    @frame.answers(refused=lambda text: (None, [], None, f"⚠ {inert_text(text)}", gr.skip()))
    def run_pipeline(
        question: str, preset: str = FIRST, temperature: float = defaults.default_temperature,
        max_tokens: float = defaults.default_max_tokens, api_key: str = "", model_name: str | None = None,
        http: gr.Request = None,
    ) -> Ask:
        """Run the preset chain on the question; yields (output, events, lanes, verdict, *Debug outputs)."""

        def start(model: Any, secrets: tuple[str | None, ...]) -> Answer:
            chain = preset_chain(preset, model, temperature=float(temperature), max_tokens=limits.cap(max_tokens),
                                 **chosen_model(model_name, backend))
            run = PipelineRun(branches=SIDE_BY_SIDE if "side by side" in preset else ())
            return Answer(run.astream(chain, question), PipelineView(run, preset),
                          notes=[f"The model step of the pipeline `{preset}`."])

        def checks(session: str) -> str | None:
            if not (isinstance(preset, str) and preset in PRESETS):
                return f"Choose a preset: {', '.join(PRESETS)}."
            return check_text(model_name, "model name") or limits.refuse(session, question, temperature, max_tokens,
                                                                           what="question")

        return Ask(http, api_key, checks=checks, start=start)

    with gr.Tab("Pipeline"):
        gr.Markdown(
            "A chain streams only if **every** step does. Pick a chain, ask, and watch each step's events "
            "(start, stream, end) on one timeline, as `astream_events` reports them. A step that needs its "
            "whole input shows one output at the end; everything after it waits."
        )
        with gr.Row():
            with gr.Column(scale=2):
                question = CheckedTextbox(PRESETS[FIRST].question, label="Question", lines=2, elem_id="pipeline-question")
                preset = CheckedDropdown(list(PRESETS), value=FIRST, label="Chain", elem_id="pipeline-preset")
                teaches = gr.Markdown(PRESETS[FIRST].teaches, elem_id="pipeline-teaches")
                with gr.Accordion("Settings", open=False):
                    settings = settings_inputs(backend, defaults, limits, prefix="pipeline-")
                with gr.Row():
                    run = gr.Button("Run the chain", variant="primary", elem_id="pipeline-run")
                    stop = gr.Button("Stop", variant="stop", elem_id="pipeline-stop")
                gr.Examples([[p.question, p.name] for p in PRESETS.values()], [question, preset], label="Examples")
            with gr.Column(scale=3):
                verdict = gr.Markdown("", elem_id="pipeline-verdict")
                output = gr.JSON(label="The chain's output so far (what chain.astream has yielded, added up)",
                                 open=True, elem_id="pipeline-output")
        lanes = gr.ScatterPlot(x=LANES_X, y=LANES_Y, color=LANES_COLOR, color_map=LANE_COLORS, height=320,
                               title="Every step's events: start, stream, end", elem_id="pipeline-lanes",
                               y_title="step (numbered as under the verdict)", tooltip=[LANES_X, LANES_NAME, LANES_EVENT])
        # Widths that fit a 1,280 px page: left to itself, the table pushed "carried" off its right edge.
        events = gr.Dataframe(headers=EVENT_HEADERS, value=[], interactive=False, wrap=True, max_height=400,
                              column_widths=["10%", "25%", "17%", "48%"],
                              label=f"Events (the latest; up to {SHOWN_EVENTS:,} when it ends, and every one in the export)",
                              elem_id="pipeline-events")
        latest_run = gr.State(None)
        with gr.Row():
            export = gr.Button("Export the events", scale=0, elem_id="pipeline-export")
            files = gr.File(label="Events (.jsonl)", interactive=False, height=100, visible=False,
                            elem_id="pipeline-files")  # shown with the first export

    def export_events(latest: PipelineRun | None) -> tuple[Any, str]:
        if latest is None or not latest.events:
            return gr.skip(), "⚠ Nothing to export yet: run a chain first."
        path = save_bytes_to_cache(latest.dumps().encode(), f"events-{time.strftime('%Y%m%d-%H%M%S')}.jsonl",
                                   files.GRADIO_CACHE)
        return path, f"Exported {len(latest.events)} events."

    preset.change(chosen_chain, [preset, question], [teaches, question], api_visibility="undocumented", queue=False)
    event = gr.on([run.click, question.submit], run_pipeline,
                  [question, preset, settings.temperature, settings.max_tokens, settings.api_key, settings.model],
                  [output, events, lanes, verdict, latest_run, *frame.debug.outputs], api_name="pipeline",
                  show_progress="minimal", concurrency_limit=max_concurrency(defaults))
    export.click(export_events, latest_run, [files, verdict], api_name="export_events").then(
        lambda latest: gr.File(visible=latest is not None and bool(latest.events)), latest_run, files,
        api_visibility="undocumented", queue=False)
    wire_stop(stop.click, event, frame.debug, PipelineView.source, [verdict], says(PIPELINE_STOPPED))


class PipelineView:
    """The Pipeline tab's view of a run: (output so far, events, lanes, verdict, the run for export)."""

    source = "Pipeline tab"

    def __init__(self, run: PipelineRun, preset: str) -> None:
        self.run, self.preset = run, preset
        self._lanes: dict[str, Any] | None = None
        self._drawn_at = -REDRAW_EVERY_MS
        self._hand_over = HandOver()  # the run, for export

    def redraw_chars(self, acc: Accumulator) -> int:
        """What the page redoes at each update (`stream_to_page` spaces updates by it): the output so
        far, about as long as the model's text. Unspaced, a 100 KB answer sent the whole object 30 times
        a second, and held another visitor's first token 1.9 s."""
        return len(acc.answer)

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]:
        now = acc.records[-1].ms_since_start if acc.records else 0.0
        if self._lanes is None or now - self._drawn_at >= REDRAW_EVERY_MS:  # the plot redraws less often
            self._lanes, self._drawn_at = lanes_value(self.run.points()), now
        status = f"{STREAMING} {len(self.run.events)} events from {len(self.run.steps)} steps so far."
        return (output_value(self.run.output), self.run.rows(STREAMING_ROWS), self._lanes, self._with_key(status),
                self._hand_over(self.run))

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]:
        said = "\n\n".join(self.run.verdicts())
        return (output_value(self.run.output), self.run.rows(SHOWN_EVENTS), lanes_value(self.run.points()),
                self._with_key(f"✓ {inert_code(self.preset)}, {len(self.run.events)} events.\n\n{said}"),
                self._hand_over(self.run))

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]:
        return (output_value(self.run.output), self.run.rows(SHOWN_EVENTS), lanes_value(self.run.points()),
                self._with_key(f"✗ {self.run.failure(inert_text(error), inert_text)}"), self._hand_over(self.run))

    def _with_key(self, verdict: str) -> str:
        key = self.run.lane_key(inert_code)
        return f"{verdict}\n\n{key}" if key else verdict


def chosen_chain(name: str, question: str) -> tuple[str, Any]:
    """A chain comes with the question it was made for ("Who's Elon Musk?" through the country-names
    chain gave ["Elon Musk"]), unless the visitor wrote a question of their own."""
    if name not in PRESETS:
        return "", gr.skip()
    examples = {p.question for p in PRESETS.values()}
    own = isinstance(question, str) and question.strip() and question not in examples
    return PRESETS[name].teaches, gr.skip() if own else PRESETS[name].question


def output_value(output: Any) -> Any:
    """The chain's output for the page's JSON view, which parses text it is given: text goes as a JSON
    string, so the view (and `/pipeline`) shows the text itself."""
    shown = output if isinstance(output, str) else page_value(output)
    return json.dumps(shown, ensure_ascii=False) if isinstance(shown, str) else shown  # a sentence is text too
