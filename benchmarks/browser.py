"""The page in a real Chromium: does the browser keep up with a long answer?

    python -m benchmarks.browser [--tokens 1000 5000 20000] [--rate 1000] [--thinking 10000]

Each case is one scripted stream (tests/openai_server.py in its own process, token k at k/rate),
sent to the app and to the LangChain floor (a bare `gr.ChatInterface` over `ChatOpenAI.astream`,
benchmarks/floors.py), each in its own process and opened in headless Chromium. In the page, from
the moment the message is sent:

- **last token on screen**: when the answer's last token is first in the page, over the stream's
  own duration (tokens / rate). 1.0× is a page that shows every token as it comes;
- **long tasks**: the Long Tasks API's total (tasks of 50 ms and more on the page's main thread)
  until then, as a share of the stream's duration;
- **worst frame gap**: the longest time between two `requestAnimationFrame` callbacks until then.

Answers come in paragraphs of PARAGRAPH tokens, as long answers do. The thinking case streams a reasoning block of that many tokens before a short answer; the floor
drops the reasoning (ChatOpenAI does), so it runs on the app only.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from benchmarks.figures import Figure
from benchmarks.processes import app, floor, scripted_server
from tests.conftest import CHROMIUM_ARGS, find_chromium
from tests.openai_server import numbered_tokens

ANSWER_AFTER_THINKING = 200  # answer tokens after a thinking block
FLOOR_UP_TO = 5_000  # beyond, the floor takes minutes a run (8x the stream at 5,000 tokens)
FAST_RATE = 2_000  # tokens/s of the fast case: servers that stream 1,000-2,000 tokens a second
PARAGRAPH = 60  # tokens a paragraph: a long answer has paragraphs (about 330 characters each, here)

# Installed before the message is sent; `window.__m.last` is set when `last` is first in the page.
WATCH = """last => {
  const m = window.__m = {sent: performance.now(), last: null, frames: [], longtasks: []};
  new PerformanceObserver(list => { for (const e of list.getEntries()) m.longtasks.push([e.startTime, e.duration]); })
    .observe({type: 'longtask'});
  const rows = document.getElementsByClassName('bot-row');
  const frame = t => {
    m.frames.push(t);
    const row = rows[rows.length - 1];
    if (m.last === null && row && row.textContent.includes(last)) m.last = performance.now();
    if (m.last === null) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}"""
RESULT = """() => { const m = window.__m; const until = m.last;
  const gaps = m.frames.slice(1).map((t, i) => t - m.frames[i]);
  const long = m.longtasks.filter(([s, d]) => s >= m.sent && s < until).reduce((a, [, d]) => a + d, 0);
  return {seconds: (until - m.sent) / 1000, long_ms: long, worst_gap_ms: Math.max(0, ...gaps)}; }"""


@dataclass
class PageRun:
    """One stream as the page showed it."""

    stream_s: float  # the stream's own duration
    seconds: float  # from sending the message to the last token on screen
    long_ms: float
    worst_gap_ms: float

    @property
    def ratio(self) -> float:
        return self.seconds / self.stream_s

    @property
    def long_share(self) -> float:
        return self.long_ms / 1000 / self.stream_s


@contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    path = find_chromium()
    if path is None:
        raise RuntimeError("no Chromium found: apt-get install chromium, or set CHROMIUM=/path/to/chrome")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watch(browser, url: str, last: str, stream_s: float) -> PageRun:
    """Open `url`, send a message, and measure until `last` is on screen."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        page.goto(url)
        box = page.locator("textarea:visible").first  # the chat's box: the app's settings are closed
        box.wait_for()
        box.fill("go")
        page.evaluate(WATCH, last)
        box.press("Enter")
        # The floor falls far behind (8x at 5,000 tokens): wait for it as long as it takes.
        page.wait_for_function("() => window.__m.last !== null", timeout=(stream_s * 15 + 60) * 1000, polling=500)
        result = page.evaluate(RESULT)
        return PageRun(stream_s, result["seconds"], result["long_ms"], result["worst_gap_ms"])
    finally:
        page.close()


def case(browser, tokens: int, rate: float, thinking: int = 0, rounds: int = 1,
         floor_too: bool = True) -> dict[str, PageRun]:
    """The median run of the app (and the LangChain floor) for one stream."""
    answer = ANSWER_AFTER_THINKING if thinking else tokens
    last = numbered_tokens(answer)[-1]
    stream_s = (thinking + answer) / rate
    runs: dict[str, list[PageRun]] = {"app": [], "LangChain floor": []}
    with scripted_server(answer, rate, thinking=thinking, paragraph_every=PARAGRAPH) as base:
        sides = {"app": app(base)} | ({"LangChain floor": floor("langchain", base, answer, rate)} if floor_too else {})
        for name, side in sides.items():
            with side as (url, _):
                watch(browser, url, last, stream_s)  # warm-up: the page's code, the app's first answer
                for _ in range(rounds):
                    runs[name].append(watch(browser, url, last, stream_s))
    return {name: sorted(done, key=lambda r: r.seconds)[len(done) // 2] for name, done in runs.items() if done}


def figures(sizes: list[int], rate: float, thinking: int, rounds: int = 1, fast: list[int] | None = None,
            fast_rate: float = FAST_RATE) -> list[Figure]:
    """Each of `sizes` at `rate` (beside the LangChain floor up to FLOOR_UP_TO), the thinking case, and
    each of `fast` at `fast_rate`, the app alone (issue 39: a fast server's long answer)."""
    out = []
    with chromium() as browser:
        for tokens in sizes:
            result = case(browser, tokens, rate, rounds=rounds, floor_too=tokens <= FLOOR_UP_TO)
            out += page_figures(f"{tokens:,} tokens at {rate:,.0f}/s", result["app"], result.get("LangChain floor"))
        if thinking:
            result = case(browser, 0, rate, thinking=thinking, rounds=rounds, floor_too=False)
            out += page_figures(f"{thinking:,}-token thinking block, then {ANSWER_AFTER_THINKING} tokens, at "
                                f"{rate:,.0f}/s", result["app"], None)
        for tokens in fast or []:
            result = case(browser, tokens, fast_rate, rounds=rounds, floor_too=False)
            out += page_figures(f"{tokens:,} tokens at {fast_rate:,.0f}/s", result["app"], None)
    return out


def page_figures(name: str, ours: PageRun, floor_run: PageRun | None) -> list[Figure]:
    versus = (f"; LangChain floor {floor_run.ratio:.2f}×, long tasks {floor_run.long_share:.0%}, worst frame gap "
              f"{floor_run.worst_gap_ms:.0f} ms" if floor_run else "")
    # Frame gaps are whole frames (16.7 ms at 60 Hz) plus clock noise: six are 100.0000001 ms. Judged
    # as shown, in whole ms.
    gap, floor_gap = round(ours.worst_gap_ms), round(floor_run.worst_gap_ms) if floor_run else None
    goal, ok = "≤ 1.1×, ≤ 10%, ≤ 100 ms", ours.ratio <= 1.1 and ours.long_share <= 0.10 and gap <= 100
    if floor_run:  # issue 26: where the floor runs too (up to FLOOR_UP_TO), no worse than it
        goal, ok = "no worse than the LangChain floor", (
            ours.ratio <= floor_run.ratio and ours.long_share <= max(0.10, floor_run.long_share)
            and gap <= max(100, floor_gap))
    return [Figure(f"browser, {name}: last token on screen / long tasks / worst frame gap",
                   f"{ours.ratio:.2f}× the stream ({ours.seconds:.1f} s of {ours.stream_s:.1f} s), long tasks "
                   f"{ours.long_share:.0%}, worst frame gap {ours.worst_gap_ms:.0f} ms{versus}", goal, ok)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1_000, 5_000, 20_000])
    parser.add_argument("--rate", type=float, default=1_000.0)
    parser.add_argument("--thinking", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for figure in figures(args.tokens, args.rate, args.thinking, args.rounds):
        print(figure.line(), flush=True)


if __name__ == "__main__":
    main()
