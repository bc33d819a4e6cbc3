"""Screenshots of the app's views, the ones a newcomer was shown in issue #33: a finished run, a
dynamic step selected, a step the length policy cut, the cost chart, step 0 selected, the static
automaton tab, Tune, a sampled Compare, and the playground on "abcbc".

One app launch (app.py on a free port, or --url of a running app), driven in headless Chromium
(the system Chromium and Playwright for Python, as tests/test_browser.py). Every view waits for
its own elements; a view that cannot be shown is reported and the others are still taken.

    python scripts/screenshots.py                       # into docs/screenshots/
    python scripts/screenshots.py --out test-output/screenshots --max-new 48
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_process import start_app, stop_app

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("SAMDEC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip
VIEWPORT = {"width": 1400, "height": 1300}
RUN_TIMEOUT_MS = 240_000  # one generation on a busy CPU
UI_TIMEOUT_MS = 30_000  # a panel's answer to a click
CUT_MARK = "the length policy cut"  # the inspector's words for a partly cut draft
PLAYGROUND_TEXT = "abcbc"
SAMPLED_TEMPERATURE = "0.8"

# The stream is being replaced by a live run (a caret, or "Generating…" before the first step).
_STARTED = """() => { const box = document.querySelector('#sd-stream');
  return !!box && (!!box.querySelector('.sd-caret') || box.innerText.includes('Generating')); }"""
# The run has finished: the stat line says why it stopped, the stream has tokens, no caret.
_FINISHED = """() => { const box = document.querySelector('#sd-stream');
  const stats = document.querySelector('#sd-stats')?.innerText || '';
  return !!box && stats.includes('stopped') && !box.querySelector('.sd-caret')
    && !!box.querySelector('.sd-tok'); }"""


def set_number(page, selector: str, value: str) -> None:
    box = page.locator(selector)
    box.fill(value)
    box.press("Enter")


def choose_method(page, label: str) -> None:
    """Pick a method by its menu label (samdec.methods.TABLE[...].label)."""
    page.click("#sd-method input")
    page.get_by_role("option", name=label, exact=True).click()
    page.wait_for_function(
        f"() => document.querySelector('#sd-method input')?.value === {label!r}",
        timeout=UI_TIMEOUT_MS,
    )


def open_settings(page) -> None:
    if not page.locator("input[aria-label='number input for Temperature']").is_visible():
        page.click("#sd-settings button.label-wrap, #sd-settings summary")
    page.wait_for_selector("input[aria-label='number input for Temperature']")


def generate(page, max_new: int) -> None:
    """Generate with the page's prompt and settings; return once the run has finished."""
    set_number(page, "#sd-max-new input[type=number]", str(max_new))
    page.click("#sd-generate")
    page.wait_for_function(_STARTED, timeout=UI_TIMEOUT_MS * 2)
    page.wait_for_function(_FINISHED, timeout=RUN_TIMEOUT_MS)
    page.wait_for_timeout(600)  # the figures follow the stream


def select_step(page, step: int) -> None:
    """Set the step slider to `step` and wait for the inspector to show it. (The page replays
    up to the selected step, so the stream hides later steps: the slider reaches them all.)"""
    set_number(page, "#sd-step-slider input[type=number]", str(step))
    wait_for_step(page, step)


def wait_for_step(page, step: int) -> None:
    page.wait_for_function(
        f"() => /Step {step}\\b/.test(document.querySelector('#sd-inspector')?.innerText || '')",
        timeout=UI_TIMEOUT_MS,
    )
    page.wait_for_timeout(400)  # the figures follow the inspector


def first_step_where(page, words: str) -> int | None:
    """The first step whose inspector says `words` (stepping through the run in order)."""
    last = int(page.get_attribute("#sd-step-slider input[type=range]", "max"))
    for step in range(last + 1):
        select_step(page, step)
        if words in page.inner_text("#sd-inspector"):
            return step
    return None


def shoot(page, out: Path, name: str, anchor: str | None = None) -> Path:
    """A viewport screenshot with `anchor` scrolled to the top (none: the whole page)."""
    path = out / f"{name}.png"
    if anchor is None:
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True)
    else:
        page.locator(anchor).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.evaluate("() => window.scrollBy(0, -12)")
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
    return path


# --------------------------------------------------------------------------------- the views


def finished_run(page, out: Path, max_new: int) -> list[Path]:
    """The first example (code edit, SAM + Token Recycling) with the cost-aware policy."""
    generate(page, max_new)
    return [shoot(page, out, "01-finished-run"), shoot(page, out, "01-finished-run-stream",
                                                       "#sd-stats")]  # fmt: skip


def dynamic_step(page, out: Path, max_new: int) -> list[Path]:
    dynamic = page.locator("#sd-stream .sd-tok.sd-dynamic")
    if dynamic.count() == 0:
        raise LookupError("no token of this run came from the dynamic automaton")
    step = int(dynamic.first.get_attribute("data-step"))
    dynamic.first.click()  # as a reader would: a click on a token selects its step
    wait_for_step(page, step)
    return [shoot(page, out, "02-dynamic-step", "#sd-stats")]


def policy_cut_step(page, out: Path, max_new: int) -> list[Path]:
    step = first_step_where(page, CUT_MARK)
    if step is None:
        raise LookupError("the length policy cut no draft in this run")
    return [shoot(page, out, "03-policy-cut-step", "#sd-stats")]


def cost_chart(page, out: Path, max_new: int) -> list[Path]:
    page.wait_for_selector("#sd-cost-plot .js-plotly-plot", timeout=UI_TIMEOUT_MS)
    return [shoot(page, out, "04-cost-chart", "#sd-cost-plot")]


def step_zero(page, out: Path, max_new: int) -> list[Path]:
    select_step(page, 0)
    return [shoot(page, out, "05-step-0", "#sd-stats")]


def static_tab(page, out: Path, max_new: int) -> list[Path]:
    page.get_by_role("tab", name="Static automaton (corpus)").click()
    page.wait_for_selector("#sd-static-plot .js-plotly-plot", timeout=UI_TIMEOUT_MS)
    page.wait_for_timeout(500)
    return [shoot(page, out, "06-static-tab", "#sd-automaton-tabs")]


def tune(page, out: Path, max_new: int) -> list[Path]:
    page.click("#sd-tune summary, #sd-tune button.label-wrap")
    page.click("#sd-tune-btn")
    page.wait_for_function(
        "() => document.querySelector('#sd-tune-summary')?.innerText.includes('Best')",
        timeout=RUN_TIMEOUT_MS,
    )
    page.wait_for_timeout(500)
    return [shoot(page, out, "07-tune", "#sd-tune")]


def sampled_compare(page, out: Path, max_new: int) -> list[Path]:
    open_settings(page)
    set_number(page, "input[aria-label='number input for Temperature']", SAMPLED_TEMPERATURE)
    set_number(page, "#sd-max-new input[type=number]", str(min(max_new, 48)))
    page.click("#sd-compare-btn")
    page.wait_for_function(
        "() => document.querySelector('#sd-compare')?.innerText.includes('Sampled at temperature')",
        timeout=RUN_TIMEOUT_MS,
    )
    page.wait_for_selector("#sd-compare-timeline .js-plotly-plot", timeout=UI_TIMEOUT_MS)
    page.wait_for_timeout(800)
    return [shoot(page, out, "08-sampled-compare", "#sd-compare")]


def playground(page, out: Path, max_new: int) -> list[Path]:
    page.click("#sd-playground summary, #sd-playground button.label-wrap")
    page.fill("#sd-pg-text textarea, #sd-pg-text input", PLAYGROUND_TEXT)
    page.click("#sd-pg-build")
    page.wait_for_function(
        "() => document.querySelector('#sd-pg-notice')?.innerText.includes('events')",
        timeout=UI_TIMEOUT_MS,
    )
    # the whole text read: every state and clone of "abcbc" drawn
    last = page.get_attribute("#sd-pg-slider input[type=range]", "max")
    set_number(page, "#sd-pg-slider input[type=number]", last)
    page.wait_for_function(
        f"() => document.querySelector('#sd-pg-event .sd-pg-event')?.dataset.k === '{last}'",
        timeout=UI_TIMEOUT_MS,
    )
    page.wait_for_selector("#sd-pg-plot .js-plotly-plot", timeout=UI_TIMEOUT_MS)
    page.wait_for_timeout(500)
    return [shoot(page, out, "09-playground-abcbc", "#sd-playground")]


VIEWS: tuple[tuple[str, Callable], ...] = (
    ("a finished run", finished_run),
    ("a dynamic step selected", dynamic_step),
    ("a step the length policy cut", policy_cut_step),
    ("the cost chart", cost_chart),
    ("step 0 selected", step_zero),
    ("the static automaton tab", static_tab),
    ("Tune", tune),
    ("a sampled Compare", sampled_compare),
    ("the playground on 'abcbc'", playground),
)


# ----------------------------------------------------------------------------- app, browser


def take(url: str, out: Path, max_new: int, only: set[str]) -> list[str]:
    """The views (all, or those named in `only`), in order: each builds on the page the last
    one left, so a step's view needs the finished run before it. Returns the failures."""
    from playwright.sync_api import sync_playwright

    failed = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.wait_for_selector("#sd-generate", timeout=120_000)
        for name, view in VIEWS:
            if only and view.__name__ not in only:
                continue
            start = time.time()
            try:
                paths = view(page, out, max_new)
            except Exception as exc:  # a view that fails is reported, the rest still taken
                failed.append(name)
                page.screenshot(path=str(out / f"failed-{view.__name__}.png"), full_page=True)
                print(f"FAILED {name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            shown = ", ".join(p.name for p in paths)
            print(f"{name}: {shown} ({time.time() - start:.1f} s)")
        browser.close()
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--max-new", type=int, default=64, help="tokens of the finished run")
    parser.add_argument("--url", help="a running app to use instead of starting app.py")
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="VIEW",
        choices=[view.__name__ for _, view in VIEWS],
        help="take only these views (finished_run first for a step's view)",
    )
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    proc = None
    url = args.url
    if url is None:
        (ROOT / "test-output").mkdir(exist_ok=True)
        proc, url = start_app(ROOT / "test-output" / "screenshots-server.log")
        print(f"app up at {url} after {time.time() - start:.0f} s")
    try:
        failed = take(url, args.out, args.max_new, set(args.only))
    finally:
        if proc is not None:
            stop_app(proc)
    wanted = len(args.only) or len(VIEWS)
    print(f"{wanted - len(failed)} of {wanted} views in {args.out} "
          f"({time.time() - start:.0f} s)")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
