"""Streaming core: settings, model choice, the one accumulator, chunk records, `LLM`.

No Gradio in here: the page (`app.py`) is one consumer among others.
"""

from .backends.config import ConfigError, Settings
from .backends.models import build_chat_model, max_concurrency
from .errors import readable_error, redact
from .notebook import LLM
from .stream.accumulator import Accumulator, Phase, aaccumulate, accumulate, shows_text
from .stream.messages import to_messages
from .stream.records import ChunkRecord, StreamStats

__all__ = [
    "LLM",
    "Phase",
    "Accumulator",
    "ChunkRecord",
    "ConfigError",
    "Settings",
    "StreamStats",
    "aaccumulate",
    "accumulate",
    "shows_text",
    "build_chat_model",
    "max_concurrency",
    "readable_error",
    "redact",
    "to_messages",
]
