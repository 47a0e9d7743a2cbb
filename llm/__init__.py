"""Streaming core, no Gradio: the page (`app.py`) is one consumer among others.

The public API is here (`LLM`, `Accumulator`, `Settings`, ...); the rest is in four subpackages, layers
from the bottom up: `stream` (the Accumulator, records, pacing, the Debug report, chunk logs), `guards`
(what a shared app refuses), `backends` (settings, the chat model, the bundled model's process) and
`lessons` (JSON, chains, tool calls, branching). `inert` and `errors` are leaves they all use.
See docs/architecture.md.
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
