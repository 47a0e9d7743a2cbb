"""Build the chat model the settings ask for. The only place that knows the backends.

    >>> from llm.backends.config import Settings
    >>> model = build_chat_model(Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, dotenv=False))
    >>> type(model).__name__  # ChatOpenAI that keeps a reasoning model's thinking (llm/stream/thinking.py)
    'ChatOpenAICompatible'
"""

from __future__ import annotations

import logging

from langchain_core.language_models import BaseChatModel

from llm.backends.config import Settings
from llm.errors import readable_error

log = logging.getLogger(__name__)

# ChatOpenAI refuses to start without a key; OpenAI-compatible local servers
# (Ollama, vLLM, llama.cpp, LM Studio) ignore it, so a placeholder is enough.
PLACEHOLDER_KEY = "not-needed"


def build_chat_model(settings: Settings) -> BaseChatModel:
    if settings.provider == "local":
        from llm.backends.local import local_chat_model

        return local_chat_model(settings)
    return _openai(settings)


def available_models(settings: Settings, timeout: float = 5.0) -> list[str] | None:
    """The server's models from `/v1/models`, the configured one first; None for the local model,
    or when the server does not list them (many proxies do not)."""
    if settings.provider == "local":
        return None
    import openai

    client = openai.OpenAI(api_key=settings.api_key or PLACEHOLDER_KEY, base_url=settings.openai_base_url,
                           timeout=timeout, max_retries=0)
    try:
        listed = sorted(model.id for model in client.models.list())
    except Exception as error:  # the chat still works: the page offers a text box instead
        log.warning("could not list the server's models: %s", readable_error(error, settings.api_key))
        return None
    finally:
        client.close()
    return [settings.openai_model, *(name for name in listed if name != settings.openai_model)]


def max_concurrency(settings: Settings) -> int:
    """How many answers may stream at once: the local model decodes `local_parallel` together, and the
    rest wait in Gradio's queue, which shows each visitor their place in line."""
    return settings.local_parallel if settings.provider == "local" else max(1, settings.concurrency_limit)


def _openai(settings: Settings) -> BaseChatModel:
    import openai

    from llm.guards.bounded_http import bounded_async_client
    from llm.stream.thinking import ChatOpenAICompatible

    return ChatOpenAICompatible(
        model=settings.openai_model,
        api_key=settings.api_key or PLACEHOLDER_KEY,
        base_url=settings.openai_base_url,
        temperature=settings.default_temperature,
        max_tokens=settings.default_max_tokens,
        # A Timeout object (unhashable) makes langchain-openai give this model its own
        # HTTP client instead of a process-wide cached one, whose pooled connections
        # would belong to whichever event loop used them first.
        timeout=openai.Timeout(settings.request_timeout),
        # Streams are read through a line limit (a server's 6 MB line cost 300 MB to parse).
        http_async_client=bounded_async_client(settings.request_timeout, max_concurrency(settings)),
        max_retries=settings.max_retries,
        stream_usage=True,
        continues_final_message=settings.openai_continue_final_message,
    )
