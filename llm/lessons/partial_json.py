"""An honest partial JSON object, built as the text streams in, at constant cost per piece.

ijson's push parser (yajl, in C) does the parsing: it keeps its own state between
pieces and reports a number, literal or key only once it is complete, so `6775`
of `67750000` or `tru` is never shown. What it lacks is the string being written
right now: it reports a string when its closing quote arrives. The thin layer
here follows the quotes of each new piece, and shows an open string's text so
far, which is always a prefix of its final value.

    >>> p = PartialJSON()
    >>> for piece in ['{"name": "Fr', 'ance", "pop', 'ulation": 6775', '0000}']:
    ...     changes = p.feed(piece)
    ...     print(f"{piece!r:18} {p.value}  {[(c.op, c.path, c.value) for c in changes]}")
    '{"name": "Fr'     {'name': 'Fr'}  [('add', '', {}), ('add', '/name', 'Fr')]
    'ance", "pop'      {'name': 'France'}  [('append', '/name', 'ance')]
    'ulation": 6775'   {'name': 'France'}  []
    '0000}'            {'name': 'France', 'population': 67750000}  [('add', '/population', 67750000)]
    >>> p.close(), p.complete
    ([], True)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ijson

MAX_DEPTH = 100  # objects and arrays nested deeper than this end the answer with a sentence
SAFE_INTEGER = 2**53  # beyond this a browser's JSON view would show another number


class JSONProblem(ValueError):
    """The text is not JSON (`invalid`) or ended before the value did (`truncated`)."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


@dataclass
class Field:
    """One value in the object: where it is, what it is so far, and when it appeared and finished."""

    path: str  # a JSON Pointer: "" is the whole value, "/countries/0/name" a field inside it
    value: Any  # for an object or array, the live container
    complete: bool = False
    first_ms: float | None = None
    complete_ms: float | None = None


@dataclass(frozen=True)
class Change:
    """A JSON Patch operation; `append` (not in RFC 6902) adds text to the end of a string."""

    op: str  # "add" or "append"
    path: str
    value: Any


@dataclass
class _Frame:
    container: dict | list
    path: str
    key: str | None = None  # in an object: the key whose value comes next


@dataclass
class _OpenString:
    """The string value being written: where it goes, and its text so far (joined lazily)."""

    field: Field
    container: dict | list | None
    slot: str | int | None
    parts: list[str] = field(default_factory=list)
    length: int = 0


class PartialJSON:
    """Feed the pieces of one JSON text; read `value` and `fields` at any time."""

    def __init__(self) -> None:
        self._fields: dict[str, Field] = {}
        self.complete = False  # the top-level value has been closed
        self.problem: JSONProblem | None = None
        self._root: Any = None
        self._stack: list[_Frame] = []
        self._events: list[tuple[str, Any]] = []
        # Numbers come as int or Decimal (use_float=True stops at 64-bit integers): a 100-bit
        # integer is valid JSON and is kept exactly; a Decimal becomes a float.
        self._parser = ijson.basic_parse_coro(_Collect(self._events))
        self.huge_numbers = False  # an integer beyond SAFE_INTEGER was seen (see `JSONAnswer.view`)
        self._chars = 0
        # The quote-following layer: are we inside a string, and its raw text not yet decoded.
        self._in_string = self._escape = False
        self._raw = ""
        self._open: _OpenString | None = None

    @property
    def value(self) -> Any:
        """The object so far (a live structure: copy it to keep a snapshot)."""
        self._settle_open_string()
        return self._root

    @property
    def fields(self) -> dict[str, Field]:
        """Every value seen so far by path, in the order they appeared."""
        self._settle_open_string()
        return self._fields

    def feed(self, text: str, ms: float | None = None) -> list[Change]:
        """Take the next piece of text; returns what it changed. After a problem, pieces are ignored."""
        if self.problem is not None or not text:
            return []
        changes: list[Change] = []
        try:
            self._parser.send(text.encode())
        except ijson.JSONError as error:
            self._apply_events(ms, changes)  # the valid part before the error still counts
            self.problem = self.problem or JSONProblem(
                f"Not valid JSON near character {self._chars + 1}: {_first_line(error)}")
            return changes
        finally:
            self._chars += len(text)
        self._apply_events(ms, changes)
        if self.problem is None:
            self._follow_quotes(text, ms, changes)
        return changes

    def close(self, ms: float | None = None) -> list[Change]:
        """The text has ended: returns the last changes, or raises `JSONProblem` unless the text
        was one complete JSON value."""
        changes: list[Change] = []
        if self.problem is None:
            try:
                self._parser.close()
            except ijson.JSONError as error:
                truncated = "premature EOF" in str(error)
                message = (
                    "The JSON ended before it was complete." if truncated else f"Not valid JSON: {_first_line(error)}"
                )
                self.problem = JSONProblem(message, truncated=truncated)
            self._apply_events(ms, changes)  # a bare top-level number is only known at the end
        if self.problem is None and not self.complete:
            self.problem = JSONProblem("The text ended before any JSON value.", truncated=True)
        if self.problem is not None:
            raise self.problem
        return changes

    # -- ijson's events: complete keys, values and containers ---------------------------------

    def _apply_events(self, ms: float | None, changes: list[Change]) -> None:
        for event, value in self._events:
            if self.problem is not None:
                break
            if event == "map_key":
                self._stack[-1].key = value
            elif event in ("start_map", "start_array"):
                if len(self._stack) >= MAX_DEPTH:
                    self.problem = JSONProblem(f"The JSON is nested more than {MAX_DEPTH} levels deep; this app "
                                               f"follows at most {MAX_DEPTH}, so it stopped there")
                    break
                container: dict | list = {} if event == "start_map" else []
                path = self._place(container, ms, changes, complete=False)
                self._stack.append(_Frame(container, path))
            elif event in ("end_map", "end_array"):
                self._finish(self._stack.pop().path, ms)
            elif event == "string" and self._open is not None:
                self._close_open_string(value, ms, changes)
            else:
                if isinstance(value, Decimal):
                    value = float(value)
                elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER:
                    self.huge_numbers = True
                self._place(value, ms, changes, complete=True)
        self._events.clear()

    def _place(self, value: Any, ms: float | None, changes: list[Change], *, complete: bool) -> str:
        container, slot, path = self._next_slot()
        self._put(container, slot, value)
        self._fields[path] = Field(path, value, complete, ms, ms if complete else None)
        changes.append(Change("add", path, _leaf(value)))
        if complete:
            self._finish(path, ms)
        return path

    def _next_slot(self) -> tuple[dict | list | None, str | int | None, str]:
        if not self._stack:
            return None, None, ""
        frame = self._stack[-1]
        if isinstance(frame.container, dict):
            slot: str | int = frame.key
            frame.key = None
        else:
            slot = len(frame.container)
        return frame.container, slot, f"{frame.path}/{_pointer_token(slot)}"

    def _finish(self, path: str, ms: float | None) -> None:
        self._fields[path].complete, self._fields[path].complete_ms = True, ms
        if path == "":
            self.complete = True

    # -- the thin layer: the string being written ----------------------------------------------

    def _follow_quotes(self, text: str, ms: float | None, changes: list[Change]) -> None:
        """Track quotes and escapes through `text`; if it ends inside a string value, show its prefix."""
        start = 0
        opened = False
        for i, ch in enumerate(text):
            if not self._in_string:
                if ch == '"':
                    self._in_string, start, opened, self._raw = True, i + 1, True, ""
            elif self._escape:
                self._escape = False
            elif ch == "\\":
                self._escape = True
            elif ch == '"':
                self._in_string = False
        if not self._in_string:
            return
        self._raw += text[start:]
        if opened and self._open is None and not self._is_key():
            container, slot, path = self._next_slot()
            self._open = _OpenString(Field(path, "", False, ms), container, slot)
            self._fields[path] = self._open.field
            self._open_store(self._open, "")
            changes.append(Change("add", path, self._decode_ready()))
        elif self._open is not None and (piece := self._decode_ready()):
            changes.append(Change("append", self._open.field.path, piece))

    def _decode_ready(self) -> str:
        """Decode the open string's raw text up to any unfinished escape; keep the rest for later."""
        cut = _decodable_length(self._raw)
        if not cut:
            return ""
        piece = json.loads(f'"{self._raw[:cut]}"')
        self._raw = self._raw[cut:]
        self._open.parts.append(piece)
        self._open.length += len(piece)
        return piece

    def _is_key(self) -> bool:
        return bool(self._stack) and isinstance(self._stack[-1].container, dict) and self._stack[-1].key is None

    def _close_open_string(self, value: str, ms: float | None, changes: list[Change]) -> None:
        open_, self._open = self._open, None
        shown = open_.length
        if len(value) > shown:
            changes.append(Change("append", open_.field.path, value[shown:]))
        self._open_store(open_, value)
        self._finish(open_.field.path, ms)

    def _settle_open_string(self) -> None:
        if self._open is not None and len(self._open.parts) > 1:
            self._open.parts[:] = ["".join(self._open.parts)]
        if self._open is not None and self._open.parts:
            self._open_store(self._open, self._open.parts[0])

    def _open_store(self, open_: _OpenString, text: str) -> None:
        open_.field.value = text
        self._put(open_.container, open_.slot, text)

    def _put(self, container: dict | list | None, slot: str | int | None, value: Any) -> None:
        """Set the value at a slot from `_next_slot`: the root, a key, or an array's next (or last) item."""
        if container is None:
            self._root = value
        elif isinstance(container, list) and slot == len(container):
            container.append(value)
        else:
            container[slot] = value


class _Collect:
    """ijson's push parser sends events to a target's `send`; this one keeps them in a list."""

    def __init__(self, events: list) -> None:
        self.send = events.append


def _leaf(value: Any) -> Any:
    """What a change adds: a new, empty container (its contents come as changes of their own)."""
    return type(value)() if isinstance(value, (dict, list)) else value


def _pointer_token(slot: str | int) -> str:
    return str(slot).replace("~", "~0").replace("/", "~1")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# An escape that may still be unfinished at the end of the text: "\", "\u", "\u00", or a high
# surrogate "\ud83d" (its pair "\ude00" decides the character), possibly followed by the start of its pair.
_UNFINISHED_ESCAPE = re.compile(r"(?:\\u[dD][89abAB][0-9a-fA-F]{2})?(?:\\(?:u[0-9a-fA-F]{0,3})?)?$")


def _decodable_length(raw: str) -> int:
    """How much of an open string's raw text decodes now: all but an unfinished escape at its end."""
    pos = 0
    while (match := _UNFINISHED_ESCAPE.search(raw, pos)) and match.start() < len(raw):
        before = raw[: match.start()]
        if (len(before) - len(before.rstrip("\\"))) % 2 == 0:  # that backslash is not itself escaped
            return match.start()
        pos = match.start() + 1
    return len(raw)
