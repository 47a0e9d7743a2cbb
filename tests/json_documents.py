"""A JSON document that exercises every hard case of streaming, and what an honest partial state is."""

from __future__ import annotations

# Numbers that will be split, escaped quotes and backslashes, non-ASCII, a surrogate pair, keys that
# need JSON Pointer escaping, empty containers, literals.
DOCUMENT = (
    '{"countries": [{"name": "France", "capital": "Paris", "population": 67750000, "area_km2": 551695.5},'
    ' {"name": "Côte d\'Ivoire", "capital": "Yamoussoukro", "population": 28160000, "area_km2": 322463},'
    ' {"name": "日本", "capital": "東京", "population": -125700000, "area_km2": 3.779e5}],'
    ' "quote": "she said \\"hi\\" \\\\ then \\u00e9t\\u00e9 \\ud83d\\ude00 \\n", "ok": true, "none": null,'
    ' "empty": {}, "list": [], "a/b~c": false, "nested": [[1, [2, "x"]], {"deep": {"er": "est"}}]}'
)


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def is_honest(shown, final) -> bool:
    """Every leaf shown is its final value, or a prefix of its final string; nothing is made up."""
    if isinstance(shown, dict):
        return isinstance(final, dict) and all(k in final and is_honest(v, final[k]) for k, v in shown.items())
    if isinstance(shown, list):
        return isinstance(final, list) and len(shown) <= len(final) and all(map(is_honest, shown, final))
    if isinstance(shown, str):
        return isinstance(final, str) and final.startswith(shown)
    return type(shown) is type(final) and shown == final
