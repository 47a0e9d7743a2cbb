"""A scripted OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

It speaks real HTTP/1.1 with chunked Server-Sent Events, like api.openai.com:
`data: {...}` lines, a usage chunk when `stream_options.include_usage` is set,
and `data: [DONE]`. What it sends is set by `server.scenario`; what it saw is
in `server.requests`, and clients that hung up early are in `server.disconnects`.

    python -m tests.openai_server --port 8001 --tokens 200 --rate 20
    OPENAI_BASE_URL=http://127.0.0.1:8001/v1 python app.py
"""

from __future__ import annotations

import argparse
import json
import math
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _words(body: dict) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in body.get("messages") or [] if isinstance(m, dict))


def numbered_tokens(n: int) -> list[str]:
    return ["w0"] + [f" w{i}" for i in range(1, n)]


def token_logprobs(token: str, position: int, top: int, names: list[str] | None = None) -> dict:
    """What the server sends for the token at `position`: its log-probability (one of five levels,
    0.9 down to 0.15, by position), its bytes, and the `top` likeliest tokens, itself among them (the
    others named " alt0", " alt1"… or, cycling, from `names`)."""
    probability = (0.9, 0.6, 0.45, 0.3, 0.15)[position % 5]
    named = (lambda j: names[j % len(names)]) if names else (lambda j: f" alt{j}")  # noqa: E731
    others = [(named(j), (1 - probability) * 0.5 ** (j + 1)) for j in range(max(0, top - 1))]
    listed = sorted([(token, probability), *others], key=lambda pair: -pair[1])[:top]
    entry = lambda text, p: {"token": text, "logprob": math.log(max(p, 1e-300)), "bytes": list(text.encode())}  # noqa: E731
    return {**entry(token, probability), "top_logprobs": [entry(text, p) for text, p in listed]}


HOLE = "<the logprobs, spliced in>"


@dataclass
class Scenario:
    tokens: list[str] = field(default_factory=lambda: numbered_tokens(5))
    rate: float = 0.0  # tokens per second; 0 = as fast as possible
    status: int = 200  # answer every request with this HTTP status
    fail_first: int = 0  # answer the first N requests with 500, then behave
    drop_after: int | None = None  # cut the TCP connection after this many tokens
    # A prompt of more words than this gets what llama-cpp-python's server sends when the prompt
    # outgrows its window ("Requested tokens (3018) exceed context window of 2048" in its log): a 200
    # stream that ends with no event at all.
    context_window: int | None = None
    stall_after: int | None = None  # send nothing more after this many tokens
    stall_seconds: float = 30.0
    keepalive: float = 0.0  # during a stall, an SSE comment every this many seconds, as real servers send (0: silence)
    echo: bool = False  # answer with the words of the last user message instead of `tokens`
    finish_reason: str = "stop"  # "length" says the answer hit max tokens
    thinking: list[str] = field(default_factory=list)  # sent before the tokens, as a reasoning model does
    thinking_field: str = "reasoning_content"  # or "reasoning" (vLLM, Ollama)
    # True: piece k goes out k gaps after the start, so a busy machine delays pieces (which then come
    # in a burst) but never stretches the stream: for benchmarks. False: one gap after each piece,
    # so pieces never come closer than a gap: for tests that count page updates.
    fixed_schedule: bool = False
    model_name: str | None = None  # the model the chunks say answered (default: the one asked for)
    error_message: str | None = None  # what a failing request's error says (default: echoes the key)
    # JSON modes this server refuses, as response_format types ("json_object+schema": json_object
    # with a schema), and how: llama-cpp-python's server answers 500 "Input should be 'text' or ...".
    refuse_formats: tuple[str, ...] = ()
    refusal_status: int = 500
    # Tool calls, streamed as OpenAI does: each call's arguments (JSON text, sent exactly as given) in
    # pieces of `tool_piece` characters, parallel calls interleaved piece by piece; then finish_reason
    # "tool_calls". A request whose last message is a tool result gets `after_tools`, with
    # "{results}" replaced by the tool results joined with "; ".
    tool_calls: list[dict] = field(default_factory=list)  # {"name": …, "arguments": "…", "id": …}
    tool_piece: int = 4
    after_tools: str = "The tools said: {results}"
    # Token probabilities: sent with each content token when the request asks (`logprobs`, `top_logprobs`),
    # unless `sends_logprobs` is False (a server that ignores the parameter). See `token_logprobs`.
    sends_logprobs: bool = True
    alternatives: list[str] = field(default_factory=list)  # the other tokens listed (default " alt0"…)
    top_sent: int | None = None  # alternatives listed per token whatever the request asked (a hostile server)
    # Token probabilities as sent, chunk i getting raw_logprobs[i % len] as its `logprobs` whatever its
    # shape (a server whose metadata changes shape between chunks); None: well-formed ones.
    raw_logprobs: list[Any] | None = None
    # A request whose last message is the assistant's, with vLLM's `continue_final_message`, gets these
    # tokens as the rest of that message.
    continued: list[str] = field(default_factory=lambda: [" and", " then", " some", " more."])
    _encoded: dict = field(default_factory=dict, repr=False, compare=False)

    def hostile_logprobs(self, token: str, position: int) -> str:
        """The `logprobs` JSON of a server listing `top_sent` alternatives a token, built once per token
        and level: 100,000 of them took 0.35 s to build and encode, in the process that also times the
        other visitor (`tests/floods.py`), which would have counted it against the app."""
        key = (token, position % 5)
        if key not in self._encoded:
            entry = token_logprobs(token, position, self.top_sent or 0, self.alternatives)
            self._encoded[key] = json.dumps({"content": [entry], "refusal": None})
        return self._encoded[key]

    def warm(self) -> Scenario:
        """Build what `hostile_logprobs` sends for every token, now rather than while it is timed."""
        if self.top_sent:
            for position, token in enumerate(self.tokens):
                self.hostile_logprobs(token, position)
        return self

    def continues(self, body: dict) -> bool:
        messages = body.get("messages") or []
        return bool(body.get("continue_final_message")) and bool(messages) and messages[-1].get("role") == "assistant"

    def answers_tools(self, body: dict) -> bool:
        messages = body.get("messages") or []
        return bool(messages) and messages[-1].get("role") == "tool"

    def tool_deltas(self) -> list[dict]:
        """The `delta`s that stream `tool_calls`: a header per call (index, id, name), then its
        arguments piece by piece, the calls' pieces interleaved."""
        pieces = [[c["arguments"][i:i + self.tool_piece] for i in range(0, len(c["arguments"]), self.tool_piece)]
                  for c in self.tool_calls]
        deltas = [{"tool_calls": [{"index": i, "id": c.get("id", f"call_{i}"), "type": "function",
                                   "function": {"name": c["name"], "arguments": ""}}]}
                  for i, c in enumerate(self.tool_calls)]
        for step in range(max(map(len, pieces), default=0)):
            deltas += [{"tool_calls": [{"index": i, "function": {"arguments": p[step]}}]}
                       for i, p in enumerate(pieces) if step < len(p)]
        return deltas

    def tokens_for(self, body: dict) -> list[str]:
        if self.continues(body):
            return self.continued
        if self.answers_tools(body):
            results = "; ".join(str(m.get("content")) for m in body["messages"] if m.get("role") == "tool")
            words = self.after_tools.format(results=results).split(" ")
            return words[:1] + [f" {w}" for w in words[1:]]
        if not self.echo:
            return self.tokens
        user = [m for m in body.get("messages", []) if m.get("role") == "user"]
        words = str(user[-1]["content"]).split() if user else []
        return words[:1] + [f" {w}" for w in words[1:]]


@dataclass
class Disconnect:
    at: float  # time.monotonic() when the server noticed
    tokens_sent: int


class FakeOpenAIServer:
    def __init__(self, scenario: Scenario | None = None, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None):
        self.scenario = scenario or Scenario()
        # A scenario for requests whose last user message is exactly this text: one visitor floods
        # while another is answered as usual.
        self.by_message: dict[str, Scenario] = {}
        self.models = ["fake"]  # what GET /v1/models lists
        self.models_status = 200
        self.requests: list[dict] = []
        self.raw_requests: list[bytes] = []  # each request's body, as its bytes came
        self.logprobs_sent: list[dict] = []  # each token's logprobs entry, as sent (all requests)
        self.keys: list[str] = []  # the bearer key each request came with, in order
        self.disconnects: list[Disconnect] = []
        self.completed = 0
        self.active = 0
        self.max_active = 0
        self.connections = 0  # TCP connections accepted
        self._lock = threading.Lock()
        self._httpd = _QuietServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        if tls is not None:  # HTTPS, as api.openai.com: each connection's handshake on accepting it
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self._scheme}://{host}:{port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self, scenario: Scenario | None = None) -> None:
        with self._lock:
            self.scenario = scenario or Scenario()
            self.by_message = {}
            self.requests.clear()
            self.raw_requests.clear()
            self.logprobs_sent.clear()
            self.keys.clear()
            self.disconnects.clear()
            self.completed = 0
            self.max_active = self.active

    def scenario_for(self, body: dict) -> Scenario:
        return self.by_message.get(_last_user_text(body) or "", self.scenario)

    def wait_for_disconnect(self, timeout: float = 5.0) -> Disconnect | None:
        """The first client hang-up seen, waiting up to `timeout` seconds for one."""
        deadline = time.monotonic() + timeout
        while not self.disconnects and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.disconnects[0] if self.disconnects else None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _enter_stream(self) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _leave_stream(self, tokens_sent: int, finished: bool) -> None:
        with self._lock:
            self.active -= 1
            if finished:
                self.completed += 1
            else:
                self.disconnects.append(Disconnect(time.monotonic(), tokens_sent))


def _last_user_text(body: dict) -> str | None:
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else None
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else None


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 1024  # a hundred users connect at once: the default backlog of 5 drops their SYNs

    def handle_error(self, request, client_address) -> None:
        """A client hanging up on a kept-alive connection is normal; anything else is printed."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server.connections += 1

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models") and server.models_status == 200:
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
            elif self.path.rstrip("/").endswith("/models"):
                self._json(server.models_status, {"error": {"message": "no model list here"}})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            body = json.loads(raw or b"{}")
            with server._lock:
                server.requests.append(body)
                server.raw_requests.append(raw)
                server.keys.append(self.headers.get("Authorization", "").removeprefix("Bearer "))
                number = len(server.requests)
                scenario = server.scenario_for(body)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                return self._json(404, {"error": {"message": f"no route {self.path}"}})
            if number <= scenario.fail_first or scenario.status != 200:
                status = scenario.status if scenario.status != 200 else 500
                # Echoes the credentials, as a careless proxy might: the app must not pass them on.
                said = scenario.error_message or (
                    f"scripted failure {status}; you sent {self.headers.get('Authorization', 'no key')}")
                return self._json(status, {"error": {"message": said, "type": "server_error"}})
            response_format = body.get("response_format") or {}
            kind = response_format.get("type", "")
            kind += "+schema" if kind == "json_object" and "schema" in response_format else ""
            if kind in scenario.refuse_formats:
                return self._json(scenario.refusal_status,
                                  {"error": {"message": f"Input should be 'text' or 'json_object' (got {kind})"}})
            if body.get("stream"):
                self._stream(body, scenario)
            else:
                tokens = scenario.tokens_for(body)
                self._json(200, _completion(body, "".join(tokens), len(tokens)))

        def _stream(self, body: dict, scenario: Scenario) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            server._enter_stream()
            sent, finished = 0, False
            model = scenario.model_name or body.get("model", "fake")
            try:
                if scenario.context_window is not None and _words(body) > scenario.context_window:
                    self._raw(b"")  # the zero-length chunk that ends the body
                    finished = True
                    return
                self._event(_chunk(model, {"role": "assistant", "content": ""}))
                gap = 1 / scenario.rate if scenario.rate else 0
                due = time.monotonic()

                def next_due(due: float) -> float:
                    return due + gap if scenario.fixed_schedule else time.monotonic() + gap

                for piece in scenario.thinking:
                    due = next_due(due)
                    if gap and not self._wait(due - time.monotonic()):
                        return
                    self._event(_chunk(model, {"content": None, scenario.thinking_field: piece}))
                calling = bool(scenario.tool_calls) and not scenario.answers_tools(body)
                for token in scenario.tool_deltas() if calling else scenario.tokens_for(body):
                    if scenario.drop_after is not None and sent >= scenario.drop_after:
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        finished = True  # the server chose to end it: not a client disconnect
                        return
                    if scenario.stall_after is not None and sent >= scenario.stall_after:
                        if not self._stall(scenario.stall_seconds, scenario.keepalive):
                            return
                        due = time.monotonic()
                    due = next_due(due)
                    if gap and not self._wait(due - time.monotonic()):
                        return
                    chunk = _chunk(model, token if calling else {"content": token})
                    if body.get("logprobs") and scenario.raw_logprobs is not None and not calling:
                        chunk["choices"][0]["logprobs"] = scenario.raw_logprobs[sent % len(scenario.raw_logprobs)]
                    elif body.get("logprobs") and scenario.top_sent and not calling:
                        chunk["choices"][0]["logprobs"] = HOLE
                        server.logprobs_sent.append({"token": token})
                        self._raw(b"data: " + json.dumps(chunk).replace(json.dumps(HOLE), scenario.hostile_logprobs(
                            token, sent)).encode() + b"\n\n")
                        sent += 1
                        continue
                    elif body.get("logprobs") and scenario.sends_logprobs and not calling:
                        top = int(body.get("top_logprobs") or 0)
                        entry = token_logprobs(token, sent, top, scenario.alternatives)
                        chunk["choices"][0]["logprobs"] = {"content": [entry], "refusal": None}
                        server.logprobs_sent.append(entry)
                    self._event(chunk)
                    sent += 1
                self._event(_chunk(model, {}, finish_reason="tool_calls" if calling else scenario.finish_reason))
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage = _usage(body, sent)
                    self._event({**_chunk(model, {}), "choices": [], "usage": usage})
                self._raw(b"data: [DONE]\n\n")
                self._raw(b"")  # the zero-length chunk that ends the body
                finished = True
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                server._leave_stream(sent, finished)

        def _wait(self, seconds: float) -> bool:
            """Sleep, but return False as soon as the client hangs up."""
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                readable, _, _ = select.select([self.connection], [], [], left)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return False
            return True

        def _stall(self, seconds: float, keepalive: float) -> bool:
            """Send no chunk for `seconds` (an SSE comment every `keepalive` seconds, if set, which
            clients skip); False as soon as the client hangs up."""
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                if not self._wait(min(left, keepalive) if keepalive else left):
                    return False
                if keepalive and deadline > time.monotonic():
                    self._raw(b": keepalive\n\n")
            return True

        def _event(self, payload: dict) -> None:
            self._raw(b"data: " + json.dumps(payload).encode() + b"\n\n")

        def _raw(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _chunk(model: str, delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def _usage(body: dict, completion_tokens: int) -> dict:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def _completion(body: dict, text: str, tokens: int) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": _usage(body, tokens),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--thinking", type=int, default=0, help="reasoning deltas before the answer")
    parser.add_argument("--thinking-field", default="reasoning_content", choices=["reasoning_content", "reasoning"])
    parser.add_argument("--fixed-schedule", action="store_true", help="token k at k/rate (benchmarks)")
    parser.add_argument("--paragraph-every", type=int, default=0,
                        help="end every Nth token (and reasoning delta) with a blank line")
    parser.add_argument("--tool-calls", action="store_true",
                        help="answer with two parallel tool calls (calculator 12*7, country_facts Kenya) in pieces of 6")
    parser.add_argument("--tool-call", action="store_true", help="answer with one tool call (calculator 12*7) in pieces of 6")
    args = parser.parse_args()
    def paragraphs(pieces: list[str]) -> list[str]:
        every = args.paragraph_every
        return [p + "\n\n" if every and i % every == every - 1 else p for i, p in enumerate(pieces)]

    thinking = paragraphs([f"thought {i}. " for i in range(args.thinking)])
    tokens = paragraphs(numbered_tokens(args.tokens))
    scenario = Scenario(tokens=tokens, rate=args.rate, thinking=thinking,
                        thinking_field=args.thinking_field, fixed_schedule=args.fixed_schedule)
    if args.tool_calls or args.tool_call:
        scenario.tool_piece = 6
        scenario.tool_calls = [{"name": "calculator", "arguments": '{"expression": "12*7"}', "id": "c1"},
                               {"name": "country_facts", "arguments": '{"name": "Kenya"}', "id": "c2"}][:1 if args.tool_call else 2]
    server = FakeOpenAIServer(scenario, port=args.port)
    print(f"serving {args.tokens} tokens at {args.rate}/s on {server.base_url}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
