"""PartialJSON: honest partial objects, growing strings, changes that rebuild the value, problems named."""

from __future__ import annotations

import copy
import json
import random

import pytest

from llm.lessons.partial_json import JSONProblem, PartialJSON, _decodable_length
from tests.json_documents import DOCUMENT, is_honest, pieces_of


def apply(value, change):
    """Apply one change (JSON Patch `add`, plus `append` for string growth) to `value`."""
    if change.path == "":
        return change.value if change.op == "add" else value + change.value
    *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in change.path.split("/")[1:]]
    target = value
    for token in parents:
        target = target[int(token)] if isinstance(target, list) else target[token]
    slot = int(last) if isinstance(target, list) else last
    if change.op == "append":
        target[slot] += change.value
    elif isinstance(target, list):
        target.insert(slot, change.value)
    else:
        target[slot] = change.value
    return value


def stream(text: str, pieces: list[str]):
    parser, states, rebuilt = PartialJSON(), [], None
    for i, piece in enumerate(pieces):
        for change in parser.feed(piece, ms=float(i)):
            rebuilt = apply(rebuilt, copy.deepcopy(change))
        if "" in parser.fields:  # before the first value is seen there is nothing to show
            states.append(copy.deepcopy(parser.value))
    for change in parser.close():
        rebuilt = apply(rebuilt, copy.deepcopy(change))
    states.append(copy.deepcopy(parser.value))
    return parser, states, rebuilt


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50])
def test_every_state_is_honest_and_the_last_is_the_document(size):
    final = json.loads(DOCUMENT)
    parser, states, rebuilt = stream(DOCUMENT, pieces_of(DOCUMENT, size))
    assert all(is_honest(state, final) for state in states)
    assert states[-1] == final == parser.value
    assert rebuilt == final  # the changes alone rebuild the document
    assert parser.complete and all(f.complete for f in parser.fields.values())


def test_random_splits_of_random_documents():
    rng = random.Random(7)
    leaves = [0, -12, 3.5, 1e-7, 123456789012, True, False, None, "", "a\"b", "\\", "é😀", "\n\t", "x" * 40]
    def build(depth):
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(leaves)
        if rng.random() < 0.5:
            return [build(depth - 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["k", "long key", "ü", "a/b", "~"]) + str(i): build(depth - 1) for i in range(rng.randint(0, 4))}
    for _ in range(200):
        final = build(4)
        text = json.dumps(final, ensure_ascii=rng.random() < 0.5)
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 30))))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        _, states, rebuilt = stream(text, pieces)
        assert all(is_honest(state, final) for state in states), text
        assert states[-1] == final and rebuilt == final, text


def test_unfinished_numbers_literals_and_keys_are_held_back():
    parser = PartialJSON()
    parser.feed('{"population": 6775')
    assert parser.value == {}
    parser.feed('0000, "ok": tr')
    assert parser.value == {"population": 67750000}
    parser.feed('ue, "capi')
    assert parser.value == {"population": 67750000, "ok": True}
    parser.feed('tal": "Pa')
    assert parser.value == {"population": 67750000, "ok": True, "capital": "Pa"}


def test_fields_say_what_is_complete_and_when():
    parser = PartialJSON()
    parser.feed('{"a": "xy', ms=10)
    parser.feed('z", "b": [1', ms=20)
    a, b = parser.fields["/a"], parser.fields["/b"]
    assert (a.value, a.complete, a.first_ms, a.complete_ms) == ("xyz", True, 10, 20)
    assert (b.complete, b.first_ms, parser.fields[""].complete) == (False, 20, False)
    parser.feed("]}", ms=30)
    assert parser.fields["/b/0"].value == 1 and parser.fields["/b"].complete_ms == 30
    assert parser.complete


def test_a_split_escape_waits_for_its_end():
    parser = PartialJSON()
    for piece, shown in [('"caf', "caf"), ("\\", "caf"), ("u00", "caf"), ("e9 \\ud83d", "café "), ("\\ude00!", "café 😀!")]:
        parser.feed(piece)
        assert parser.value == shown
    assert _decodable_length("ab\\\\") == 4  # an escaped backslash is complete
    assert _decodable_length("ab\\\\\\") == 4


@pytest.mark.parametrize(
    ("text", "truncated", "kept"),
    [
        ('{"a": 1, "b": "par', True, {"a": 1, "b": "par"}),
        ('{"a": 1, b: 2}', False, {"a": 1}),
        ('{"a": 1} {"b": 2}', False, {"a": 1}),
        ("Sure! Here is the JSON:", False, None),
        ("", True, None),
    ],
)
def test_truncated_or_invalid_text_keeps_the_last_good_object(text, truncated, kept):
    parser = PartialJSON()
    for piece in pieces_of(text, 3):
        parser.feed(piece)
    with pytest.raises(JSONProblem) as problem:
        parser.close()
    assert problem.value.truncated is truncated
    assert parser.value == kept
    assert ("ended" in str(problem.value)) if truncated else ("Not valid JSON" in str(problem.value))


def test_a_bare_top_level_number_is_known_at_the_end():
    parser = PartialJSON()
    parser.feed("4")
    parser.feed("2")
    assert parser.value is None
    parser.close()
    assert parser.value == 42 and parser.complete
