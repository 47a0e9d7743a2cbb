"""The app's chat model, or a sentence saying why there is none, and a model for a key a
visitor brings (used for that request only, never stored).

Loading a backend builds the model object only: nothing starts and nothing connects until
`start()`, which the app calls when it launches (and again, harmlessly, when a page opens).

    >>> from llm.backends.config import Settings
    >>> backend = Backend.load(Settings.from_env({"LLM_PROVIDER": "openai"}, dotenv=False))
    >>> backend.model is None, backend.model_for("")[1].startswith("This app has no OpenAI API key")
    (True, True)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from llm.backends.config import Settings
from llm.backends.models import available_models, build_chat_model
from llm.errors import readable_error

NEEDS_KEY = ("This app has no OpenAI API key of its own (its owner can set OPENAI_API_KEY): enter yours under "
             "Settings → Your API key. "
             "It is used for your messages only and never stored.")


@dataclass
class Backend:
    settings: Settings | None
    model: Any
    problem: str | None
    listed_models: list[str] | None = None  # the server's models, the configured one first, once started
    _started: threading.Event = field(default_factory=threading.Event, repr=False)
    _starting: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
            return cls(settings, None, readable_error(error, settings.api_key))
        return cls(settings, model, None)

    def start(self) -> None:
        """Start the local model's process in the background (the page does not wait for it) and
        read the server's list of models (at most a few seconds). Once per backend; blocking, so
        from an event loop call it in a thread."""
        with self._starting:
            if self._started.is_set():
                return
            if hasattr(self.model, "warm_up"):
                self.model.warm_up()
            if self.model is not None and self.settings is not None:
                self.listed_models = available_models(self.settings)
            self._started.set()

    @property
    def started(self) -> bool:
        return self._started.is_set()

    @property
    def configured_model(self) -> str:
        """The model the settings name (what the model picker starts at)."""
        name = getattr(self.model, "model_name", None)
        return name or (self.settings.openai_model if self.takes_keys and self.settings else "")

    @property
    def secret(self) -> str | None:
        return self.settings.api_key if self.settings else None

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
            return build_chat_model(self.settings.with_key(key)), None
        if self.model is not None:
            return self.model, None
        return None, self.problem or "No model is configured."
