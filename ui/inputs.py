"""Inputs that hand the answer function exactly what was sent, so a wrong value through the API
gets a sentence from `llm.guards.limits` instead of an exception inside Gradio's preprocessing.

They look and behave like `gr.Slider`, `gr.Dropdown`, `gr.CheckboxGroup` and `gr.Textbox` in the page (`is_template`: the same
frontend); only what reaches the function differs. Their preprocess is a type check at most, so it
runs on the event loop (`preprocess_on_loop`, read by `ui/loop_preprocess.py`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr


class CheckedSlider(gr.Slider):
    """A slider whose value is checked by the answer function, not by Gradio."""

    is_template = True
    preprocess_on_loop = True

    def preprocess(self, payload: Any) -> Any:
        return payload


class CheckedDropdown(gr.Dropdown):
    """A dropdown whose value is checked by the answer function: a name not among the choices gets
    the function's sentence, not Gradio's error."""

    is_template = True
    preprocess_on_loop = True

    def preprocess(self, payload: Any) -> Any:
        return payload


class CheckedCheckboxGroup(gr.CheckboxGroup):
    """A checkbox group whose value is checked by the answer function, like `CheckedDropdown`."""

    is_template = True
    preprocess_on_loop = True

    def preprocess(self, payload: Any) -> Any:
        return payload


class CheckedTextbox(gr.Textbox):
    """A text box that passes a missing value as "", a number as text (as `gr.Textbox` does), and
    anything else unchanged, to be checked."""

    is_template = True
    preprocess_on_loop = True

    def preprocess(self, payload: Any) -> Any:
        return _text(payload)


class MessageBox(gr.Textbox):
    """The chat's message box: ChatInterface itself reads the message, so it must be text."""

    is_template = True  # the frontend is the base class's: a direct subclass of gr.Textbox
    preprocess_on_loop = True

    def preprocess(self, payload: Any) -> Any:
        payload = _text(payload)
        return payload if isinstance(payload, str) else ""


def _text(payload: Any) -> Any:
    if payload is None:
        return ""
    return str(payload) if isinstance(payload, (int, float)) and not isinstance(payload, bool) else payload


class CheckedRadio(gr.Radio):
    """Radio buttons whose value is checked by the function, like `CheckedDropdown`."""

    is_template = True
    preprocess_on_loop = True

    def preprocess(self, payload: Any) -> Any:
        return payload


class CheckedNumber(gr.Number):
    """A number box whose value is checked by the function: 1.5 or "x" get its sentence, not Gradio's
    rounding or error."""

    is_template = True
    preprocess_on_loop = True

    def preprocess(self, payload: Any) -> Any:
        return payload
