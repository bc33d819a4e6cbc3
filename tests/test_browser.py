"""End to end in headless Chromium: type a prompt, generate, see the panels, replay a step;
and the automaton playground: build a text's automaton, step to a clone and back.

Needs Chromium from Debian (`apt-get install -y chromium`) and Playwright for Python
(`pip install playwright`; no `playwright install`: the system Chromium is used). Screenshots
go to test-output/.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from visuals.palette import TINTS

pytestmark = [pytest.mark.browser, pytest.mark.model]

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-output"
CHROMIUM = os.environ.get("SAMDEC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROMPT = (
    "Fix the bug in this function and show the corrected code:\n\n"
    "def total(items):\n    result = 0\n    for item in items:\n        result += item\n"
    "    return reslt"
)


def css_rgb(hex_colour: str) -> str:
    """'#RRGGBB' as the browser's computed style writes it: 'rgb(r, g, b)'."""
    r, g, b = (int(hex_colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


def generate_and_wait(page, max_new: str = "24") -> None:
    """Set the output length, press Generate and wait until the run has stopped."""
    box = page.locator("#sd-max-new input[type=number]")
    box.fill(max_new)
    box.press("Enter")
    page.click("#sd-generate")
    page.wait_for_function(
        "() => document.querySelector('#sd-stats')?.innerText.includes('stopped')",
        timeout=180_000,
    )
    page.wait_for_timeout(800)


def step_zero(page, says: str = "Step 0 of") -> None:
    """Scrub the step slider to its first step and wait until the inspector `says` so."""
    slider = page.locator("#sd-step-slider input[type=range]")
    slider.focus()
    slider.press("Home")
    page.wait_for_function(
        f"() => document.querySelector('#sd-inspector')?.innerText.includes({says!r})",
        timeout=30_000,
    )
    page.wait_for_timeout(500)


def require_browser():
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. Install it with: "
            "apt-get update && apt-get install -y chromium   (as root)",
            pytrace=False,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(
            "Playwright for Python is missing. Install it with: pip install playwright "
            "(do not run `playwright install`: the system Chromium is used)",
            pytrace=False,
        )
    return CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    env.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    OUT.mkdir(exist_ok=True)
    log = open(OUT / "browser-server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail("app.py did not answer within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def drive(page) -> None:
    """Generate, check every panel, select a step by clicking, replay with the slider."""
    page.fill("#sd-prompt textarea", PROMPT)
    max_new = page.locator("#sd-max-new input[type=number]")
    max_new.fill("40")
    max_new.press("Enter")
    page.click("#sd-generate")

    # live: coloured tokens appear while decoding
    page.wait_for_selector("#sd-stream .sd-tok", timeout=120_000)
    page.screenshot(path=str(OUT / "app-live.png"), full_page=True)
    page.wait_for_function(
        "() => document.querySelector('#sd-stats')?.innerText.includes('stopped')",
        timeout=180_000,
    )
    page.wait_for_timeout(800)

    # output stream: one coloured span per token, the same number as the stat card says
    tokens = page.locator("#sd-stream .sd-tok")
    count = tokens.count()
    first_card = page.locator("#sd-stats .sd-card-v").first.inner_text()
    assert count == int(first_card) > 0
    assert count <= 40
    model_bg = page.eval_on_selector(
        "#sd-stream .sd-tok.sd-model", "e => getComputedStyle(e).backgroundColor"
    )
    assert model_bg == css_rgb(TINTS["model"])  # the model-token tint of the palette
    title = tokens.first.get_attribute("title")
    assert title.startswith("step 0")
    assert page.locator(".sd-legend .sd-chip").count() == 6  # four drafters, the model, rejected

    # the automaton view and the charts are drawn. The automaton tab follows the drafter of
    # the selected step, so the dynamic tab is chosen by hand before its plot is checked.
    page.get_by_role("tab", name="Dynamic automaton (this text)").click()
    for plot in ("#sd-dyn-plot", "#sd-match-plot", "#sd-steps-plot"):
        page.wait_for_selector(f"{plot} .js-plotly-plot", timeout=30_000)
    states = page.locator("#sd-dyn-plot .scatterlayer .point").count()
    assert states >= 2
    assert "Step" in page.locator("#sd-inspector").inner_text()

    page.screenshot(path=str(OUT / "app.png"), full_page=True)

    # clicking a token selects its step
    target = tokens.nth(min(3, count - 1))
    step = int(target.get_attribute("data-step"))
    target.click()
    page.wait_for_function(
        f"() => document.querySelector('#sd-inspector')?.innerText.includes('Step {step} of')",
        timeout=30_000,
    )
    assert page.locator(f"#sd-stream .sd-sel[data-step='{step}']").count() == 1

    # scrubbing the step slider replays: step 0, the later tokens hidden
    step_zero(page)
    replay_tokens = page.locator("#sd-stream .sd-tok").count()
    assert 0 < replay_tokens < count or count == replay_tokens == 1
    assert "hidden" in page.locator("#sd-stream").inner_text() or count == replay_tokens
    page.screenshot(path=str(OUT / "app-replay.png"), full_page=True)

    compare_and_tune(page)
    body = page.locator("body").inner_text()
    assert not re.search(r"Traceback|Error\b", body), "an error reached the page"


def compare_and_tune(page) -> None:
    """The comparison and the tuning heatmap, driven through the page's own controls (they
    read the settings by name: a wrong binding shows up here as an error or a wrong row)."""
    page.click("#sd-compare-btn")
    page.wait_for_function(
        "() => document.querySelector('#sd-compare-table')?.innerText.includes('identical')",
        timeout=180_000,
    )
    table = page.locator("#sd-compare-table").inner_text()
    assert "plain decoding" in table and "prompt lookup" in table and "(samdec)" in table
    assert "differs" not in table
    page.click("#sd-tune summary, #sd-tune button.label-wrap")
    page.click("#sd-tune-btn")
    page.wait_for_function(
        "() => document.querySelector('#sd-tune-summary')?.innerText.includes('Best: l_bias')",
        timeout=180_000,
    )
    best = re.search(r"Best: l_bias (\d+), l_threshold (\d+)", page.inner_text("#sd-tune-summary"))
    page.click("#sd-tune-apply")
    page.click("#sd-settings button.label-wrap, #sd-settings summary")
    for elem, value in (("#sd-l-bias", best[1]), ("#sd-l-threshold", best[2])):
        page.wait_for_function(
            f"() => document.querySelector('{elem} input[type=number]')?.value === '{value}'",
            timeout=30_000,
        )
    page.screenshot(path=str(OUT / "app-compare-tune.png"), full_page=True)


SELECTED_TAB = "#sd-automaton-tabs button[role=tab][aria-selected=true]"


def static_tab(page) -> None:
    """The "Static corpus hit" example drafts from the static automaton: with the dynamic tab
    chosen by hand, selecting a statically drafted step brings the static tab forward."""
    page.get_by_role("button", name="Static corpus hit").click()
    page.wait_for_function(
        "() => document.querySelector('#sd-prompt textarea')?.value.startsWith('Natalia')",
        timeout=30_000,
    )
    generate_and_wait(page)
    page.get_by_role("tab", name="Dynamic automaton (this text)").click()
    page.wait_for_function(
        f"() => document.querySelector('{SELECTED_TAB}')?.innerText.includes('Dynamic')"
    )
    static = page.locator("#sd-stream .sd-tok.sd-static")
    assert static.count() > 0, "no token drafted by the static automaton"
    step = int(static.first.get_attribute("data-step"))
    static.first.click()
    page.wait_for_function(
        f"() => document.querySelector('#sd-inspector')?.innerText.includes('Step {step} of')",
        timeout=30_000,
    )
    page.wait_for_function(
        f"() => document.querySelector('{SELECTED_TAB}')?.innerText.includes('Static')",
        timeout=30_000,
    )
    page.wait_for_selector("#sd-static-plot .js-plotly-plot", timeout=30_000)
    assert page.locator("#sd-static-plot .scatterlayer .point").count() >= 2
    assert "root" in page.locator("#sd-static-plot").inner_text()
    page.screenshot(path=str(OUT / "app-static-tab.png"), full_page=True)


def endpos_classes(text: str) -> int:
    """Brute force: the distinct sets of end positions of the substrings of `text`."""
    classes = set()
    for i in range(len(text)):
        for j in range(i + 1, len(text) + 1):
            n = j - i
            ends = [e for e in range(n - 1, len(text)) if text[e - n + 1 : e + 1] == text[i:j]]
            classes.add(frozenset(ends))
    return len(classes)


def playground(page) -> None:
    """Build "abcbc", step to its first clone and back, and count the states."""
    text = "abcbc"
    page.click("#sd-playground summary, #sd-playground button.label-wrap")
    page.fill("#sd-pg-text textarea, #sd-pg-text input", text)
    page.click("#sd-pg-build")
    event = "#sd-pg-event .sd-pg-event"

    def at(k: int) -> None:
        page.wait_for_function(
            f"() => document.querySelector('{event}')?.dataset.k === '{k}'", timeout=30_000
        )

    def kind() -> str:
        return page.get_attribute(event, "data-kind")

    page.wait_for_function(
        "() => document.querySelector('#sd-pg-notice')?.innerText.includes('events')",
        timeout=30_000,
    )
    at(0)
    # the finished automaton's state count, as the page says it, against a brute-force count
    # of the end-position classes (+1: the root, the empty string's)
    final = int(page.inner_text(f"{event} .sd-pg-final"))
    assert final == endpos_classes(text) + 1 == 8
    for _ in range(3):  # "abc": three whole symbols, no clone yet
        k = int(page.get_attribute(event, "data-k"))
        page.click("#sd-pg-next")
        page.wait_for_function(
            f"() => document.querySelector('{event}').dataset.k !== '{k}'", timeout=30_000
        )
    states = "#sd-pg-plot .scatterlayer .point"
    for _ in range(12):  # then event by event, up to the clone
        if kind() == "clone":
            break
        k = int(page.get_attribute(event, "data-k"))
        page.click("#sd-pg-forward")
        at(k + 1)
    assert kind() == "clone", "no clone within 12 events of the fourth symbol"
    k = int(page.get_attribute(event, "data-k"))
    now = int(page.inner_text(f"{event} .sd-pg-now"))
    assert now == 6 and "Clone state" in page.inner_text(event)
    page.wait_for_function(f"() => document.querySelectorAll('{states}').length === {now}")
    assert "a clone of state" in page.inner_text("#sd-pg-inspector")
    page.screenshot(path=str(OUT / "playground-clone.png"), full_page=True)

    page.click("#sd-pg-back")
    at(k - 1)
    assert kind() != "clone" and "clone" not in page.inner_text(event).lower()
    assert int(page.inner_text(f"{event} .sd-pg-now")) == now - 1
    page.wait_for_function(f"() => document.querySelectorAll('{states}').length === {now - 1}")
    page.screenshot(path=str(OUT / "playground-back.png"), full_page=True)

    page.click("#sd-pg-send")
    page.wait_for_function(
        f"() => document.querySelector('#sd-prompt textarea')?.value === '{text}'", timeout=30_000
    )


def open_page(p, executable: str, server: str, name: str, steps) -> None:
    """Open the app in a fresh browser, run `steps(page)`; on failure a screenshot
    (test-output/<name>-failure.png) and the server log's tail."""
    browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        page.goto(server)
        page.wait_for_selector("#sd-generate", timeout=60_000)
        steps(page)
        assert not script_errors, f"JavaScript errors on the page: {script_errors}"
    except Exception as exc:
        page.screenshot(path=str(OUT / f"{name}-failure.png"), full_page=True)
        log = (OUT / "browser-server.log").read_text(errors="replace")[-4000:]
        raise AssertionError(f"{exc}\n--- server log (tail) ---\n{log}") from exc
    finally:
        browser.close()


def test_generate_watch_and_replay(server):
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        open_page(p, executable, server, "app", drive)


def test_automaton_playground(server):
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        open_page(p, executable, server, "playground", playground)


def test_the_automaton_tab_follows_the_drafter(server):
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        open_page(p, executable, server, "static-tab", static_tab)
