"""Build the chat model the settings ask for. The only place that knows the backends.

    >>> from llm.config import Settings
    >>> model = build_chat_model(Settings(provider="openai", openai_base_url="http://127.0.0.1:9/v1"))
    >>> type(model).__name__
    'ChatOpenAI'
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from .config import Settings

# ChatOpenAI refuses to start without a key; OpenAI-compatible local servers
# (Ollama, vLLM, llama.cpp, LM Studio) ignore it, so a placeholder is enough.
PLACEHOLDER_KEY = "not-needed"


def build_chat_model(settings: Settings) -> BaseChatModel:
    if settings.provider == "local":
        from .local import local_chat_model

        return local_chat_model(settings)
    return _openai(settings)


def max_concurrency(settings: Settings) -> int:
    """How many answers may stream at once: one llama.cpp context serves one at a time."""
    return 1 if settings.provider == "local" else max(1, settings.concurrency_limit)


def _openai(settings: Settings) -> BaseChatModel:
    import openai
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.openai_model,
        api_key=settings.openai_api_key or PLACEHOLDER_KEY,
        base_url=settings.openai_base_url,
        temperature=settings.default_temperature,
        max_tokens=settings.default_max_tokens,
        # A Timeout object (unhashable) makes langchain-openai give this model its own
        # HTTP client instead of a process-wide cached one, whose pooled connections
        # would belong to whichever event loop used them first.
        timeout=openai.Timeout(settings.request_timeout),
        max_retries=settings.max_retries,
        stream_usage=True,
    )
