"""A few short documents bundled with the app, and a retriever over them: the non-streaming step
that the Pipeline tab's "retriever first" chain puts before the model.

The lookup is plain word overlap, no embeddings and no network: it answers at once, in one piece,
as every retriever does (a retriever returns its documents whole, it never streams them).

    >>> docs = KeywordRetriever().invoke("Why does a plain function break streaming?")
    >>> [doc.metadata["title"] for doc in docs]
    ['A function in a chain', 'Generators stream']
"""

from __future__ import annotations

import re

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

DOCUMENTS = [
    Document(page_content=text, metadata={"title": title})
    for title, text in [
        ("Streaming", "Streaming shows an answer while it is made: a chat model yields its answer in chunks, "
                      "a few characters each, as the tokens are generated."),
        ("Chunks add up", "An AIMessageChunk can be added to another with +. The sum of the chunks so far is "
                          "the answer so far, and the sum of all of them is the final message."),
        ("A chain streams step by step", "A chain streams only if every step can process an input stream: "
                                         "take one chunk at a time and yield an output chunk for it."),
        ("A function in a chain", "A plain function in a chain waits for its whole input and runs once, at "
                                  "the end, so streaming breaks at that step and nothing after it streams."),
        ("Generators stream", "A generator function that reads its input stream and yields as it goes "
                              "keeps a chain streaming: each output comes as soon as its input did."),
        ("Streaming JSON", "A JSON output parser yields the partial object parsed so far, so a JSON answer "
                           "can be shown field by field before the JSON is complete."),
        ("Events of a chain", "astream_events shows every step's start, stream and end events, with its "
                              "name, even where the chain's final output does not stream."),
        ("Retrievers", "A retriever looks up documents for a question and returns them all at once: the "
                       "model starts later, but its answer streams as usual."),
    ]
]
_WORD = re.compile(r"[a-z]{3,}")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


class KeywordRetriever(BaseRetriever):
    """The `k` bundled documents that share the most words with the question."""

    documents: list[Document] = DOCUMENTS
    k: int = 2

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        asked = _words(query)
        scored = [(len(asked & _words(f"{d.metadata['title']} {d.page_content}")), i) for i, d in enumerate(self.documents)]
        best = sorted((score, -i) for score, i in scored if score)[::-1][: self.k]
        return [self.documents[-i] for _, i in best]


def format_documents(documents: list[Document]) -> str:
    """The documents as the prompt's context: one paragraph each, titled."""
    return "\n\n".join(f"{d.metadata.get('title', '')}: {d.page_content}" for d in documents)
