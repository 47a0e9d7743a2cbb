"""The Debug tab's token probabilities: the answer shaded token by token, what else the model could
have said at a selected token, and a branch that goes on from one of those alternatives.

The shaded answer follows an answer with probabilities with an event of its own (`follow_tokens`,
started when `DebugOutputs.to_shade` gets it), so the answers' own outputs stay as they were. Selecting a token
reads the latest answer's state; "Continue from here" asks the answer's own model again, through the
frame (`answer_frame`, without the Debug outputs: they keep the answer it branched from).
`/continue_from` takes (token position, rank of the alternative) for that session's latest answer.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from llm import Accumulator, Phase
from llm.guards.limits import whole_number_in
from llm.inert import inert_code, inert_text
from llm.lessons.branching import CANNOT_CONTINUE, astream_branch, branch_prefix, can_continue
from llm.stream.report import visible_text
from llm.stream.token_probs import MAX_TOP, TokenLogprob, figures

from .answer_frame import Answer, Ask, Frame, wire_stop
from .debug_outputs import REDRAW_EVERY_MS, DebugAnswer, shaded
from .inputs import CheckedNumber, CheckedRadio

ALTERNATIVES_HEADERS = ["rank", "token", "probability", "log-probability", "sent"]
HOW = ("Turn them on under **Chat → Settings → Token probabilities** (the alternatives to list for each token). "
       "Select a token to see what else the model could have said; then continue from there with another.")
BRANCH_STOPPED = "■ Branch stopped by you; it keeps what had arrived."


def token_probabilities(frame: Frame, concurrency: int) -> None:
    """Lay out the shaded answer, the alternatives and the branch (inside the current tab)."""
    debug = frame.debug
    # Open: its view must be on the page while an answer streams, to shade tokens as they come. Opened
    # by an event at the answer's first update, it missed the first tokens under load (a flaky test).
    with gr.Accordion("Token probabilities", open=True, elem_id="token-section"):
        gr.Markdown(HOW)
        with gr.Row(equal_height=False):
            with gr.Column():
                debug.tokens.render()
            with gr.Column():
                branch = gr.HighlightedText(label="Branch: the kept tokens, the alternative, then what the model "
                                            "said next", show_legend=False, show_inline_category=False,
                                            combine_adjacent=False, elem_id="token-branch")
        picked = gr.Markdown("", elem_id="token-picked")
        alternatives = gr.Dataframe(headers=ALTERNATIVES_HEADERS, value=[], interactive=False, wrap=True,
                                    elem_id="token-alternatives")
        with gr.Row():
            position = CheckedNumber(None, label="Token", precision=0, minimum=0, elem_id="token-position", scale=0,
                                 min_width=120)
            choice = CheckedRadio([], label="Continue from here with", type="value", elem_id="token-choice")
        with gr.Row():
            go = gr.Button("Continue from here with this token", variant="primary", elem_id="token-continue")
            stop = gr.Button("Stop", variant="stop", elem_id="branch-stop", scale=0)
        status = gr.Markdown("", elem_id="branch-status")

    def pick(answer: DebugAnswer | None, evt: gr.SelectData) -> tuple[Any, ...]:
        return alternatives_of(answer, evt.index)

    @frame.answers(refused=lambda text: (gr.skip(), f"⚠ {inert_text(text)}"), debug=False)
    def continue_from(answer: DebugAnswer | None, at: Any, rank: Any, request: gr.Request = None) -> Ask:
        """Stream a branch: the answer's first `at` tokens, the alternative of rank `rank` at `at`, then the
        model's own continuation; yields (branch shaded, status)."""
        problem = branch_problem(answer, at, rank)
        if problem is None and not can_continue(answer.origin.model):
            problem = CANNOT_CONTINUE
        if problem:
            return Ask(refused=problem)

        def start(model: Any, secrets: tuple[str | None, ...]) -> Answer:
            tokens = answer.report.tokens
            view = BranchView(tokens[:int(at)], tokens[int(at)], tokens[int(at)].top[int(rank)])
            prefix = branch_prefix(tokens, int(at), view.alternative.token)
            return Answer(astream_branch(answer.origin, prefix), view, secrets=answer.origin.secrets)

        # The answer's own model, not the backend's: the branch asks it again.
        return Ask(request, checks=frame.limits.rate.take, start=start, uses_model=False)

    debug.to_shade.change(follow_tokens, debug.to_shade, debug.tokens, concurrency_limit=None,
                          show_progress="hidden", api_visibility="undocumented")
    debug.tokens.select(pick, [debug.latest], [position, picked, alternatives, choice], queue=False,
                        api_visibility="undocumented")
    position.submit(alternatives_of, [debug.latest, position], [position, picked, alternatives, choice], queue=False,
                    api_visibility="undocumented")  # a token chosen by its number
    running = go.click(continue_from, [debug.latest, position, choice], [branch, status], api_name="continue_from",
                       concurrency_limit=concurrency, show_progress="minimal")
    wire_stop(stop.click, running, debug, BranchView.source, [status], lambda stopped: (BRANCH_STOPPED,))


async def follow_tokens(answer: DebugAnswer | None) -> AsyncIterator[list[tuple[str, float]]]:
    """The answer's tokens shaded, redrawn at most every REDRAW_EVERY_MS while it streams (when new tokens
    came), then all of them once it ends; None (an answer without probabilities) clears the view."""
    if answer is None:
        yield []
        return
    drawn = -1
    while True:
        streaming = answer.acc.phase is Phase.STREAMING
        if not streaming:
            answer.report.update(answer.acc.records)  # the loop may not have drawn the last chunks yet
        tokens = answer.report.tokens
        if len(tokens) != drawn or not streaming:
            drawn = len(tokens)
            yield shaded(tokens)
        if not streaming:
            return
        await asyncio.sleep(REDRAW_EVERY_MS / 1000)


def alternatives_of(answer: DebugAnswer | None, at: Any) -> tuple[Any, ...]:
    """(position, what was picked, the alternatives' rows, the choice of alternatives) for token `at`."""
    tokens = answer.report.tokens if answer is not None else []
    if not whole_number_in(at, 0, len(tokens) - 1):
        return gr.skip(), "Select a token of an answer that has probabilities.", [], gr.update(choices=[], value=None)
    at = int(at)
    token = tokens[at]
    rows = [[rank, visible_text(text), float(f"{math.exp(logprob):.4g}"), round(logprob, 4),
             "✓" if text == token.token else ""] for rank, (text, logprob) in enumerate(token.top)]
    choices = [(f"{visible_text(text)} · {p:.3g}", rank) for rank, (text, p) in enumerate(token.alternatives())]
    said = (f"Token {at}: {inert_code(visible_text(token.token))}, probability {token.probability:.4g} "
            f"(log-probability {token.logprob:.4f}); the server listed {max(token.listed, len(token.top))} alternatives"
            + (f", of which the first {MAX_TOP} were read (OpenAI lists at most {MAX_TOP})."
               if token.listed > MAX_TOP else "."))
    default = next((rank for rank, (text, _) in enumerate(token.top) if text != token.token), None)
    return at, said, rows, gr.update(choices=choices, value=default)


def branch_problem(answer: DebugAnswer | None, at: Any, rank: Any) -> str | None:
    """Why a branch cannot start at token `at` with alternative `rank`, in words; None if it can."""
    tokens = answer.report.tokens if answer is not None else []
    if not tokens:
        return "The latest answer has no token probabilities: turn them on under Chat → Settings, and ask again."
    if answer.origin is None:
        return "The latest answer was replayed from a chunk log: there is no request to continue."
    if answer.acc.phase is Phase.STREAMING:
        return "The answer is still streaming: wait for it to end (or stop it) before branching."
    if not whole_number_in(at, 0, len(tokens) - 1):
        return f"Choose a token from 0 to {len(tokens) - 1}."
    top = tokens[int(at)].top
    if not whole_number_in(rank, 0, len(top) - 1):
        return f"Choose one of the {len(top)} alternatives listed for token {int(at)}." if top else \
            f"The server listed no alternatives for token {int(at)}."
    return None


class BranchView:
    """The branch as it streams: the kept tokens (unshaded), the alternative and the new tokens shaded
    by their probabilities; and a status line saying what was swapped for what."""

    source = "branch"

    def __init__(self, kept: list[TokenLogprob], replaced: TokenLogprob, alternative: tuple[str, float]) -> None:
        self.kept = [(token.token, None) for token in kept]
        self.alternative = TokenLogprob(alternative[0], alternative[1], alternative[0].encode())
        self.tokens: list[TokenLogprob] = [self.alternative]  # then the branch's own, as its records bring them
        self._read = 0  # records already read
        swap = (f"{inert_code(visible_text(self.alternative.token))} ({self.alternative.probability:.3g}) in place "
                f"of {inert_code(visible_text(replaced.token))} ({replaced.probability:.3g})")
        self.head = f"kept tokens 0–{len(kept) - 1}, then {swap}" if kept else f"{swap} as the first token"

    def value(self, acc: Accumulator) -> list[tuple[str, float | None]]:
        for record in acc.records[self._read:]:
            self.tokens.extend(record.logprobs)
        self._read = len(acc.records)
        return [*self.kept, *shaded(self.tokens)]

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]:
        return self.value(acc), f"● Branch streaming: {self.head}."

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]:
        value = self.value(acc)
        found = figures(self.tokens[1:])  # what followed the alternative
        after = (f"; perplexity of what followed {found.perplexity:.3f} over {found.tokens} tokens" if found else "")
        return value, f"✓ Branch complete: {self.head}{after}."

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]:
        return self.value(acc), f"✗ Branch: {inert_text(error)}"
