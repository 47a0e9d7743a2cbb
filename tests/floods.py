"""A broken or hostile server flooding one visitor, while another visitor is answered as usual.

`measure_flood` runs the real app (`python app.py`) against the scripted server; a flooding visitor
(another process, as another browser is) calls one endpoint with the message the server floods,
while this process asks `/chat` again and again as an ordinary visitor and times each first token.
What comes back is a `FloodReport`: those waits, the bytes the flooding visitor received, the app's
memory, its CPU after a Stop, and the flooding visitor's last outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from gradio_client import Client

from tests.openai_server import FakeOpenAIServer, Scenario, numbered_tokens

ROOT = Path(__file__).resolve().parent.parent
FLOOD = "flood me"  # the message the server floods; any other is answered as usual

# The flooding visitor: submits, reports when its first update came, then every update's size; with
# a stop time, cancels (as Stop does) after that many seconds. Prints one JSON line at the end.
FLOODING_VISITOR = """
import json, sys, time
from gradio_client import Client
url, api, args, stop_after, limit = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
job = Client(url, verbose=False).submit(*args, api_name=api)
began, received, largest, updates, last, stopped, error = time.monotonic(), 0, 0, 0, None, False, None
try:
    for outputs in job:
        if updates == 0:
            print("streaming", flush=True)
        updates += 1
        size = len(json.dumps(outputs, ensure_ascii=False, default=str))
        received, largest = received + size, max(largest, size)
        last = outputs
        if stop_after and time.monotonic() - began > stop_after:
            stopped = True
            job.cancel()
            break
        if time.monotonic() - began > limit:
            break
except Exception as e:  # reported, not raised: the report line must come whatever happened
    error = f"{type(e).__name__}: {e}"[:500]
print(json.dumps({"updates": updates, "received": received, "largest": largest, "stopped": stopped, "error": error,
                  "seconds": time.monotonic() - began, "last": last}, default=str), flush=True)
"""


@dataclass
class FloodReport:
    waits: list[float] = field(default_factory=list)  # the other visitor's times to first token, in s
    baseline: float = 0.0  # their time to first token before the flood
    received: int = 0  # bytes of updates the flooding visitor received
    largest: int = 0  # bytes of the largest one
    updates: int = 0
    seconds: float = 0.0  # how long the flood lasted, for the flooding visitor
    rss_before: int = 0  # the app's resident memory, bytes
    rss_peak: int = 0
    closed_upstream: bool = False  # after a Stop: whether the request to the server was closed before its end
    cpu_after_stop: float | None = None  # the app's CPU share in the second after Stop closed the request (1.0 = one core)
    last: list = field(default_factory=list)  # the flooding visitor's last outputs
    error: str | None = None  # what the flooding visitor's client raised, if anything

    @property
    def worst_extra(self) -> float:
        return max(self.waits) - self.baseline if self.waits else float("inf")


def first_token_seconds(client: Client, give_up: float = 30.0) -> float:
    """How long the first token of an ordinary answer took (`give_up` if it never came by then)."""
    asked = time.monotonic()
    job = client.submit("count", "Be brief.", 0.5, 100, api_name="/chat")
    while not any(outputs[0] for outputs in job.outputs()) and not job.done():
        if time.monotonic() - asked > give_up:
            job.cancel()
            return give_up
        time.sleep(0.005)
    waited = time.monotonic() - asked
    try:
        job.result(timeout=give_up)
    except Exception:  # noqa: BLE001 (the wait is what is measured; a frozen app shows in it)
        pass
    return waited


def _lines(file) -> list[str]:
    file.seek(0)
    return file.read().splitlines()


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_flood(server: FakeOpenAIServer, app_pid: int, url: str, api: str, args: list, flood: Scenario, *,
                  stop_after: float = 0.0, limit: float = 60.0) -> FloodReport:
    """Flood one visitor through `api` (with `args`, the first being FLOOD) while another asks `/chat`."""
    server.by_message = {FLOOD: flood.warm()}
    server.scenario = Scenario(tokens=numbered_tokens(10), rate=50)
    visitor = Client(url, verbose=False)
    report = FloodReport()
    report.baseline = min(first_token_seconds(visitor) for _ in range(3))
    report.rss_before = report.rss_peak = _rss(app_pid)
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.05):
            report.rss_peak = max(report.rss_peak, _rss(app_pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    said = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: its last line may be more than a pipe holds
    complained = tempfile.TemporaryFile(mode="w+")
    flooding = subprocess.Popen([sys.executable, "-c", FLOODING_VISITOR, url, api, json.dumps(args), str(stop_after),
                                 str(limit)], cwd=ROOT, stdout=said, stderr=complained, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _lines(said) and flooding.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _lines(said)[:1] == ["streaming"], _lines(said)
        while flooding.poll() is None or not report.waits:
            report.waits.append(first_token_seconds(visitor))
        last = _lines(said)[-1]
        assert last.startswith("{"), f"the flooding visitor ended without its report: {_lines(complained)[-20:]}"
        done = json.loads(last)
    finally:
        flooding.kill()
        sampling.set()
        said.close()
        complained.close()
    report.received, report.largest, report.updates, report.seconds, report.last, report.error = (
        done["received"], done["largest"], done["updates"], done["seconds"], done["last"] or [], done["error"])
    if stop_after:  # once the request upstream is closed (Stop's first effect), the app's next second
        deadline = time.monotonic() + 5
        while not server.disconnects and time.monotonic() < deadline:
            time.sleep(0.01)
        report.closed_upstream = bool(server.disconnects)
        before = _cpu_seconds(app_pid)
        time.sleep(1.0)
        report.cpu_after_stop = _cpu_seconds(app_pid) - before
    return report
