"""A long Markdown answer cut into finished blocks and a live end, as it grows.

A chat page re-renders a message's whole Markdown at every update, so the cost of an update grows
with the answer (gradio-app/gradio#4092). Cut at paragraph breaks, outside code fences, the finished
blocks never change again: shown as messages of their own, the page renders each once, and only the
live end at every update. A block is cut once it holds `min_chars`; the cuts depend only on the text
before them, so a block, once cut, stays exactly as it was while the answer grows. Joined, the blocks
and the end are the text.

    >>> blocks = MarkdownBlocks(min_chars=10)
    >>> blocks.update("First paragraph.\\n\\nSecond one, still")
    (['First paragraph.\\n\\n'], 'Second one, still')
    >>> blocks.update("First paragraph.\\n\\nSecond one, still going.\\n\\n```\\ncode\\n\\nmore code\\n```\\n\\nEnd")
    (['First paragraph.\\n\\n', 'Second one, still going.\\n\\n', '```\\ncode\\n\\nmore code\\n```\\n\\n'], 'End')
"""

from __future__ import annotations

# A block holds at least this much. The page's cost of an update grows with the number of messages
# (each is a component it re-checks), and its parse with the live end: fewer, larger blocks cut the
# browser's long tasks several times over, with a live end still a few ms to render (Chromium,
# benchmarks/browser.py; measured in docs/benchmarks.md, "long answers in the browser").
BLOCK_CHARS = 6_000


class MarkdownBlocks:
    """Finished blocks of a growing Markdown text; each `update` reads only what is new."""

    def __init__(self, min_chars: int = BLOCK_CHARS) -> None:
        self.min_chars = min_chars
        self.blocks: list[str] = []
        self.end_at = 0  # where the live end begins: the characters in finished blocks
        self._scanned = 0  # lines before this are read
        self._fence: str | None = None  # the open code fence's marker, if inside one

    def update(self, text: str) -> tuple[list[str], str]:
        """(finished blocks, live end) of `text`, which must be the previous text plus more."""
        while (newline := text.find("\n", self._scanned)) >= 0:
            line = text[self._scanned:newline]
            self._scanned = newline + 1
            self._read(line, text)
        return self.blocks, text[self.end_at:]

    def _read(self, line: str, text: str) -> None:
        """One whole line; a block is cut after an empty one (so it ends in a blank line, which is how
        `to_messages` knows to join it to the next)."""
        stripped = line.strip()
        marker = stripped[:3]
        if marker in ("```", "~~~"):
            if self._fence is None:
                self._fence = marker
            elif marker == self._fence and not stripped[3:].strip():
                self._fence = None
            return
        if self._fence is None and line == "" and self._scanned - self.end_at >= self.min_chars \
                and text[self.end_at:self._scanned].strip():
            self.blocks.append(text[self.end_at:self._scanned])
            self.end_at = self._scanned
