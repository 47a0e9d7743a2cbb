"""A model server in a child process: started in the background, restarted when it dies.

A native crash of the model (a segfault in llama.cpp, an out-of-memory kill, an
abort) ends that process, never the web app. The next request finds a new one.

    >>> describe_exit(-9)
    'was killed (SIGKILL; out of memory, or killed by hand)'
    >>> describe_exit(-11)
    'crashed (SIGSEGV, a segmentation fault in native code)'
    >>> describe_exit(3)
    'exited with code 3'

The listening socket belongs to this process and is handed to each child, so
the URL never changes and a request made during a restart waits for the new
child instead of being refused.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from llm.errors import ReadableError

log = logging.getLogger(__name__)

READY = "RUNTIME READY"  # printed by llm.backends.runtime_server once the weights are loaded
QUICK_FAILURES = 3  # children dying before they are ready, in a row, before we stop trying
_HINTS = {
    signal.SIGKILL: "was killed (SIGKILL; out of memory, or killed by hand)",
    signal.SIGSEGV: "crashed (SIGSEGV, a segmentation fault in native code)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGBUS: "crashed (SIGBUS)",
    signal.SIGILL: "crashed (SIGILL, an instruction this CPU does not have)",
    signal.SIGTERM: "was stopped (SIGTERM)",
}


class RuntimeUnavailable(ReadableError):
    """The model process is not ready and did not become ready in time."""


class RuntimeCrashed(ReadableError, ConnectionError):
    """The model process ended while answering."""


def describe_exit(code: int) -> str:
    if code < 0:
        number = -code
        try:
            sig = signal.Signals(number)
        except ValueError:
            return f"was ended by signal {number}"
        return _HINTS.get(sig, f"was ended by {sig.name}")
    return f"exited with code {code}"


class ModelRuntime:
    """Runs `python <script> ARGS` as a supervised child serving HTTP on loopback. The script is
    started by its path, never by a module name that another package (or the caller's working
    folder) could shadow, so the child starts the same from any folder."""

    def __init__(self, script: Path, args: list[str], *, name: str = "the local model") -> None:
        self.name = name
        # -I: isolated, so neither the script's folder nor PYTHONPATH comes first on the child's path.
        self._command = [sys.executable, "-I", str(script), *args]
        self.api_key = "sk-local-" + secrets.token_hex(16)  # key-shaped, so redaction catches it too
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen | None = None
        self.exits: list[int] = []  # exit codes of children that ended unexpectedly
        self.output: deque[str] = deque(maxlen=40)  # the children's last lines, for error messages
        self.problem: str | None = None  # why it gave up, when it did
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        _running.append(self)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> ModelRuntime:
        """Start (or, after giving up, retry) in the background; returns at once."""
        with self._lock:
            if self._stopping.is_set() or (self._supervisor and self._supervisor.is_alive()):
                return self
            self.problem = None
            self._supervisor = threading.Thread(target=self._supervise, name="model-runtime", daemon=True)
            self._supervisor.start()
        return self

    def wait_ready(self, timeout: float = 120.0) -> subprocess.Popen:
        """The serving child, once ready; `RuntimeUnavailable` if it cannot be had in time."""
        self.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.problem or self._stopping.is_set():
                raise RuntimeUnavailable(self.problem or f"{self.name} has been shut down.")
            if time.monotonic() > deadline:
                raise RuntimeUnavailable(f"{self.name} did not start within {timeout:.0f} s.")
        assert self.process is not None
        return self.process

    def crash_during(self, process: subprocess.Popen, wait: float = 1.0) -> RuntimeCrashed | None:
        """If `process` ended (waiting up to `wait` s for it to be reaped), an error saying so."""
        try:
            code = process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None
        if self._stopping.is_set():
            return None
        return RuntimeCrashed(
            f"The process running {self.name} {describe_exit(code)} in the middle of the answer. "
            "The app is fine and is restarting the model: send your message again."
        )

    def stop(self) -> None:
        """End the child and stop restarting it. Safe to call more than once."""
        self._stopping.set()
        process = self.process
        if process and process.poll() is None:
            _close(process.stdin)  # the child exits at end of input
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._supervisor and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout=5)
        self._socket.close()

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            process = self._spawn()
            was_ready = self._read_until_exit(process)
            code = process.wait()
            self._ready.clear()
            if self._stopping.is_set():
                return
            self.exits.append(code)
            log.warning("%s %s after %.1f s; restarting it", self.name, describe_exit(code), time.monotonic() - started)
            failures = 0 if was_ready else failures + 1
            if failures >= QUICK_FAILURES:
                last = self.output[-1] if self.output else ""  # a traceback's last line names the error
                self.problem = f"{self.name} could not start: it {describe_exit(code)}. {last}".strip()
                log.error("%s", self.problem)
                return
            self._stopping.wait(0.2 * 2**failures)

    def _spawn(self) -> subprocess.Popen:
        env = {**os.environ, "RUNTIME_API_KEY": self.api_key, "PYTHONUNBUFFERED": "1"}
        kwargs: dict = {}
        if os.name == "posix":
            env["RUNTIME_SOCKET_FD"] = str(self._socket.fileno())
            # Its own session: a Ctrl-C in the terminal goes to the app, which then stops the child.
            kwargs = {"pass_fds": (self._socket.fileno(),), "start_new_session": True}
        else:
            env["RUNTIME_PORT"] = str(self.port)
        self.process = subprocess.Popen(
            self._command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            **kwargs,
        )
        return self.process

    def _read_until_exit(self, process: subprocess.Popen) -> bool:
        """Log the child's output; mark it ready when it says so. Returns whether it ever was."""
        was_ready = False
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            if line == READY:
                was_ready = True
                self._ready.set()
                log.info("%s is ready (pid %s)", self.name, process.pid)
            elif line:
                self.output.append(line)
                log.debug("%s: %s", self.name, line)
        return was_ready


def _close(stream) -> None:
    try:
        stream.close()
    except OSError:
        pass


_running: list[ModelRuntime] = []


@atexit.register
def stop_all() -> None:
    """End every child when the app exits normally (a SIGKILLed app is covered by the
    child watching its standard input)."""
    for runtime in _running:
        runtime.stop()
    _running.clear()
