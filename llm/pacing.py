"""Coalesce a fast async stream into batches, at most one batch per `interval`.

Chunks can arrive faster than a screen refreshes (a server flushing a burst, a
proxy buffering). A page needs one update per frame, not one per chunk, but it
must not lose any chunk and must not sit on one while the stream stalls.

    >>> import asyncio
    >>> async def burst():
    ...     for i in range(5):
    ...         yield i
    >>> async def collect():
    ...     return [batch async for batch in paced(burst(), interval=10)]
    >>> asyncio.run(collect())
    [[0], [1, 2, 3, 4]]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import suppress
from typing import TypeVar

T = TypeVar("T")


async def paced(items: AsyncIterable[T], interval: float) -> AsyncIterator[list[T]]:
    """Yield every item of `items`, grouped so batches are at least `interval` seconds apart.

    The first item goes out at once; later ones wait at most `interval` for
    company. Closing this generator closes `items`.
    """
    iterator = aiter(items)
    pending: asyncio.Future[T] | None = None
    batch: list[T] = []
    last = float("-inf")
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            wait = max(0.0, last + interval - time.monotonic()) if batch else None
            done, _ = await asyncio.wait({pending}, timeout=wait)
            if done:
                try:
                    batch.append(pending.result())
                except StopAsyncIteration:
                    break
                finally:
                    pending = None
                if time.monotonic() - last < interval:
                    continue
            yield batch
            batch, last = [], time.monotonic()
        if batch:
            yield batch
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with suppress(BaseException):
                await pending
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
