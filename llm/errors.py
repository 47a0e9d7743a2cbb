"""Readable, secret-free text for whatever went wrong while streaming.

    >>> readable_error(TimeoutError("read timed out"))
    'The model stopped sending for too long (timeout). read timed out'
    >>> "sk-" in readable_error(RuntimeError("bad key sk-FAKE0FAKE0"))
    False
    >>> redact("Bearer my%20key and my key", " my key\\n")
    'Bearer [redacted] and [redacted]'
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

_KEY_PATTERN = re.compile(r"(sk|hf|pk|rk)[-_][A-Za-z0-9_\-*]{8,}")


class ReadableError(Exception):
    """An error whose message is already a sentence for the person using the app."""


MAX_DETAIL_CHARS = 300  # of a server's error text on the page; the whole of it goes to the log
# llama-cpp-python's server answers a prompt longer than its window with a stream that ends at once,
# and says why only in its own log ("Requested tokens (3018) exceed context window of 2048").
EMPTY_STREAM = ("The server ended the answer without sending anything. The likeliest cause: the message, with "
                "the conversation before it, is longer than the model's context window (llama-cpp-python's "
                "server does this then). Try a shorter message, or clear the chat.")


def redact(text: str, *secrets: str | None) -> str:
    """Remove the given secrets, in every form a server might echo them (as sent, stripped, URL- or
    JSON-escaped), and anything shaped like an API key from `text`."""
    forms = {form for secret in secrets if isinstance(secret, str) for form in _forms(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def _forms(secret: str) -> list[str]:
    sent = secret.strip()
    forms = [secret, sent, quote(sent, safe=""), quote(sent), json.dumps(sent)[1:-1]]
    return [form for form in forms if len(form) >= 4]  # a shorter one would blank out ordinary text


def error_detail(error: BaseException, *secrets: str | None) -> str:
    """The whole (redacted) detail of an error, for the log: a server's body may hold its traceback."""
    return redact(_detail(error), *secrets)


def readable_error(error: BaseException, *secrets: str | None) -> str:
    """One sentence saying what kind of failure this is, then the (redacted) detail."""
    name = type(error).__name__
    kinds = {cls.__name__ for cls in type(error).__mro__}  # httpx's and openai's, without importing them
    status = getattr(error, "status_code", None)
    detail = _detail(error)
    if isinstance(error, ReadableError):
        kind, detail = str(error), ""
    elif name == "LengthFinishReasonError":  # openai's stream helper, used for JSON answers
        kind, detail = "The answer reached Max tokens before it was complete: raise Max tokens and ask again.", ""
    elif name == "OutputParserException":  # a chain's parser: its first line is the sentence
        kind, detail = str(error).strip().split("\n", 1)[0], ""
    elif name == "ValueError" and str(error) == "No generation chunks were returned":  # LangChain, on an empty stream
        kind, detail = EMPTY_STREAM, ""
    elif name == "ContentFilterFinishReasonError":
        kind, detail = "The server's content filter stopped the answer.", ""
    elif status == 401 or name == "AuthenticationError":
        kind = "The server refused the API key (401). Check OPENAI_API_KEY."
    elif status == 404 or name == "NotFoundError":
        kind = "The server does not know this model or endpoint (404). Check OPENAI_MODEL and OPENAI_BASE_URL."
    elif status == 429 or name == "RateLimitError":
        kind = "The server is rate limiting us (429); try again shortly."
    elif isinstance(status, int):
        kind = f"The server answered with an error ({status})."
    elif kinds & {"APITimeoutError", "TimeoutException"} or isinstance(error, TimeoutError):
        kind = "The model stopped sending for too long (timeout)."
    elif where := _refused_at(error):
        kind, detail = f"Nothing answers at {where}: is the server running there? (OPENAI_BASE_URL)", ""
    elif kinds & {"APIConnectionError", "TransportError"} or isinstance(error, ConnectionError):
        kind = "The connection to the model broke."
    else:
        kind = f"Streaming failed ({name})."
    if isinstance(status, int):
        detail = _first_sentence(detail)
    return redact(f"{kind} {detail}".strip(), *secrets)


def _refused_at(error: BaseException) -> str | None:
    """The address (scheme, host and port: no user, password, path or query) of a server that
    refused or could not be reached before anything was sent: httpx's ConnectError in the causes."""
    seen: BaseException | None = error
    for _ in range(8):  # causes are a short chain; a loop in them must not hang us
        if seen is None:
            return None
        if type(seen).__name__ == "ConnectError":
            try:
                url = seen.request.url  # httpx raises when the error carries no request
            except Exception:
                return None
            return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        seen = seen.__cause__ or seen.__context__
    return None


def _first_sentence(text: str) -> str:
    """A server's message up to its first sentence's end: a traceback after it stays in the log."""
    line = text.strip().split("\n", 1)[0]
    match = re.search(r"[.!?](\s|$)", line)
    sentence = line[: match.end()].strip() if match else line
    return sentence if len(sentence) <= MAX_DETAIL_CHARS else sentence[: MAX_DETAIL_CHARS - 1] + "…"


def _detail(error: BaseException) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    text = str(error)
    cause = error.__cause__ or error.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({type(cause).__name__}: {cause})"
    return text
