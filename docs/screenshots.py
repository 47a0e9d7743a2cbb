"""Retake the README's screenshots: the app offline (the bundled model, no key), every tab after one
use, in headless Chromium at 1,280 px.

    python docs/screenshots.py [--out docs] [--chromium /usr/bin/chromium]

It starts `python app.py` on a free port with no model settings in its environment, as a newcomer
runs it, and writes one PNG per tab, and of the explorer and token probabilities. Two are not
retaken here: docs/reasoning-chat.png needs a reasoning model, which the bundled one is not, and
docs/replay.png comes from tests/test_browser_replay.py (`SCREENSHOTS_DIR=docs`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1280, 900
ANSWER_SECONDS = 180  # one offline answer of a few hundred tokens on 2 cores, with room to spare


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GRADIO_"))}
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/config", timeout=2).status_code == 200:
                return app
        except httpx.TransportError:
            time.sleep(0.5)
    app.kill()
    raise SystemExit("the app did not start within 120 s")


def open_section(page, elem_id: str) -> None:
    label = page.locator(f"#{elem_id} .label-wrap").first
    if "open" not in (label.get_attribute("class") or "").split():
        label.click()


def take(page, out: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def shot(name: str, full_page: bool = True) -> None:
        page.screenshot(path=str(out / name), full_page=full_page)
        print("wrote", out / name)

    # Chat: one of its examples, while it streams, and once done.
    page.get_by_text("Who's Elon Musk? (the how-to's question)").click()
    page.locator(".message-row.bot-row").first.wait_for(timeout=ANSWER_SECONDS * 1000)
    page.wait_for_function("() => (document.querySelector('.message-row.bot-row')?.innerText || '').length > 80",
                           timeout=ANSWER_SECONDS * 1000)
    shot("chat-streaming.png", full_page=False)
    page.locator('[data-testid="stop-button"]').wait_for(state="hidden", timeout=ANSWER_SECONDS * 1000)

    page.get_by_role("tab", name="Debug").click()
    page.locator("#debug-summary").get_by_text("✓ Complete").wait_for(timeout=30_000)
    shot("debug-tab.png")
    open_section(page, "explorer-section")
    page.locator("#sum-meaning").get_by_text("the whole answer").wait_for(timeout=30_000)
    for slider, value in (("#sum-first", 1), ("#sum-last", 3)):
        box = page.locator(f"{slider} input[type=number]")
        box.fill(str(value))
        box.press("Enter")
    page.locator("#sum-meaning").get_by_text("Chunks 1 to 3").wait_for(timeout=30_000)
    page.locator("#explorer-section").screenshot(path=str(out / "explorer.png"))
    print("wrote", out / "explorer.png")

    # Token probabilities: asked for under Chat → Settings, then a branch from another token.
    page.get_by_role("tab", name="Chat").click()
    page.get_by_text("Settings").first.click()
    box = page.locator("#top-logprobs input[type=number]")
    # Gradio's front end sometimes sets a value typed as the accordion mounts back to the default
    # (tests/test_browser_probabilities.py): type it again until it holds.
    for attempt in range(5):
        box.fill("3")
        box.press("Enter")
        try:
            page.wait_for_function("() => document.querySelector('#top-logprobs input[type=number]').value === '3'",
                                   polling=100, timeout=2_000)
            break
        except PlaywrightTimeout:
            if attempt == 4:
                raise
    page.locator("#chat-input textarea").fill("Describe the sea in two sentences.")
    page.locator("#chat-input textarea").press("Enter")
    page.locator('[data-testid="stop-button"]').wait_for(state="visible", timeout=30_000)
    page.locator('[data-testid="stop-button"]').wait_for(state="hidden", timeout=ANSWER_SECONDS * 1000)
    page.get_by_role("tab", name="Debug").click()
    page.locator("#token-probabilities .score-token").nth(6).click()
    page.locator("#token-picked").get_by_text("Token", exact=False).wait_for(timeout=30_000)
    page.locator("#token-choice label").nth(1).click()
    page.locator("#token-continue").click()
    page.locator("#branch-status").get_by_text("Branch complete").wait_for(timeout=ANSWER_SECONDS * 1000)
    page.locator("#token-section").screenshot(path=str(out / "token-probabilities.png"))
    print("wrote", out / "token-probabilities.png")

    page.get_by_role("tab", name="JSON").click()
    page.locator("#json-request textarea").fill("Three countries with their capital and population")
    page.locator("#json-run").click()
    page.locator("#json-status").get_by_text("✓", exact=False).wait_for(timeout=ANSWER_SECONDS * 1000)
    shot("json-tab.png")

    page.get_by_role("tab", name="Pipeline").click()
    page.locator("#pipeline-preset input").click()
    page.get_by_role("option", name="plain function vs generator (side by side)").click()
    page.locator("#pipeline-run").click()
    page.locator("#pipeline-verdict").get_by_text("✓", exact=False).wait_for(timeout=ANSWER_SECONDS * 1000)
    shot("pipeline-tab.png")

    page.get_by_role("tab", name="Tools").click()
    page.locator("#tools-run").click()
    page.locator("#tools-status").get_by_text("✓ Answered", exact=False).wait_for(timeout=ANSWER_SECONDS * 1000)
    shot("tools-tab.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    app = start_app(port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#chat-input textarea").wait_for()
            take(page, args.out)
            browser.close()
    finally:
        app.terminate()
        app.wait(30)


if __name__ == "__main__":
    main()
