"""Every tab's Settings, built once: the same model choice, temperature, Max tokens and key everywhere.

`settings_inputs` makes the inputs (inside the current Blocks, or unrendered for ChatInterface's own
accordion); `chosen_model` turns the picker's value into the request's `model`, when it differs from
the configured one. The model picker lists the server's models, read when the app launches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from llm import Settings
from llm.backends.backend import Backend
from llm.guards.limits import Limits

from .inputs import CheckedSlider, CheckedTextbox

KEY_INFO = "Used for your requests only: sent with each one, never stored or shown."


@dataclass
class SettingsInputs:
    """One tab's settings inputs; `system_prompt` only where the tab has one."""

    system_prompt: CheckedTextbox | None
    temperature: CheckedSlider
    max_tokens: CheckedSlider
    model: ModelPicker
    api_key: CheckedTextbox


def settings_inputs(backend: Backend, defaults: Settings, limits: Limits, *, temperature: float | None = None,
                    system_prompt: str | None = None, prefix: str = "", render: bool = True) -> SettingsInputs:
    """The inputs every tab offers, in the order shown. `prefix` keeps the elements' ids apart (the chat's
    have none); `system_prompt` (its starting text) adds that box; `temperature` overrides the default."""
    return SettingsInputs(
        system_prompt=None if system_prompt is None else CheckedTextbox(
            system_prompt, label="System prompt", lines=2, render=render, elem_id=f"{prefix}system-prompt"),
        temperature=CheckedSlider(0.0, 2.0, step=0.05, label="Temperature", render=render,
                                  value=defaults.default_temperature if temperature is None else temperature),
        max_tokens=CheckedSlider(1, limits.token_ceiling, value=limits.cap(defaults.default_max_tokens), step=1,
                                 label="Max tokens", render=render),
        model=ModelPicker.of(backend, elem_id=f"{prefix}model-picker", render=render),
        api_key=CheckedTextbox("", type="password", label="Your API key (optional)", elem_id=f"{prefix}api-key",
                               render=render, visible=backend.takes_keys, info=KEY_INFO),
    )


def chosen_model(name: Any, backend: Backend) -> dict[str, str]:
    """The request's `model` for the picker's value: none when it is the configured model (or empty).
    The value is checked first (`llm.guards.limits.check_text`)."""
    name = name.strip() if isinstance(name, str) else ""
    return {"model": name} if name and name != backend.configured_model else {}


class ModelPicker(gr.Dropdown):
    """The server's models, the configured one first; another name may be typed. The list is read
    when the app launches (`Backend.start`), not when this module is imported."""

    is_template = True
    preprocess_on_loop = True  # its preprocess passes the value on: the tab checks it (`check_text`)
    _backend: Backend

    @classmethod
    def of(cls, backend: Backend, elem_id: str = "model-picker", render: bool = False) -> ModelPicker:
        picker = cls([backend.configured_model], value=backend.configured_model, allow_custom_value=True,
                     label="Model", elem_id=elem_id, render=render)
        picker._backend = backend  # not a constructor argument: Gradio would put it in the page's config
        return picker

    def get_config(self, cls: Any = None) -> dict[str, Any]:
        """Called when the page's config is made (again at launch): the list as read by then."""
        listed = self._backend.listed_models
        self.choices = [(name, name) for name in listed or [self._backend.configured_model]]
        if listed:
            self.info = None
        elif not self._backend.takes_keys:  # the bundled model: no server was set up to ask
            self.info = "The bundled model, offline on this machine's CPU (no server, no key)."
        else:
            self.info = "The server did not list its models; type a model name."
        return super().get_config(cls) if cls is not None else super().get_config()

    def preprocess(self, payload: Any) -> Any:
        """The value as sent, a name not listed included (`allow_custom_value`), without reading the list."""
        return payload
