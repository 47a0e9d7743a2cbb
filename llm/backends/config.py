"""Settings read from the environment and an optional `.env` file, with pydantic-settings.

Every variable is documented in `.env.example`; a field reads the variable of its own name
(`openai_model` ← `OPENAI_MODEL`) unless it names another (`temperature` ← `LLM_TEMPERATURE`).
Keys and passwords are `SecretStr`s: never in a repr, a log line or the page. Nothing here talks
to a model.

    >>> s = Settings.from_env({"OPENAI_API_KEY": "sk-test"}, dotenv=False)
    >>> s.provider, s.openai_model, s.api_key
    ('openai', 'gpt-4.1-mini', 'sk-test')
    >>> "sk-test" in repr(s)
    False
    >>> [(user, password.get_secret_value())
    ...  for user, password in Settings.from_env({"APP_AUTH": "ann:pa:ss,bob:pw"}, dotenv=False).app_auth]
    [('ann', 'pa:ss'), ('bob', 'pw')]
    >>> Settings.from_env({"MAX_SESSIONS": "0"}, dotenv=False)
    Traceback (most recent call last):
    ...
    llm.backends.config.ConfigError: MAX_SESSIONS must be at least 1, not '0'
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from dotenv import find_dotenv, load_dotenv
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from llm.inert import inert_code

Provider = Literal["openai", "local"]

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and concisely."
SECRET_VARIABLES = {"OPENAI_API_KEY", "APP_AUTH"}  # a wrong value of these is never echoed


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _read(name: str, default: Any = None, **constraints: Any) -> Any:
    """A field read from the variable `name` (case-insensitive) instead of the field's own name."""
    return Field(default, validation_alias=name.lower(), **constraints)


def _at_least_one(default: int | None) -> Any:
    return Field(default, ge=1)


DEFAULT_PARALLEL = 8  # docs/benchmarks.md, "A crowd on the offline model"


class Settings(BaseSettings):
    """The app's settings. `Settings()` reads the environment; `Settings.from_env()` first loads `.env`."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", validate_by_name=True, validate_by_alias=True,
                                      env_ignore_empty=True)

    provider: Provider = _read("LLM_PROVIDER", "local")  # default: openai with a key or a base URL, else local
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(None, repr=False)  # may hold user:password; `describe` shows it safely
    openai_model: str = DEFAULT_OPENAI_MODEL
    openai_continue_final_message: bool = False  # the server takes vLLM's continue_final_message
    local_model_path: str | None = None
    local_n_ctx: int = Field(2048, ge=16)
    local_n_threads: int | None = Field(None, ge=1)
    local_parallel: int = Field(DEFAULT_PARALLEL, ge=1, le=64)  # answers the model decodes at once
    local_repeat_penalty: float = 1.1
    local_seed: int = -1
    temperature: float | None = _read("LLM_TEMPERATURE")
    max_tokens: int | None = _read("LLM_MAX_TOKENS", None, ge=1)
    request_timeout: float = _read("LLM_TIMEOUT", 60.0, gt=0)
    max_retries: int = _read("LLM_MAX_RETRIES", 2, ge=0)
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    concurrency_limit: int = _at_least_one(200)
    # Limits for a shared app (see docs/security.md); None: no limit.
    max_message_chars: int = _at_least_one(20_000)
    max_history_chars: int = _at_least_one(200_000)
    messages_per_minute: int | None = _read("MAX_MESSAGES_PER_MINUTE", None, ge=1)
    max_output_tokens: int | None = _at_least_one(None)
    queue_max_size: int | None = _at_least_one(None)
    app_auth: Annotated[tuple[tuple[str, SecretStr], ...], NoDecode] = ()  # user:pass[,user2:pass2]
    enable_monitoring: bool = False
    max_sessions: int = _at_least_one(5_000)

    @model_validator(mode="before")
    @classmethod
    def _unset_blanks_and_guess_provider(cls, data: Any) -> Any:
        """A blank value counts as unset; with no LLM_PROVIDER, a key or a base URL means openai."""
        if not isinstance(data, dict):
            return data
        data = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()
                if not (isinstance(v, str) and not v.strip())}
        given = data.get("provider", data.get("llm_provider"))
        if given is None:
            data["provider"] = "openai" if data.get("openai_api_key") or data.get("openai_base_url") else "local"
        elif isinstance(given, str):
            data.pop("llm_provider", None)
            data["provider"] = given.lower()
        return data

    @field_validator("app_auth", mode="before")
    @classmethod
    def _logins(cls, value: Any) -> Any:
        """`user:pass[,user2:pass2]` as Gradio's `auth` takes it. A password may contain ':'."""
        if not isinstance(value, str):
            return value
        logins = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            user, colon, password = item.partition(":")
            if not (user and colon and password):
                raise ValueError("must be user:password pairs separated by commas")
            logins.append((user, password))
        return tuple(logins)

    @field_validator("enable_monitoring", "openai_continue_final_message", mode="before")
    @classmethod
    def _yes(cls, value: Any) -> Any:
        return value.lower() in ("1", "true", "yes") if isinstance(value, str) else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        """Read settings from `environ` (default: `os.environ`, after loading `.env`).

        `.env` is looked for in the working directory (a notebook's folder) and up, then in the
        project folder; it is loaded into the environment, where Gradio reads its own GRADIO_*
        variables too. Variables already set in the environment win.
        """
        if environ is None and dotenv:
            load_dotenv(find_dotenv(usecwd=True), override=False)
            load_dotenv(Path(__file__).resolve().parents[1] / ".env", override=False)
        try:
            with _reading(os.environ if environ is None else environ):
                return cls()
        except ValidationError as error:
            raise ConfigError(_sentence(error)) from None

    @classmethod
    def defaults(cls) -> Settings:
        """Every setting at its default, whatever the environment says."""
        return cls.from_env({}, dotenv=False)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   **_: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments first, then the environment `from_env` was given. `.env` is already in it.
        return init_settings, _Environ(settings_cls)

    @property
    def api_key(self) -> str | None:
        """The app's own key, as text: for the HTTP client only."""
        return self.openai_api_key.get_secret_value() if self.openai_api_key else None

    def with_key(self, key: str) -> Settings:
        """These settings with a visitor's key instead of the app's."""
        return self.model_copy(update={"openai_api_key": SecretStr(key)})

    @property
    def default_temperature(self) -> float:
        """What the UI slider starts at: the setting, else what suits the provider."""
        return self.temperature if self.temperature is not None else 0.7

    @property
    def default_max_tokens(self) -> int:
        if self.max_tokens is not None:
            return self.max_tokens
        # A 135M model rambles and repeats itself well before 1024 tokens.
        return 256 if self.provider == "local" else 1024

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


_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("environ", default=None)


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


class _Environ(EnvSettingsSource):
    """pydantic-settings' environment source over the mapping `from_env` was given (a test's dict,
    or `os.environ`): the library reads only `os.environ` itself."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        return parse_env_vars(os.environ if environ is None else environ, self.case_sensitive,
                              self.env_ignore_empty, self.env_parse_none_str)


_FRIENDLY = {"greater_than_equal": "must be at least {ge}", "greater_than": "must be more than {gt}",
             "int_parsing": "must be a whole number", "float_parsing": "must be a number",
             "bool_parsing": "must be true or false", "literal_error": "must be {expected}"}


def _sentence(error: ValidationError) -> str:
    """The first problem, naming the variable, e.g. "LLM_MAX_TOKENS must be a whole number, not 'lots'"."""
    problem = error.errors(include_url=False)[0]
    field = str(problem["loc"][0]) if problem["loc"] else ""
    info = Settings.model_fields.get(field)
    variable = str((info.validation_alias if info and info.validation_alias else None) or field).upper()
    if variable == "PROVIDER":
        variable = "LLM_PROVIDER"
    ctx = problem.get("ctx") or {}
    what = _FRIENDLY.get(problem["type"], problem["msg"].removeprefix("Value error, ")).format(**ctx)
    if info is not None and info.default is None and problem["type"] == "greater_than_equal":
        what += " (leave it empty for no limit)"
    if variable in SECRET_VARIABLES:
        return f"{variable} {what}"
    return f"{variable} {what}, not {problem['input']!r}"


def public_url(url: str) -> str:
    """`url` without user:password or query string (either can carry a key), safe to show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
