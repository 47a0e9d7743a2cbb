"""The app's chat model, or a sentence saying why there is none, and a model for a key a
visitor brings (used for that request only, never stored).

    >>> from llm.config import Settings
    >>> backend = Backend.load(Settings(provider="openai"))
    >>> backend.model is None, backend.model_for("")[1].startswith("This app has no OpenAI API key")
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .config import Settings
from .errors import readable_error
from .models import build_chat_model

NEEDS_KEY = ("This app has no OpenAI API key of its own (its owner can set OPENAI_API_KEY): enter yours under "
             "Settings → Your API key. "
             "It is used for your messages only and never stored.")


@dataclass(frozen=True)
class Backend:
    settings: Settings | None
    model: Any
    problem: str | None

    @classmethod
    def load(cls, settings: Settings | None, problem: str | None = None) -> Backend:
        """Build the configured model; on failure keep the reason, in words, for the page."""
        if settings is None or problem:
            return cls(settings, None, problem)
        if settings.needs_key:
            return cls(settings, None, NEEDS_KEY)
        try:
            model = build_chat_model(settings)
        except Exception as error:  # a missing model file or package: say so on the page
            return cls(settings, None, readable_error(error, settings.openai_api_key))
        if hasattr(model, "warm_up"):  # start the local model's process in the background: the page opens at once
            model.warm_up()
        return cls(settings, model, None)

    @property
    def secret(self) -> str | None:
        return self.settings.openai_api_key if self.settings else None

    @property
    def takes_keys(self) -> bool:
        """Whether a visitor's own key means anything here (an OpenAI-compatible provider)."""
        return self.settings is not None and self.settings.provider == "openai"

    def model_for(self, api_key: Any = "") -> tuple[Any, str | None]:
        """(model, None) for this request, or (None, why not). A visitor's key wins over the app's."""
        if api_key is not None and not isinstance(api_key, str):
            return None, "The API key must be text."
        key = (api_key or "").strip()
        if key and self.takes_keys:
            # langchain-openai shares one HTTP connection pool per base URL, so this costs no new connections.
            return build_chat_model(replace(self.settings, openai_api_key=key)), None
        if self.model is not None:
            return self.model, None
        return None, self.problem or "No model is configured."
