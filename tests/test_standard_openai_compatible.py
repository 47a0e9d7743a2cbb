"""LangChain's standard unit tests for chat models, on the app's model for OpenAI-compatible servers
(`ChatOpenAICompatible`: ChatOpenAI that keeps a server's streamed thinking), pointed at the
scripted server as the app points it at any server."""

from __future__ import annotations

from langchain_tests.unit_tests import ChatModelUnitTests

from llm.stream.thinking import ChatOpenAICompatible


class TestChatOpenAICompatibleUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatOpenAICompatible]:
        return ChatOpenAICompatible

    @property
    def chat_model_params(self) -> dict:
        return {"model": "fake-model", "api_key": "test-key", "base_url": "http://127.0.0.1:9/v1"}

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        return {"OPENAI_API_KEY": "env-key"}, {"model": "fake-model"}, {"openai_api_key": "env-key"}
