"""Coalesce a fast async stream into batches, at most one batch per `interval`.

Chunks can arrive faster than a page can take them: a server flushing a burst, a
proxy buffering, or a busy app whose every update waits its turn behind a hundred
other users' updates. The stream is read ahead in its own task, so a chunk never
waits for the page; each batch is everything that came since the last one. A page
gets at most one update per frame, and when it is slower than that, fewer updates
that each carry more chunks, instead of falling further and further behind. No
chunk is lost, and none is held back while the stream stalls.

    >>> import asyncio
    >>> async def burst():
    ...     yield 0
    ...     await asyncio.sleep(0.01)  # then four at once
    ...     for i in range(1, 5):
    ...         yield i
    >>> async def collect():
    ...     return [batch async for batch in paced(burst(), interval=10)]
    >>> asyncio.run(collect())
    [[0], [1, 2, 3, 4]]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import suppress
from typing import TypeVar

T = TypeVar("T")

# Page updates one app process sends per second, shared by every answer streaming in it. Each update
# costs the process's one event loop Gradio's work (postprocess, a walk of every value for files, diff,
# send) whatever it carries: about 1 ms for one user, 4.5 ms each at 100 users at once (46 s of CPU for
# 10,400 updates, py-spy: issue 26). 120 a second keeps that to about half the loop, so with many users
# each gets fewer, bigger updates instead of all of them falling behind. Up to two answers at once
# still get one update per frame; at 10, each gets 12 a second.
UPDATES_PER_SECOND = 120
# The same budget when the answers come from a model decoding on this machine's own cores (the offline
# model): there each page update's CPU is taken from the model. 40 visitors at once on 2 cores, 8
# decoded together: 97-144 tokens/s in aggregate at 30 updates a second (7 runs), 76-104 at 120 (9 runs,
# the same day; docs/benchmarks.md, "A crowd on the offline model"). Each of 8 answers then gets about
# 4 updates a second, of 2 or 3 tokens each; an answer alone, 30.
UPDATES_PER_SECOND_BESIDE_THE_MODEL = 30


class _Streaming:
    """How many `paced` streams are running in this process."""

    count = 0


# Items read ahead before the reader waits for the page to take a batch. A model never gets this far
# ahead (at 100 users, an answer's update carries tens of chunks), but a replay "at once" would: one
# batch of 10,000 records then held the one event loop for a second and more while the page took it in.
MAX_BATCH = 1024
# Chunks read in a row before the reader lets the event loop's other tasks run (a few ms of parsing).
TURN_EVERY = 32


async def paced(
    items: AsyncIterable[T], interval: float | Callable[[], float], shared_per_second: float | None = UPDATES_PER_SECOND,
    shows: Callable[[T], bool] | None = None, max_batch: int = MAX_BATCH,
) -> AsyncIterator[list[T]]:
    """Yield every item of `items`, grouped so batches are at least `interval` seconds apart,
    and further apart when more than `shared_per_second * interval` streams run at once.
    `interval` may be a function, asked before each batch: a page whose every update costs more as
    the answer grows gets updates further apart.

    The first item goes out at once; later ones wait at most that long for company, and
    the last batch goes out as soon as `items` ends. A batch holds at most `max_batch` items: the
    reader waits for the page beyond that. An error from `items` is raised after
    the items that came before it. Closing this generator closes `items`. With `shows`, items
    none of which changes what the page shows (say, a chunk with only the role) wait for company,
    and go with the first item that shows, the moment it comes; if none comes within the same
    gap (a server that thinks before it answers), they go alone. They never hold back the next batch.

        >>> async def role_then_word(pause):
        ...     yield ""  # a chunk with only the role
        ...     await asyncio.sleep(pause)
        ...     yield "Hi"
        >>> async def batches(pause):
        ...     return [batch async for batch in paced(role_then_word(pause), interval=0.05, shows=bool)]
        >>> asyncio.run(batches(0.01)), asyncio.run(batches(0.2))
        ([['', 'Hi']], [[''], ['Hi']])
    """
    buffer: list[T] = []
    arrived, taken = asyncio.Event(), asyncio.Event()
    ended: list[Exception | None] = []  # [None] once `items` is done, [error] if it failed
    # Set as this generator closes. The reader's cancel is not always enough: on Python 3.11,
    # `asyncio.wait_for` returns the result instead of raising when the cancel lands just as its
    # awaitable finishes (CPython gh-86296, fixed in 3.12), and langchain-openai wraps every chunk
    # read in one (its `stream_chunk_timeout`). The read then yields that chunk and would go on to
    # the end of the answer, with the request open upstream (found by looping a Stop test on a busy
    # machine: 12 of 25 runs). The chunk is where the reader sees this and stops.
    closing = asyncio.Event()

    stream = aiter(items)  # one iterator, read first here and then by the reader

    async def close_items() -> None:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()

    async def read_first() -> None:
        try:
            buffer.append(await anext(stream))
        except StopAsyncIteration:
            ended.append(None)
        except Exception as error:
            ended.append(error)
        arrived.set()

    async def read_ahead() -> None:
        try:
            async for item in stream:
                if closing.is_set():
                    break
                buffer.append(item)
                arrived.set()
                if len(buffer) >= max_batch:  # a full batch: wait until the page takes it
                    taken.clear()
                    await taken.wait()
                elif len(buffer) % TURN_EVERY == 0:
                    # Let every other task of the one event loop have a turn. While the server's bytes are
                    # already here, reading the next chunk never waits, so a server sending as fast as it
                    # can kept the loop to itself: another visitor's first token waited 2.4 s.
                    await asyncio.sleep(0)
        except Exception as error:
            ended.append(error)
        else:
            ended.append(None)
        finally:
            await close_items()
        arrived.set()

    reader: asyncio.Task[None] | None = None
    last = float("-inf")
    held: float | None = None  # since when the buffer's items, none of which shows, wait for company
    _Streaming.count += 1
    try:
        # The first item is read in this task, the rest in the reader's. A new task first runs after
        # everything already waiting on the loop: with ten visitors at once, the first read (which
        # sends the request upstream) started 8-13 ms later in a task of its own (median).
        await read_first()
        if not ended:
            reader = asyncio.create_task(read_ahead())
        while True:
            await arrived.wait()
            least = interval() if callable(interval) else interval
            gap = max(least, _Streaming.count / shared_per_second) if shared_per_second else least
            if shows is not None and not ended and not any(map(shows, buffer)):
                # An update that changes nothing on the page still costs one, and the first token waited behind it: at 10
                # users, first token p50 134-160 ms against 113-119 when the role waits for it (docs/benchmarks.md).
                held = held or time.monotonic()
                left = held + gap - time.monotonic()
                if left > 0:
                    arrived.clear()
                    timer = asyncio.get_running_loop().call_later(left, arrived.set)
                    try:
                        await arrived.wait()  # the next item, the stream's end, or the gap's
                    finally:
                        timer.cancel()
                    continue
            held = None
            wait = last + gap - time.monotonic()
            if wait > 0 and not ended and reader is not None:
                await asyncio.wait({reader}, timeout=wait)  # company for the batch, unless the stream ends
            arrived.clear()
            batch = buffer[:]
            buffer.clear()
            taken.set()
            if batch:
                yield batch
                if shows is None or any(map(shows, batch)):
                    last = time.monotonic()
            if ended and not buffer:
                if ended[0] is not None:
                    raise ended[0]
                return
    finally:
        _Streaming.count -= 1
        closing.set()
        if reader is not None:
            reader.cancel()
            with suppress(BaseException):
                await reader
        await close_items()  # as the reader does; here for a stream it never read (closed before its first turn)
