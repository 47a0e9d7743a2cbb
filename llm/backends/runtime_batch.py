"""Continuous batching for the offline model's process: several answers decoded in one `llama_decode`.

llama-cpp-python's `Llama` answers one request at a time on one context. Here one llama.cpp
context holds one sequence per slot (`n_seq_max`), and one thread (`Batcher`) decodes, in each
step, either the next token of every slot that is answering, or a piece (at most `PREFILL` tokens)
of one slot's prompt, taking turns: a long prompt is read in pieces between the others' tokens
instead of stalling them.

Each slot is a `Llama` for everything else: chat templates, grammars, stop strings, logprobs and
detokenizing stay the library's code, unchanged. Only two methods differ:

- `eval(tokens)` hands the tokens to the batcher and waits for the step that read the last of them;
- `sample()` returns the token the batcher already drew from that slot's row of the batch's logits,
  with the slot's own sampler chain, before the next step overwrote them.

Measured on 2 cores with SmolLM2-135M (Q4_1), decode steps of 1, 8 and 40 sequences: docs/benchmarks.md.
This process has no `llm` package on its path; `runtime_server` loads this file by its path.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

PREFILL = 128  # prompt tokens in one step; prompt steps take turns with the others' next tokens
GATHER = 0.05  # seconds a step waits for the slots of the last step to hand in their next token


class Cancelled(Exception):
    """The slot's answer was stopped while its tokens waited for a step."""


class _Eval:
    """Tokens of one slot waiting to be read; `done` of them already are."""

    def __init__(self, slot: _SlotMethods, tokens: list[int]) -> None:
        self.slot, self.tokens, self.done = slot, tokens, 0
        self.n_past = slot.n_tokens
        self.finished = threading.Event()
        self.token: int | None = None  # drawn by the batcher from the last token's logits
        self.error: BaseException | None = None


class Batcher:
    """One llama.cpp context, one sequence per slot, one thread that decodes them together."""

    def __init__(self, base: Any, *, slots: int, n_ctx: int, prefill: int = PREFILL) -> None:
        import llama_cpp
        from llama_cpp import _internals

        params = llama_cpp.llama_context_params.from_buffer_copy(base.context_params)
        params.n_seq_max = slots
        params.n_ctx = slots * n_ctx  # llama.cpp gives each sequence an equal share
        params.n_batch = params.n_ubatch = max(prefill, slots)
        # A stream of its own per sequence: attention reads only that answer's cells, so a step costs the
        # same however much the other slots hold, and an answer alone gets the same logits as in a crowd.
        # (A unified cache attends over every slot's cells, masked: 20 long turns took minutes.)
        params.kv_unified = False
        self.context = _internals.LlamaContext(model=base._model, params=params, verbose=False)
        self._batch = _internals.LlamaBatch(n_tokens=max(prefill, slots), embd=0, n_seq_max=1, verbose=False)
        self._n_vocab = base.n_vocab()
        self.prefill = prefill
        self.lock = threading.Lock()  # the context: a step, or a change to its memory
        self._changed = threading.Condition()
        self._waiting: list[_Eval] = []
        self._expected: set[_SlotMethods] = set()  # read in the last step, and still answering
        self._prompt_last = False  # whether the last step read a prompt piece
        self._running: set[_Eval] = set()  # the jobs in the step under way
        self.slots = [make_slot(base, self, seq, n_ctx) for seq in range(slots)]
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._thread.start()

    def submit(self, slot: _SlotMethods, tokens: list[int]) -> _Eval:
        """Queue `tokens` for `slot` (they follow its `n_tokens`); `wait` for them to be read."""
        job = _Eval(slot, list(tokens))
        with self._changed:
            if slot.cancelled:
                raise Cancelled()
            self._waiting.append(job)
            self._changed.notify()
        return job

    @staticmethod
    def wait(job: _Eval) -> _Eval:
        job.finished.wait()
        if job.error is not None:
            raise job.error
        return job

    def drop(self, job: _Eval) -> None:
        """Take back a job nobody will wait for: out of the queue, or, in the step under way, finished."""
        with self._changed:
            if job in self._waiting and job not in self._running:
                self._waiting.remove(job)
                job.error = Cancelled()
                job.finished.set()
        job.finished.wait()  # its cells are written before the slot may reuse their positions

    def idle(self, slot: _SlotMethods) -> None:
        """`slot` reads nothing more for now: the next step need not wait for it."""
        with self._changed:
            self._expected.discard(slot)
            self._changed.notify()

    def cancel(self, slot: _SlotMethods) -> None:
        """Stop `slot`: its waiting tokens are dropped at the next step, and their reader raises `Cancelled`."""
        with self._changed:
            slot.cancelled = True
            self._expected.discard(slot)
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting)  # a daemon thread: it ends with the process
                # The slots of the last step hand in their next token within a millisecond or two;
                # without this wait each step would take whoever came first, one at a time.
                self._changed.wait_for(lambda: self._expected <= {job.slot for job in self._waiting}, GATHER)
                planned = self._plan()
                if not planned:
                    continue
                self._running = {job for job, _, _ in planned}
            finished = self._step(planned)
            with self._changed:
                self._running = set()
                for job in finished:
                    if job in self._waiting:
                        self._waiting.remove(job)
                    if job.error is None and job.slot._sampler is not None:
                        self._expected.add(job.slot)
                    else:
                        self._expected.discard(job.slot)
                    job.finished.set()

    def _plan(self) -> list[tuple[_Eval, int, int]]:
        """(job, first, end): either every one-token job, or a piece of one prompt (at most `prefill`
        tokens), taking turns when both wait. With a stream per sequence, llama.cpp splits a step into
        passes of equal shares per sequence, in order: a prompt beside one-token answers would take
        several passes, and so did one-token answers out of sequence order (40 visitors on 8 slots:
        116 tokens/s unsorted, 266 sorted; SmolLM2 as Q4_0). The jobs of cancelled slots leave here."""
        for job in [job for job in self._waiting if job.slot.cancelled]:
            self._waiting.remove(job)
            job.error = Cancelled()
            job.finished.set()
        single = sorted(((job, job.done, job.done + 1) for job in self._waiting if len(job.tokens) - job.done == 1),
                        key=lambda piece: piece[0].slot.seq)
        prompt = next((job for job in self._waiting if len(job.tokens) - job.done > 1), None)
        if prompt is not None and (not single or not self._prompt_last):
            self._prompt_last = True
            return [(prompt, prompt.done, prompt.done + min(len(prompt.tokens) - prompt.done, self.prefill))]
        self._prompt_last = False
        return single

    def _step(self, planned: list[tuple[_Eval, int, int]]) -> list[_Eval]:
        batch, finished, rows = self._batch.batch, [], []
        n = 0
        for job, first, end in planned:
            for i in range(first, end):
                batch.token[n] = job.tokens[i]
                batch.pos[n] = job.n_past + i
                batch.seq_id[n][0] = job.slot.seq
                batch.n_seq_id[n] = 1
                batch.logits[n] = i == len(job.tokens) - 1
                n += 1
            rows.append(n - 1)
        batch.n_tokens = n
        with self.lock:
            try:
                self.context.decode(self._batch)
            except Exception as error:  # the context is full, or llama.cpp failed: every job in the step fails
                for job, _, _ in planned:
                    self.context.kv_cache_seq_rm(job.slot.seq, job.n_past, -1)
                    job.error = RuntimeError(f"The model could not read the text ({error}).")
                    finished.append(job)
                return finished
            for (job, _, end), row in zip(planned, rows):
                job.done = end
                if end < len(job.tokens):
                    continue
                finished.append(job)
                try:
                    job.token = job.slot._took(job, row)
                except Exception as error:  # a grammar with no way on, a logits processor's error
                    job.error = error
        return finished


def make_slot(base: Any, batcher: Batcher, seq: int, n_ctx: int) -> Any:
    """A `Llama` answering on sequence `seq` of the batcher's context (see the module's docstring).

    It shares the loaded `base`'s weights, tokenizer and chat handler; its own are the tokens it has
    read, their logits (kept only when the request asks for logprobs), and its sampler."""
    view = object.__new__(type("SlotLlama", (_SlotMethods, type(base)), {}))
    view.__dict__.update(base.__dict__)
    view.batcher, view.seq, view._n_ctx = batcher, seq, n_ctx
    view._ctx = _SlotContext(batcher, seq)
    view.n_tokens, view._sampler, view._pending_token, view._ahead = 0, None, None, None
    view._requires_eval = True  # never sample from logits a previous step left in the context
    view.input_ids = np.ndarray((n_ctx,), dtype=np.intc)
    view.scores = np.zeros((n_ctx, base.n_vocab()), dtype=np.single)  # untouched rows take no memory
    view.keep_logits, view.cancelled = False, False
    return view


class _SlotMethods:
    """What a slot does differently from `Llama`; see `make_slot`."""

    batcher: Batcher
    seq: int

    def eval(self, tokens: list[int]) -> None:
        if not tokens:
            raise RuntimeError("A batched slot has no logits to sample from without tokens to read.")
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.tokens == list(tokens) and ahead.n_past == self.n_tokens:
            job = self.batcher.wait(ahead)
        else:
            if ahead is not None:
                self.batcher.drop(ahead)
            with self.batcher.lock:
                self.batcher.context.kv_cache_seq_rm(self.seq, self.n_tokens, -1)
            job = self.batcher.wait(self.batcher.submit(self, tokens))
        self.input_ids[job.n_past:job.n_past + len(job.tokens)] = job.tokens
        self.n_tokens = job.n_past + len(job.tokens)
        self._pending_token = job.token
        if job.token is not None and self._sampler is not None and not self._sampler.custom_samplers:
            # Read ahead: inside `generate`, the next call is eval([that token]). Queued now, it is read
            # while this thread turns the token into text, not after. (A custom sampler, such as a logits
            # processor, may read `input_ids` while drawing: no reading ahead with one.)
            self._ahead = self.batcher.submit(self, [job.token])

    def _took(self, job: _Eval, row: int) -> int | None:
        """In the batcher, right after the step that read `job`'s last token: keep that token's logits
        (if asked) and draw the next token while the logits are there."""
        if self.keep_logits:
            logits = self.batcher.context.get_logits_ith(row)
            end = job.n_past + len(job.tokens)
            self.scores[end - 1, :] = np.ctypeslib.as_array(ctypes.cast(logits, ctypes.POINTER(ctypes.c_float)),
                                                            shape=(self.batcher._n_vocab,))
        sampler = self._sampler  # held here: the slot's thread may let go of it when its answer ends
        return sampler.sample(self.batcher.context, row) if sampler is not None else None

    def sample(self, *args: Any, idx: int | None = None, **kwargs: Any) -> int:
        if self._pending_token is None or (idx is not None and idx != self.n_tokens - 1):
            raise RuntimeError("A batched slot samples once, from the last token it read.")
        token, self._pending_token = self._pending_token, None
        return token

    def generate(self, *args: Any, **kwargs: Any) -> Iterator[int]:
        try:
            yield from super().generate(*args, **kwargs)
        finally:
            ahead, self._ahead = self._ahead, None
            if ahead is not None:  # the answer ended (a stop word, the cap, Stop): nobody reads it
                self.batcher.drop(ahead)
            self._sampler = None
            self.batcher.idle(self)

    def _create_completion(self, *args: Any, **kwargs: Any) -> Any:
        self.keep_logits = kwargs.get("logprobs") is not None
        return super()._create_completion(*args, **kwargs)

    def n_ctx(self) -> int:
        return self._n_ctx

    def lease(self) -> None:
        """Taken for a new request."""
        self.cancelled = False
        self._ahead = None
        self._pending_token = None

    def close(self) -> None:  # the weights and the tokenizer belong to the base `Llama`
        pass

    def __del__(self) -> None:
        pass


class _SlotContext:
    """The batcher's context as one slot sees it: its memory changes touch only the slot's sequence."""

    def __init__(self, batcher: Batcher, seq: int) -> None:
        self._batcher, self._seq = batcher, seq

    def kv_cache_seq_rm(self, seq_id: int, p0: int, p1: int) -> bool:
        with self._batcher.lock:
            return self._batcher.context.kv_cache_seq_rm(self._seq, p0, p1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batcher.context, name)
