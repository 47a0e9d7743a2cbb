"""The answers' inputs preprocessed on the event loop, not each on a worker thread.

Gradio preprocesses an event's inputs one at a time, each on a worker thread
(`anyio.to_thread.run_sync(block.preprocess)` in `Blocks.preprocess_data`), and each hop back waits
its turn on the event loop that every visitor shares. With ten visitors streaming, `/chat`'s seven
inputs took 49 ms before the answer function started, the largest part of a first token's wait; with
the same conversions run inline, 1.0 ms (docs/benchmarks.md, "Sixth pass"). This app's own inputs
(`ui/inputs.py`) say so with `preprocess_on_loop`: their preprocess is a type check at most, with no
file, no I/O and no size-dependent work; so is `gr.Code`'s. An event whose inputs are all such, or
`gr.State`, gets Gradio's preprocessing turned off and the same `preprocess` calls made inline, before
anything reads the values (ChatInterface reads the message before the tab's function runs). Any other
event is left as Gradio made it.

Gradio also calls every streaming function on a worker thread just to make its generator
(`Blocks.call_function`: whatever is not a coroutine function goes through `anyio.to_thread.run_sync`).
Calling an async generator function runs none of its body, so there is nothing there to keep off the
loop, only the hop: with ten visitors at once, the answer started 14-19 ms after Gradio called it (median;
the worker waits for the GIL the busy loop holds, then its result waits its turn on the loop).
`async_generators_made_on_the_loop` makes such a call's generator at once, and leaves every other call
to its thread.

    >>> import gradio as gr
    >>> from ui.inputs import MessageBox
    >>> async def echo(message):
    ...     yield message
    >>> with gr.Blocks() as demo:
    ...     box, out = MessageBox(), gr.Textbox()
    ...     _ = box.submit(echo, box, out)
    >>> preprocess_on_the_loop(demo)  # the events changed
    1
    >>> block_fn = next(iter(demo.fns.values()))
    >>> block_fn.preprocess, block_fn.fn.__wrapped__ is echo
    (False, True)
    >>> import asyncio
    >>> async def first(*args):
    ...     return await anext(block_fn.fn(*args))
    >>> asyncio.run(first(None)), asyncio.run(first(42))  # as MessageBox.preprocess: "" and "42"
    ('', '42')
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from typing import Any

import anyio.to_thread
import gradio as gr
from gradio.block_function import BlockFunction


def preprocess_on_the_loop(blocks: gr.Blocks) -> int:
    """Preprocess inline every streaming event of `blocks` whose inputs all allow it; how many there were.
    Also makes every streaming function's generator on the loop (`async_generators_made_on_the_loop`)."""
    async_generators_made_on_the_loop()
    return sum(_inline(block_fn) for block_fn in blocks.fns.values())


def async_generators_made_on_the_loop() -> None:
    """Have `anyio.to_thread.run_sync(f, *args)` return `f(*args)` at once when `f` is an async generator
    function (making the generator runs none of its body); any other `f` goes to its thread as before.
    Once per process.

        >>> import anyio, anyio.to_thread, threading
        >>> async def answer():
        ...     yield "made"
        >>> async def make():
        ...     busy = anyio.CapacityLimiter(1)
        ...     await busy.acquire_on_behalf_of("another")  # a worker thread would wait for it for ever
        ...     with anyio.fail_after(5):
        ...         return await anext(await anyio.to_thread.run_sync(answer, limiter=busy))
        >>> async_generators_made_on_the_loop()
        >>> anyio.run(make)
        'made'
        >>> anyio.run(anyio.to_thread.run_sync, threading.current_thread) is threading.main_thread()
        False
    """
    run_sync = anyio.to_thread.run_sync
    if getattr(run_sync, "makes_async_generators_inline", False):
        return

    @functools.wraps(run_sync)
    async def run_sync_or_make_generator(func: Any, *args: Any, **kwargs: Any) -> Any:
        if inspect.isasyncgenfunction(func):
            return func(*args)
        return await run_sync(func, *args, **kwargs)

    run_sync_or_make_generator.makes_async_generators_inline = True  # type: ignore[attr-defined]
    anyio.to_thread.run_sync = run_sync_or_make_generator


def _on_loop(block: Any) -> bool:
    # gr.Code (the JSON tab's schema) passes its payload on as it is (tests/test_loop_preprocess.py checks).
    return getattr(block, "preprocess_on_loop", False) or type(block) is gr.Code


def _inline(block_fn: BlockFunction) -> bool:
    fn, inputs = block_fn.fn, list(block_fn.inputs)
    if (not block_fn.preprocess or not inspect.isasyncgenfunction(fn) or block_fn.inputs_as_dict
            or block_fn.component_prop_inputs or block_fn.input_keyword_names or block_fn.batch or not inputs):
        return False
    if not all(isinstance(block, gr.State) or _on_loop(block) for block in inputs):
        return False
    if all(isinstance(block, gr.State) for block in inputs):  # no hop to save
        return False
    # Gradio hands a State's value over as it is, preprocessing or not. The others' preprocess, as built:
    # it depends on no property that an update of the component in a session could change.
    convert = [None if isinstance(block, gr.State) else block.preprocess for block in inputs]

    @functools.wraps(fn)  # Gradio reads the signature through it (gr.Request, the API's parameters)
    async def preprocessed(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        values = [value if step is None else step(value) for step, value in zip(convert, args, strict=False)]
        # aclosing: a Stop that closes this closes the answer inside at once.
        async with aclosing(fn(*values, *args[len(convert):], **kwargs)) as updates:
            async for update in updates:
                yield update

    # Gradio reads the function's type hints at every event (`special_args`, for gr.Request); from a
    # module with `from __future__ import annotations` each is a string to evaluate again: 0.26 ms an
    # event for the chat's, 0.02 ms once evaluated here.
    with suppress(Exception):  # a name it cannot resolve: Gradio's own reading, as before
        preprocessed.__annotations__ = typing.get_type_hints(fn)
    block_fn.fn, block_fn.preprocess = preprocessed, False
    return True
