"""The stream: chunks summed with `+` (the Accumulator), a record per chunk, pacing, and what Debug draws from them.

Imports only `llm.inert` and `llm.errors` from the rest of `llm`.
"""
