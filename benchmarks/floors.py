"""The two reference apps the benchmark measures this app against.

- **Gradio floor**: a bare `gr.ChatInterface` whose function yields the same growing text at
  the same pace, with no model and no HTTP: the least any Gradio streaming chat costs.
- **LangChain floor**: a bare async `gr.ChatInterface` over `ChatOpenAI.astream`, yielding the
  running text, with no concurrency limit: the least any Gradio + LangChain streaming chat costs.
- **Model floor**: a bare async `gr.ChatInterface` reading the model server's Server-Sent Events with
  httpx itself, a yield per token: the least any Gradio chat that asks a model does. The Gradio floor
  has no model to wait for, so this one's first token says what asking the model adds to it.

    python -m benchmarks.floors langchain --port 7870 --base-url http://127.0.0.1:8001/v1
"""

from __future__ import annotations

import argparse
import asyncio
import json

import gradio as gr
import httpx

from tests.openai_server import numbered_tokens


def gradio_floor(tokens: int, rate: float) -> gr.ChatInterface:
    async def chat(message: str, history: list):
        text = ""
        for token in numbered_tokens(tokens):
            await asyncio.sleep(1 / rate if rate else 0)
            text += token
            yield text

    return gr.ChatInterface(chat, api_name="chat", concurrency_limit=None, analytics_enabled=False)


def langchain_floor(base_url: str) -> gr.ChatInterface:
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(base_url=base_url, api_key="benchmark", model="fake")

    async def chat(message: str, history: list):
        text = ""
        async for chunk in model.astream(message):
            text += chunk.text
            yield text

    return gr.ChatInterface(chat, api_name="chat", concurrency_limit=None, analytics_enabled=False)


def model_floor(base_url: str) -> gr.ChatInterface:
    client: list[httpx.AsyncClient] = []  # made in the server's event loop, at the first answer

    async def chat(message: str, history: list):
        if not client:
            client.append(httpx.AsyncClient(timeout=60))
        body = {"model": "fake", "messages": [{"role": "user", "content": message}], "stream": True}
        text = ""
        async with client[0].stream("POST", base_url + "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    choices = json.loads(line[6:]).get("choices") or [{}]
                    if piece := (choices[0].get("delta") or {}).get("content"):
                        text += piece
                        yield text

    return gr.ChatInterface(chat, api_name="chat", concurrency_limit=None, analytics_enabled=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["gradio", "langchain", "model"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--base-url", default="", help="the scripted server (LangChain floor)")
    parser.add_argument("--tokens", type=int, default=100, help="what the Gradio floor yields")
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    demo = {"gradio": lambda: gradio_floor(args.tokens, args.rate), "langchain": lambda: langchain_floor(args.base_url),
            "model": lambda: model_floor(args.base_url)}[args.kind]()
    demo.queue().launch(server_name="127.0.0.1", server_port=args.port, quiet=True)


if __name__ == "__main__":
    main()
