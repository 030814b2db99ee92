"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The server runs in this process (uvicorn in a thread), so the tests can also
check that closing a tab leaves no training thread behind. Skipped where
Chromium or Playwright is not installed; ``.ci/run`` installs both.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

from mlplab.playground import create_app  # noqa: E402
from mlplab.playground_core import Settings, parse_settings, preset  # noqa: E402
from mlplab.playground_runs import run_seeds  # noqa: E402

# The README's screenshot is refreshed only on request (MLPLAB_UPDATE_SCREENSHOT=1),
# so that a test run leaves the checkout unchanged.
README_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "playground.png"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.slow


def _training_threads():
    return [t for t in threading.enumerate() if t.name.startswith("mlplab-train-")]


def _wait(predicate, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    assert _wait(lambda: srv.started, 20)
    yield app, f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 1150})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors


def _open(page, url):
    page.goto(url)
    page.wait_for_selector("#status:has-text('epoch')", timeout=30_000)


def test_original_xor_is_solved_live_and_twenty_seeds_run(server, page, tmp_path):
    _, base = server
    _open(page, base + "/")
    page.click("#preset-corrected")
    page.wait_for_function("document.querySelector('#s-activation').value == 'sigmoid'")
    page.wait_for_selector("#status:has-text('epoch 0 ')")
    page.click("#play")
    page.wait_for_selector("#xor-status:has-text('solves XOR')", timeout=60_000)
    loss = float(page.text_content("#loss-value"))
    assert 0 < loss < 1.0  # below the constant-output plateau of the stalled runs
    for row in page.query_selector_all("#xor-table tbody tr"):
        assert row.query_selector("td:last-child").text_content() == "✓"
    page.fill("#s-seeds", "20")
    page.dispatch_event("#s-seeds", "change")
    page.click("#run-seeds")
    page.wait_for_selector("#success-rate", timeout=60_000)
    shown = float(page.text_content("#success-rate").rstrip("%")) / 100
    expected = run_seeds(preset(fixed=True), 20)["rate"]
    assert shown == pytest.approx(expected, abs=1e-3)
    assert re.search(
        r"of 20 seeds solved \(95% Wilson interval", page.text_content("#seed-rate")
    )
    page.click("#run-heatmap")
    page.wait_for_selector("#heatmap td", timeout=90_000)
    page.wait_for_selector("#xor-status:has-text('solves XOR')")
    screenshot = (README_SCREENSHOT if os.environ.get("MLPLAB_UPDATE_SCREENSHOT")
                  else tmp_path / "playground.png")
    screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_a_url_restores_every_control(server, page):
    _, base = server
    wanted = Settings(
        data="circles",
        noise=0.15,
        points=240,
        test=0.3,
        hidden=(6, 3),
        activation="tanh",
        loss="binary_cross_entropy",
        init="he_uniform",
        bias=True,
        optimizer="rmsprop",
        lr=0.07,
        momentum=0.85,
        style="dampened",
        dampening=0.25,
        nesterov=True,
        batch=16,
        seed=11,
        epochs=1234,
        solve=0.9,
        seeds=40,
    )
    assert all(
        getattr(wanted, f) != getattr(Settings(), f) for f in wanted.to_query()
    )  # every control differs from its default
    _open(page, base + "/?" + urlencode(wanted.to_query()))
    shown = {}
    for name in wanted.to_query():
        control = page.locator(f"#s-{name}")
        if control.get_attribute("type") == "checkbox":
            shown[name] = "1" if control.is_checked() else "0"
        else:
            shown[name] = control.input_value()
    assert parse_settings(shown) == wanted
    assert parse_settings(dict(parse_qsl(urlparse(page.url).query))) == wanted
    assert page.text_content("#status").startswith("epoch 0 / 1234")


def test_a_bad_url_shows_the_error_and_the_defaults(server, page):
    _, base = server
    _open(page, base + "/?lr=-2")
    assert "lr must be > 0" in page.text_content("#error")
    assert page.input_value("#s-lr") == Settings().to_query()["lr"]


def test_closing_a_tab_stops_its_training_and_tabs_are_independent(server, browser):
    app, base = server
    registry = app.state.registry
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    _open(first, base + "/?epochs=100000")
    _open(second, base + "/?epochs=100000&seed=5")
    first.click("#play")
    first.wait_for_selector("#play:has-text('Pause')")
    assert _wait(lambda: bool(_training_threads()))
    time.sleep(0.3)
    assert second.text_content("#status").startswith("epoch 0 /")
    assert len(registry.sessions) == 2
    first.close()
    assert _wait(lambda: not _training_threads())
    assert _wait(lambda: len(registry.sessions) == 1)
    second.click("#step")
    second.wait_for_selector("#status:has-text('epoch 1 /')")
    context.close()
    assert _wait(lambda: not registry.sessions)
