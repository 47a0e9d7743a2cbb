# %% [markdown]
# # Streaming, with this app's `llm` package
#
# The how-to this app comes from, cell by cell. Every LangChain chat model has `stream` and its
# async twin `astream`; they yield `AIMessageChunk`s as the model writes, and chunks are additive:
# the sum of the first *n* is the answer so far. Streaming through a program works only if every
# step can take its input a piece at a time, which is what makes streaming JSON hard: the object
# must be shown before the JSON is complete.
#
# Open it as a notebook (Jupyter and VS Code read the `# %%` cells), or run it:
# `cd notebooks && python streaming.py`. With no key it runs offline on the bundled SmolLM2 model;
# with `OPENAI_API_KEY` or `OPENAI_BASE_URL` set (or in `.env`) it asks that server.

# %%
import asyncio
import os
import sys

sys.path.append(os.path.dirname(os.getcwd()))  # the project folder, as the how-to adds it
sys.path.append("..")

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessageChunk

from llm import LLM
from llm.backends.local import ChatLocalModel
from llm.lessons.agent_run import build_agent, describe_event
from llm.lessons.pipeline_run import PipelineRun
from llm.lessons.pipelines import preset_chain
from llm.lessons.tools import TOOLS

# %% [markdown]
# `stream` prints the tokens as they arrive and returns the whole text and the chunks.

# %%
model = LLM()
question = "who's elon musk?"
r: tuple[str, list[AIMessageChunk]] = model.stream(question, max_tokens=48)

# %%
print(type(r), len(r[1]), "chunks")
print(r[1][:4])

# %% [markdown]
# Message chunks are additive by design: add them up to get the state of the response so far.

# %%
result = r[1][0] + r[1][1] + r[1][2] + r[1][3]
print(result)
so_far = sum(r[1][1:], r[1][0])
assert so_far.text == r[0]  # all of them: the whole answer
print("the chunks add up to the answer:", so_far.text == r[0])

# %% [markdown]
# Each chunk's timing is kept beside it.

# %%
for record in model.records[:5]:
    print(f"#{record.index} at {record.ms_since_start:7.1f} ms (+{record.ms_since_previous:6.1f}): {record.text!r}")

# %% [markdown]
# `astream` is the async twin (in a notebook, `await model.astream(...)` directly).

# %%
# As a script, one event loop serves every cell, as Jupyter's does: langchain-openai shares one HTTP
# client per server, bound to the first loop that used it, so a second `asyncio.run` would fail with
# "Event loop is closed" (langchain-ai/langchain#35783).
loop = asyncio.Runner()
text, chunks = loop.run(model.astream("Say hello in three words.", max_tokens=16))
print(len(chunks), "chunks")

# %% [markdown]
# Streaming JSON: the object grows field by field before the JSON is complete. Each line is a
# change (`add` a value, `append` text to a string); the last says whether the JSON is valid.

# %%
person = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 40}, "born": {"type": "integer"}},
    "required": ["name", "born"],
}
obj, json_chunks = model.stream_json("Ada Lovelace: her name and the year she was born.", schema=person,
                                     max_tokens=64, temperature=0)
print(obj)
print(model.json_note)

# %% [markdown]
# Streaming through a chain: it streams only if every step does. After the JSON parser, a plain
# function waits for the whole answer; the same extraction as a generator streams. `PipelineRun`
# records every step's `astream_events` and says which (the app's Pipeline tab draws them).

# %%
async def watch(name: str) -> str:
    run = PipelineRun()
    chain = preset_chain(name, model.model, max_tokens=96, temperature=0)
    try:
        async for _ in run.astream(chain, "Three countries with their populations"):
            pass
    except OutputParserException as error:  # the model's text held no JSON: the sentence shows the text
        return run.failure(str(error).splitlines()[0])
    return f"{run.output} | {run.verdicts()[0]}"


for name in ["JSON parser + plain function", "JSON parser + generator"]:
    print(f"{name} → {loop.run(watch(name))}")  # in Jupyter: `await watch(name)`

# %% [markdown]
# Token probabilities: how sure the model was of each token, and what else it could have said
# (`logprobs=True, top_logprobs=k`; each chunk's record keeps its tokens). The app's Debug tab shades
# them, and branches from an alternative.

# %%
text, chunks = model.stream("Name a color.", echo=False, max_tokens=8, temperature=0, logprobs=True, top_logprobs=3)
for record in model.records:
    for token in record.logprobs:
        print(f"{token.token!r:12} {token.probability:.2f}  else:", [alt for alt, _ in token.top if alt != token.token])

# %% [markdown]
# Agents stream too. `create_agent(model, tools)` (LangChain 1.x) runs the model and the tools in a
# loop, and `agent.stream(..., stream_mode=[...])` streams three things at once: "messages" (the
# model's chunks, with the node that made them, and each tool's result), "updates" (what each step
# wrote, once it is done) and "custom" (what a tool says with `get_stream_writer()` while it runs).
# `build_agent` adds the app's settings; offline, the bundled model is told to call a tool first and
# to answer in words after (`choices`), as the Tools tab does.

# %%
choices = ("required", "none") if isinstance(model.model, ChatLocalModel) else ()
agent = build_agent(model.model, [TOOLS["calculator"]], calls=3, options={"max_tokens": 48, "temperature": 0},
                    choices=choices)
for mode, data in agent.stream({"messages": [("user", "What is 12*7?")]}, stream_mode=["updates", "messages", "custom"]):
    node, carried = describe_event(mode, data)
    print(f"{mode:8} {node:38} {carried[:60]}")
