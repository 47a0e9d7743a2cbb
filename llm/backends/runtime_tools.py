"""Tool calls and JSON Schema answers for the bundled model's process (`llm/backends/runtime_server.py`).

llama-cpp-python's server reads neither OpenAI's `tool_choice: "required"` (its PR #1613 was
closed unmerged) nor its `response_format: {"type": "json_schema"}`, and its
`chatml-function-calling` handler drops tool results from the prompt and, when the model chooses
to answer in words, constrains that answer to tool names (the answer comes back empty; see its
issue #1338). So the process does it here, with the GGUF's own chat
template and llama.cpp's grammars:

- the tools are described in the system message, and earlier calls and results are written into
  the chat as text the model can read (`functions.NAME:` then the arguments, as that handler does);
- the tool is chosen by a grammar that allows only `functions.NAME:` (or `message:`, when the
  model may answer in words), so the choice is the model's among what is allowed;
- the arguments are generated under a grammar made from the tool's JSON Schema, so they always
  parse and fit the schema: with a forced or required choice, the *grammar* guarantees the call,
  not a 135M model's judgement.

It runs in the model's process, which starts by file path with no `llm` package on its path, so
it imports nothing from this package.

    >>> openai_to_llama({"response_format": {"type": "json_schema", "json_schema": {"name": "J", "schema": {"type": "object"}}}})
    {'response_format': {'type': 'json_object', 'schema': {'type': 'object'}}}
    >>> tool_choice_of({"tools": [{"function": {"name": "f"}}]}), tool_choice_of({"tools": [], "tool_choice": "auto"})
    ('auto', None)
    >>> tool_choice_of({"messages": [{"role": "tool", "content": "84"}]})
    'none'
    >>> as_chat([{"role": "assistant", "content": None, "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": '{"x": 1}'}}]},
    ...          {"role": "tool", "tool_call_id": "1", "content": "2"}], [])
    [{'role': 'assistant', 'content': 'functions.f:\\n{"x": 1}'}, {'role': 'tool', 'content': '2'}]
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

MESSAGE = "message:"  # the choice to answer in words, as in llama-cpp-python's chatml-function-calling
SAMPLING = ("model", "temperature", "top_p", "top_k", "min_p", "typical_p", "seed", "repeat_penalty", "presence_penalty",
            "frequency_penalty", "max_tokens", "stop", "logit_bias")


def strict_json_strings() -> None:
    """Schema grammars write strings as JSON allows them: llama-cpp-python's `char` rule admits raw
    control characters (a newline inside a string), which no JSON parser accepts. llama.cpp's own
    converter excludes them (ggml-org/llama.cpp#5888), as the library's plain JSON grammar already
    does; its schema converter still does not in 0.3.36 (abetlen/llama-cpp-python#1259, #1721)."""
    from llama_cpp import llama_grammar

    rule = llama_grammar.PRIMITIVE_RULES["char"]
    content = rule.content.replace(r'[^"\\]', r'[^"\\\x7F\x00-\x1F]', 1)
    llama_grammar.PRIMITIVE_RULES["char"] = llama_grammar.BuiltinRule(content, rule.deps)


def openai_to_llama(sent: dict) -> dict:
    """The request as llama-cpp-python's server reads it: OpenAI's `json_schema` response format
    becomes `json_object` with that schema, which the server turns into a grammar; the content of
    a message that is not the user's is text (the server's request model refuses null, as an
    assistant's message that only calls tools has, and lists of parts)."""
    if isinstance(sent.get("messages"), list):
        sent = {**sent, "messages": [{**m, "content": _text(m.get("content"))} if isinstance(m, dict)
                                     and m.get("role") != "user" else m for m in sent["messages"]]}
    response_format = sent.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        sent = {**sent, "response_format": {"type": "json_object", "schema": schema}}
    return sent


def tool_choice_of(sent: dict) -> str | dict | None:
    """`auto`, `required` or a named tool when the request offers tools the model may call; `none`
    when it may not call one but the chat holds earlier calls or results (the GGUF's template would
    drop the calls); else None, a plain chat. As in OpenAI's API, tools without a `tool_choice`
    mean `auto`."""
    messages = sent.get("messages") if isinstance(sent.get("messages"), list) else []
    history = any(isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")) for m in messages)
    choice = (sent.get("tool_choice") or "auto") if sent.get("tools") else "none"
    return None if choice == "none" and not history else choice


def answer_with_tools(llama: Any, *, messages: list[dict], tools: list[dict] | None, tool_choice: str | dict,
                      stream: bool = False, **options: Any) -> Any:
    """An OpenAI chat completion (or its chunks, when streaming): one tool call, or words (always
    words with `tool_choice="none"`, where the tools are still described)."""
    sampling = {k: v for k, v in options.items() if k in SAMPLING and v is not None}
    sampling["max_tokens"] = options.get("max_tokens")  # None: up to the window, as in a chat (not 16, a completion's)
    tools = tools or [] if tool_choice != "none" else []  # none: the model sees the calls made, not the menu
    by_name = {tool["function"]["name"]: tool["function"] for tool in tools}
    prompt = render(llama, as_chat(messages, tools))
    if tool_choice == "none":
        name = None
    elif isinstance(tool_choice, dict):
        name = tool_choice["function"]["name"]
        if name not in by_name:
            raise ValueError(f"tool_choice names {name!r}, which is not among the tools")
    else:
        allowed = [f"functions.{n}:" for n in by_name] + ([MESSAGE] if tool_choice == "auto" else [])
        picked = allowed[0] if len(allowed) == 1 else _choose(llama, prompt, allowed, sampling.get("seed"))
        name = None if picked == MESSAGE else picked.removeprefix("functions.").removesuffix(":")
    if name is None:
        words = llama.create_completion(prompt=prompt + (MESSAGE + "\n" if tools else ""), stream=stream,
                                        **{**sampling, "stop": [*(sampling.get("stop") or []), "<|im_end|>"]})
        return _chat_words(words, stream)
    from llama_cpp.llama_grammar import LlamaGrammar

    schema = by_name[name].get("parameters") or {"type": "object", "properties": {}}
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    arguments = llama.create_completion(prompt=prompt + f"functions.{name}:\n", grammar=grammar, stream=stream,
                                        **{k: v for k, v in sampling.items() if k != "stop"})
    return _chat_call(name, arguments, stream)


def as_chat(messages: list[dict], tools: list[dict]) -> list[dict]:
    """Plain chat messages the GGUF's template renders: the tools described in the system message,
    earlier calls as `functions.NAME:` lines, results as they are, in the tool's turn (SmolLM2 read
    'functions.calculator returned: 84' as code to explain, and '84' as the answer to give)."""
    chat = []
    for message in messages:
        role, content = message.get("role"), _text(message.get("content"))
        if role == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                calls.append(f"functions.{function.get('name')}:\n{function.get('arguments') or '{}'}")
            content = "\n".join([content, *calls] if content else calls)
        chat.append({"role": role, "content": content})
    if tools:
        described = _describe(tools)
        if chat and chat[0]["role"] == "system":
            chat[0] = {"role": "system", "content": f"{chat[0]['content']}\n\n{described}"}
        else:
            chat.insert(0, {"role": "system", "content": described})
    return chat


def render(llama: Any, messages: list[dict]) -> str:
    """The prompt by the GGUF's own chat template, ready for the assistant's turn."""
    return gguf_formatter(llama, add_generation_prompt=True)(messages=messages).prompt


def gguf_formatter(llama: Any, formatter: Any = None, *, add_generation_prompt: bool) -> Any:
    """A llama-cpp-python chat formatter (Jinja2ChatFormatter, or a subclass) for the GGUF's template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos, bos = llama.token_eos(), llama.token_bos()
    text = llama._model.token_get_text
    return (formatter or Jinja2ChatFormatter)(
        template=llama.metadata["tokenizer.chat_template"], eos_token=text(eos) if eos != -1 else "",
        bos_token=text(bos) if bos != -1 else "", add_generation_prompt=add_generation_prompt, stop_token_ids=[eos])


def _describe(tools: list[dict]) -> str:
    lines = ["You can call these functions:"]
    for tool in tools:
        function = tool["function"]
        lines.append(f"\nfunctions.{function['name']}: {function.get('description') or ''}".rstrip())
        lines.append(json.dumps(function.get("parameters") or {}))
    lines.append("\nTo call one, answer with `functions.<name>:` and a line of JSON arguments. "
                 "To answer in words, begin with `message:`.")
    return "\n".join(lines)


def _text(content: Any) -> str:
    """A message's content as text (OpenAI's lists of parts keep their text parts)."""
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return content or ""


def _choose(llama: Any, prompt: str, allowed: list[str], seed: int | None) -> str:
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar = LlamaGrammar.from_string("root ::= " + " | ".join(json.dumps(a) for a in allowed), verbose=False)
    chosen = llama.create_completion(prompt=prompt, grammar=grammar, temperature=0, max_tokens=32, seed=seed)
    text = chosen["choices"][0]["text"]
    return next((a for a in allowed if text.startswith(a)), allowed[0])


def _chat_call(name: str, arguments: Any, stream: bool) -> Any:
    """A completion of a call's arguments as OpenAI sends a tool call: the name and id once, in the
    first chunk, then the arguments in pieces (LangChain joins the pieces' strings, names too)."""
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    if not stream:
        head = _head(arguments)
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments["choices"][0]["text"]}}]}
        return {**head, "object": "chat.completion", "usage": arguments.get("usage"),
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}]}
    return _streamed_call(name, call_id, arguments)


def _streamed_call(name: str, call_id: str, pieces: Iterator[dict]) -> Iterator[dict]:
    head = None
    for piece in pieces:
        if head is None:
            head = _head(piece)
            yield _chunk(head, {"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]})
        text = piece["choices"][0]["text"]
        if text:
            yield _chunk(head, {"tool_calls": [{"index": 0, "function": {"arguments": text}}]})
    if head is not None:
        yield _chunk(head, {}, finish_reason="tool_calls")


def _chat_words(completion: Any, stream: bool) -> Any:
    if not stream:
        choice = completion["choices"][0]
        return {**_head(completion), "object": "chat.completion", "usage": completion.get("usage"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": choice["text"]},
                             "logprobs": None, "finish_reason": choice.get("finish_reason") or "stop"}]}
    return _streamed_words(completion)


def _streamed_words(pieces: Iterator[dict]) -> Iterator[dict]:
    head = None
    for piece in pieces:
        if head is None:
            head = _head(piece)
            yield _chunk(head, {"role": "assistant", "content": ""})
        choice = piece["choices"][0]
        if choice["text"]:
            yield _chunk(head, {"content": choice["text"]})
        if choice.get("finish_reason"):
            yield _chunk(head, {}, finish_reason=choice["finish_reason"])


def _head(completion: dict) -> dict:
    return {"id": "chat" + str(completion.get("id", "")), "created": completion.get("created", int(time.time())),
            "model": completion.get("model", "")}


def _chunk(head: dict, delta: dict, finish_reason: str | None = None) -> dict:
    return {**head, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
