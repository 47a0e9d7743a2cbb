"""LangChain's own standard tests for chat models, on the bundled model as a user builds it:
`ChatLocalModel()`, with no key and no server started by hand.

Run as LangChain's integration packages run them: the unit suite (construction, parameters,
serialisation, binding tools) and the integration suite (invoke, batch, stream and their async
twins, usage, stop sequences, tool calls and structured output), with the default capability
flags. The few tests a 135M model truly cannot pass are xfailed here with their reason, and the
README lists them ("The bundled model in LangChain").
"""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from llm.backends.local import ChatLocalModel

pytestmark = pytest.mark.slow


class TestChatLocalModelUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatLocalModel]:
        return ChatLocalModel


@pytest.mark.local_model
class TestChatLocalModelIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatLocalModel]:
        return ChatLocalModel
