"""Settings, provider choice, and keeping secrets out of what is shown."""

import pytest

from llm import ConfigError, Settings, readable_error, redact
from llm.backends.config import public_url


def test_no_key_and_no_base_url_means_the_local_model():
    assert Settings.from_env({}, dotenv=False).provider == "local"


@pytest.mark.parametrize(
    "env",
    [{"OPENAI_API_KEY": "sk-abc"}, {"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}],
)
def test_a_key_or_a_base_url_means_openai(env):
    assert Settings.from_env(env, dotenv=False).provider == "openai"


def test_llm_provider_wins_over_the_guess():
    env = {"OPENAI_API_KEY": "sk-abc", "LLM_PROVIDER": "local"}
    assert Settings.from_env(env, dotenv=False).provider == "local"
    assert Settings.from_env({"LLM_PROVIDER": "OpenAI"}, dotenv=False).needs_key


def test_blank_values_count_as_unset():
    settings = Settings.from_env({"OPENAI_API_KEY": "  ", "OPENAI_MODEL": ""}, dotenv=False)
    assert settings.provider == "local"
    assert settings.openai_model == "gpt-4.1-mini"


def test_bad_values_name_the_variable():
    with pytest.raises(ConfigError, match="LLM_PROVIDER"):
        Settings.from_env({"LLM_PROVIDER": "anthropic"}, dotenv=False)
    with pytest.raises(ConfigError, match="LLM_MAX_TOKENS"):
        Settings.from_env({"LLM_MAX_TOKENS": "lots"}, dotenv=False)


def test_numbers_are_read():
    env = {"LLM_TEMPERATURE": "0.2", "LLM_MAX_TOKENS": "99", "LLM_TIMEOUT": "7", "LLM_MAX_RETRIES": "0"}
    s = Settings.from_env(env, dotenv=False)
    assert (s.default_temperature, s.default_max_tokens, s.request_timeout, s.max_retries) == (0.2, 99, 7.0, 0)


def test_defaults_suit_the_provider():
    assert Settings(provider="local").default_max_tokens == 256
    assert Settings(provider="openai").default_max_tokens == 1024


def test_dotenv_file_is_read_but_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("OPENAI_MODEL=from-dotenv\nLLM_MAX_TOKENS=77\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    monkeypatch.delenv("LLM_MAX_TOKENS", raising=False)
    monkeypatch.setenv("LLM_MAX_TOKENS", "55")
    s = Settings.from_env()
    assert s.openai_model == "from-dotenv"
    assert s.max_tokens == 55


def test_the_key_never_shows_in_repr_or_description():
    s = Settings.from_env(
        {"OPENAI_API_KEY": "sk-secret-123456789", "OPENAI_BASE_URL": "http://user:pw-secret@10.1.2.3:8000/v1"},
        dotenv=False,
    )
    shown = repr(s) + s.describe()
    assert "sk-secret" not in shown
    assert "pw-secret" not in shown
    assert "10.1.2.3:8000/v1" in shown


def test_public_url_strips_only_credentials():
    assert public_url("https://a:b@host:1/v1?key=secret") == "https://host:1/v1"
    assert public_url("http://127.0.0.1:11434/v1") == "http://127.0.0.1:11434/v1"


def test_errors_are_readable_and_redacted():
    class FakeStatusError(Exception):
        status_code = 401

    text = readable_error(FakeStatusError("Incorrect API key provided: sk-proj-FAKEFAKE1"), "my-own-secret")
    assert text.startswith("The server refused the API key (401)")
    assert "FAKEFAKE1" not in text
    assert redact("token my-own-secret here", "my-own-secret") == "token [redacted] here"


def test_transport_errors_read_as_a_broken_connection_or_a_timeout():
    import httpx

    broken = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    assert readable_error(broken) == (
        "The connection to the model broke. peer closed connection without sending complete message body"
    )
    assert readable_error(httpx.ReadTimeout("timed out")).startswith("The model stopped sending for too long")
