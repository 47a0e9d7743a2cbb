"""The one rule for text that came from outside (a model, a server, a file, a visitor) on the page:
it is shown, never obeyed. Gradio renders chat messages and Markdown components as Markdown, where
`![x](http://…)` makes the browser fetch a URL and `<img src=…>` adds an element, so such text goes
through one of two helpers before it reaches the page:

- `inert_text`: a name, an error, a file name, a note. Every character that could start Markdown
  or HTML is escaped, so it renders exactly as it came, on one line.
- `inert_code`: a name shown as code (a model's, a file's): a code span no text can close early.
- `inert_markdown`: a model's answer or thinking. Its formatting (lists, bold, code blocks) stays;
  what would fetch or add elements (images, HTML tags, autolinks) is shown as text.

    >>> print(inert_text("gpt`![x](http://evil/) <img> OPENAI_API_KEY [redacted]"))
    gpt\\`\\![x\\](http\\://evil/) \\<img\\> OPENAI_API_KEY [redacted]
    >>> print(inert_code("gpt`x ![y](http://evil/)"))
    ``gpt`x ![y](http://evil/)``
    >>> shown = inert_markdown("**hi** ![x](http://evil/) <img src=http://evil/>")
    >>> "![" in shown or "<img" in shown, shown.startswith("**hi**")
    (False, True)
    >>> code = "```html\\n<img src=x>\\n```"
    >>> inert_markdown(code) == code  # inside a fenced code block it is already only text
    True
    >>> original = "see ![x](y) and <b>"
    >>> restored(inert_markdown(original)) == original
    True
"""

from __future__ import annotations

import re

# U+2060 WORD JOINER: invisible, and it stops `<` from opening a tag and `!` from making an image,
# in code spans too, where a backslash or an entity would be shown as typed. `restored` removes it.
JOINER = "\u2060"
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # what begins an HTML tag, comment or autolink
_IMAGE_START = re.compile(r"!(?=\[)")
# What can start markup, break out of a code span or a table cell, or make an entity or formula: a
# bracket only where it would close a link's text, an underscore only where it could be emphasis, and
# what makes a bare URL a link.
_MARKUP = re.compile(r"([\\`*<>&|~$!]|\](?=[(\[])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:(?=//)|(?<=www)\.)")
_BLOCK_START = re.compile(r"^(?:([#+=-])|(\d+)([.)]))")  # a heading, list or rule if it starts a line
_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}(?=[^`]*$)|~{3,})")
_FENCE_LIKE = re.compile(r"^\s*(`{3,}|~{3,})")


def cut(text: str, limit: int) -> str:
    """`text` as a page shows a long value: its first `limit` characters, then how many more there are
    (the whole of it is in the export).

        >>> cut("abcdef", 4), cut("abc", 4)
        ('abcd… 2 more characters', 'abc')
    """
    return text if len(text) <= limit else f"{text[:limit]}… {len(text) - limit:,} more characters"


def inert_text(text: object) -> str:
    """`text` escaped for Markdown and HTML, on one line: it renders as exactly these characters."""
    flat = " ".join(str(text).split())
    return _BLOCK_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", _MARKUP.sub(r"\\\1", flat))


def inert_code(text: object) -> str:
    """`text` as a Markdown code span on one line: inside one, nothing is markup, and the span's fence
    is longer than any run of backticks in the text, so the text cannot close it."""
    flat = " ".join(str(text).split()) or " "
    fence = "`" * (max(map(len, re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat[0] == "`" or flat[-1] == "`" else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def inert_markdown(text: str) -> str:
    """A model's Markdown with its formatting, minus anything that fetches or adds elements.

    Lines inside a fenced code block are left as they are (Markdown shows them as text). A line
    counts as inside only when every renderer agrees: the fence opens as CommonMark says, and any
    line that could close it (or is indented less than the fence) ends it. Elsewhere `<` before a
    tag name and `!` before `[` get an invisible joiner."""
    out: list[str] = []
    fence: tuple[str, int] | None = None  # (fence character, indent) while inside a code block
    for line in text.split("\n"):
        if fence is not None:
            if _FENCE_LIKE.match(line) or (line.strip() and _indent(line) < fence[1]):
                fence = None  # it may close here for some renderer: from here on, it is text
                out.append(_escaped(line))
                continue
            out.append(line)
            continue
        if opened := _FENCE_OPEN.match(line):
            fence = (opened.group(2)[0], len(opened.group(1)))
        out.append(_escaped(line))
    return "\n".join(out)


def restored(text: str) -> str:
    """The text before `inert_markdown`: what goes back to the model as the conversation."""
    return text.replace("<" + JOINER, "<").replace("!" + JOINER, "!")


def _escaped(line: str) -> str:
    return _IMAGE_START.sub("!" + JOINER, _TAG_START.sub("<" + JOINER, line))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))
