"""docs/serving.md, "Serving many users": two app processes behind Debian's nginx with deploy/nginx.conf.

Each visitor's stream and Debug table must come through intact, and ip_hash must keep each
visitor on one process while spreading visitors over both. Skipped where nginx is not
installed, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.load import Endpoint, run_users
from tests.conftest import ROOT, SECRET, free_port, start_app
from tests.openai_server import FakeOpenAIServer, Scenario, numbered_tokens

pytestmark = pytest.mark.slow

TOKENS = numbered_tokens(50)
VISITORS = [f"127.0.{i}.1" for i in range(1, 9)]  # eight /24s: eight different visitors to ip_hash


def render_config(app_ports: list[int], port: int) -> str:
    """deploy/nginx.conf with its example ports swapped for free ones."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for example, real in zip(["7861", "7862"], app_ports):
        assert f"127.0.0.1:{example};" in text
        text = text.replace(f"127.0.0.1:{example};", f"127.0.0.1:{real};")
    return text.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};")


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory) -> Iterator[tuple[str, list[FakeOpenAIServer]]]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (apt-get install nginx)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    servers = [FakeOpenAIServer(Scenario(tokens=TOKENS, rate=50)).start() for _ in range(2)]
    ports, apps = [free_port(), free_port()], []
    prefix = tmp_path_factory.mktemp("nginx")
    (prefix / "logs").mkdir()
    port = free_port()
    (prefix / "nginx.conf").write_text(render_config(ports, port))
    try:
        for app_port, server in zip(ports, servers):
            env = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "fake"}
            apps.append(start_app(["--port", str(app_port)], env, app_port))
        proxy = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 20
        while not _answers(url):
            assert proxy.poll() is None, proxy.stdout.read().decode()
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.1)
        yield url, servers
        proxy.terminate()
        proxy.wait(timeout=10)
    finally:
        for app in apps:
            app.terminate()
            app.wait(timeout=20)
        for server in servers:
            server.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_each_visitor_streams_whole_answers_through_nginx_on_one_of_two_processes(behind_nginx):
    url, servers = behind_nginx
    for server in servers:
        server.reset(Scenario(tokens=TOKENS, rate=50))
    chat = Endpoint.find(url, "chat")

    async def everyone():
        return await asyncio.gather(*(run_users(chat, [["hi", "", 0.5, 500, "fake", ""]] * 2, "w0", local_address=a)
                                      for a in VISITORS))

    visitors = asyncio.run(everyone())
    expected = "".join(TOKENS)
    for users in visitors:
        for user in users:
            assert user.error is None and user.outputs[0] == expected
            assert "".join(json.loads(row[3]) for row in user.outputs[3]) == expected  # every chunk in Debug
            assert user.updates >= 10  # streamed, not one buffered burst at the end
            assert user.first_token < user.finished - 0.3  # the first token came long before the 1-second end
    served = [len(server.requests) for server in servers]
    assert sum(served) == 2 * len(VISITORS) and min(served) > 0  # both processes serve; none lost


@pytest.mark.browser
def test_the_page_works_through_nginx(open_page, behind_nginx):
    from tests.test_browser import assert_table_has_rows, send, wait_for_answer

    url, servers = behind_nginx
    for server in servers:
        server.reset(Scenario(tokens=numbered_tokens(8), rate=50))
    page = open_page(url)
    send(page, "hello through the proxy")
    wait_for_answer(page, "".join(numbered_tokens(8)))
    page.get_by_role("tab", name="Debug").click()
    assert_table_has_rows(page, 12)  # 8 tokens and 4 chunks without text, as in test_browser
