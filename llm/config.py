"""Settings read from the environment and an optional `.env` file.

Every variable is documented in `.env.example`. Nothing here talks to a model.

    >>> s = Settings.from_env({"OPENAI_API_KEY": "sk-test"}, dotenv=False)
    >>> s.provider, s.openai_model
    ('openai', 'gpt-4.1-mini')
    >>> "sk-test" in repr(s)
    False
    >>> Settings.from_env({"APP_AUTH": "ann:pa:ss,bob:pw"}, dotenv=False).app_auth
    (('ann', 'pa:ss'), ('bob', 'pw'))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from dotenv import find_dotenv, load_dotenv

from .inert import inert_code

Provider = Literal["openai", "local"]

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and concisely."


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    provider: Provider = "local"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = DEFAULT_OPENAI_MODEL
    local_model_path: str | None = None
    local_n_ctx: int = 2048
    local_n_threads: int | None = None
    local_repeat_penalty: float = 1.1
    local_seed: int = -1
    temperature: float | None = None
    max_tokens: int | None = None
    request_timeout: float = 60.0
    max_retries: int = 2
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    concurrency_limit: int = 200
    # Limits for a shared app (see README, "Security and limits"); None: no limit.
    max_message_chars: int = 20_000
    max_history_chars: int = 200_000
    messages_per_minute: int | None = None
    max_output_tokens: int | None = None
    queue_max_size: int | None = None
    app_auth: tuple[tuple[str, str], ...] = ()
    enable_monitoring: bool = False
    max_sessions: int = 5_000

    def __repr__(self) -> str:
        secret = {"openai_api_key", "app_auth"}
        shown = {f: getattr(self, f) for f in self.__dataclass_fields__ if f not in secret}
        if self.openai_base_url:
            shown["openai_base_url"] = public_url(self.openai_base_url)
        shown["openai_api_key"] = "***" if self.openai_api_key else None
        shown["app_auth"] = f"<{len(self.app_auth)} logins>" if self.app_auth else None
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @property
    def default_temperature(self) -> float:
        """What the UI slider starts at: the setting, else what suits the provider."""
        if self.temperature is not None:
            return self.temperature
        return 0.7

    @property
    def default_max_tokens(self) -> int:
        if self.max_tokens is not None:
            return self.max_tokens
        # A 135M model rambles and repeats itself well before 1024 tokens.
        return 256 if self.provider == "local" else 1024

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv: bool = True
    ) -> Settings:
        """Read settings from `environ` (default: `os.environ`, after loading `.env`).

        `.env` is looked for in the working directory (a notebook's folder), then
        in the project folder. Variables already set in the environment win.
        """
        if environ is None:
            if dotenv:
                load_dotenv(find_dotenv(usecwd=True), override=False)
                load_dotenv(Path(__file__).resolve().parents[1] / ".env", override=False)
            environ = os.environ
        env = {k: v.strip() for k, v in environ.items() if v is not None and v.strip()}

        key = env.get("OPENAI_API_KEY")
        base_url = env.get("OPENAI_BASE_URL")
        provider = env.get("LLM_PROVIDER", "").lower() or (
            "openai" if key or base_url else "local"
        )
        if provider not in ("openai", "local"):
            raise ConfigError(
                f"LLM_PROVIDER must be 'openai' or 'local', not {provider!r}"
            )
        return cls(
            provider=provider,  # type: ignore[arg-type]
            openai_api_key=key,
            openai_base_url=base_url,
            openai_model=env.get("OPENAI_MODEL", DEFAULT_OPENAI_MODEL),
            local_model_path=env.get("LOCAL_MODEL_PATH"),
            local_n_ctx=_number(env, "LOCAL_N_CTX", int, 2048),
            local_n_threads=_number(env, "LOCAL_N_THREADS", int, None),
            local_repeat_penalty=_number(env, "LOCAL_REPEAT_PENALTY", float, 1.1),
            local_seed=_number(env, "LOCAL_SEED", int, -1),
            temperature=_number(env, "LLM_TEMPERATURE", float, None),
            max_tokens=_number(env, "LLM_MAX_TOKENS", int, None),
            request_timeout=_number(env, "LLM_TIMEOUT", float, 60.0),
            max_retries=_number(env, "LLM_MAX_RETRIES", int, 2),
            system_prompt=env.get("SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT),
            concurrency_limit=_number(env, "CONCURRENCY_LIMIT", int, 200),
            max_message_chars=_positive(env, "MAX_MESSAGE_CHARS", 20_000),
            max_history_chars=_positive(env, "MAX_HISTORY_CHARS", 200_000),
            messages_per_minute=_positive(env, "MAX_MESSAGES_PER_MINUTE", None),
            max_output_tokens=_positive(env, "MAX_OUTPUT_TOKENS", None),
            queue_max_size=_positive(env, "QUEUE_MAX_SIZE", None),
            app_auth=_logins(env.get("APP_AUTH", "")),
            enable_monitoring=env.get("ENABLE_MONITORING", "").lower() in ("1", "true", "yes"),
            max_sessions=_positive(env, "MAX_SESSIONS", 5_000),
        )

    def describe(self) -> str:
        """One line for the page: which backend and model. Never contains a secret."""
        if self.provider == "local":
            return f"local model {inert_code(self.local_model_name)} (llama.cpp on this machine's CPU)"
        where = public_url(self.openai_base_url) if self.openai_base_url else "api.openai.com"
        return f"OpenAI-compatible API at {inert_code(where)}, model {inert_code(self.openai_model)}"

    @property
    def local_model_name(self) -> str:
        return os.path.basename(self.local_model_path or "SmolLM2-135M-Instruct.Q4_1.gguf")

    @property
    def needs_key(self) -> bool:
        """True when talking to api.openai.com without a key: every request would fail."""
        return self.provider == "openai" and not self.openai_api_key and not self.openai_base_url


def public_url(url: str) -> str:
    """`url` without user:password or query string (either can carry a key), safe to show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _positive(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    value = _number(env, name, int, default)
    if value is not None and value < 1:
        raise ConfigError(f"{name} must be at least 1 (leave it empty for no limit), not {value}")
    return value


def _logins(raw: str) -> tuple[tuple[str, str], ...]:
    """`user:pass[,user2:pass2]` as Gradio's `auth` takes it. A password may contain ':'."""
    logins = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        user, colon, password = item.partition(":")
        if not (user and colon and password):
            raise ConfigError("APP_AUTH must be user:password pairs separated by commas")  # never echo a password
        logins.append((user, password))
    return tuple(logins)


def _number(env: Mapping[str, str], name: str, kind: type, default):
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, not {raw!r}") from None
