"""`python app.py` as a person runs it: flags, Gradio's variables, no configuration at all."""

import sys

import httpx
import pytest

from tests.conftest import ROOT, free_port, running_app


def test_flags_become_launch_arguments():
    from app import launch_kwargs

    assert launch_kwargs([]) == {"server_name": None, "server_port": None, "share": False}
    assert launch_kwargs(["--host", "0.0.0.0", "--port", "9000", "--share"]) == {
        "server_name": "0.0.0.0",
        "server_port": 9000,
        "share": True,
    }


@pytest.mark.skipif((ROOT / ".env").exists(), reason="a .env in the project would configure the app")
def test_with_no_configuration_the_app_serves_the_local_model():
    port = free_port()
    with running_app(["--port", str(port)], {}, port) as url:
        config = httpx.get(f"{url}config").text
    assert "local model" in config and "SmolLM2" in config


def test_gradio_server_port_is_honoured():
    port = free_port()
    with running_app([], {"GRADIO_SERVER_PORT": str(port), "LLM_PROVIDER": "local"}, port) as url:
        config = httpx.get(f"{url}config").text
    assert "Watch an LLM stream" in config


def test_a_broken_setting_still_opens_the_page_and_names_the_variable():
    port = free_port()
    with running_app(["--port", str(port)], {"LLM_PROVIDER": "anthropic"}, port) as url:
        config = httpx.get(f"{url}config").text
    assert "Not ready" in config and "LLM_PROVIDER must be" in config


def test_a_missing_module_fails_to_import_without_a_search_and_an_installed_one_is_untouched(monkeypatch):
    import importlib.machinery

    from gradio.utils import MatplotlibBackendMananger

    from app import missing_imports_fail_at_once

    assert "matplotlib" not in sys.modules, "installed here: this test needs it missing"
    searches = []
    find_spec = importlib.machinery.PathFinder.find_spec
    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec",
                        classmethod(lambda cls, name, *args: searches.append(name) or find_spec(name, *args)))
    with MatplotlibBackendMananger():  # what Gradio does around every step of every event
        pass
    assert searches.count("matplotlib") == 2  # missing: every path searched, on entering and on leaving
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)  # installed, not imported yet
    try:
        missing_imports_fail_at_once("matplotlib", "colorsys")
        searches.clear()
        with MatplotlibBackendMananger():
            pass
        with pytest.raises(ImportError):
            import matplotlib  # noqa: F401
        assert searches == [] and sys.modules["matplotlib"] is None
        assert "colorsys" not in sys.modules  # found, so left for its own import
    finally:
        sys.modules.pop("matplotlib", None)
