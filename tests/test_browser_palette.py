"""The palette as the browser draws it (headless Chromium, one app launch): the computed fills of
the token roles are the palette's and clearly apart, rejected drafts carry shape marks, the
selected step is an ink outline that tints nothing, and whitespace tokens show symbols that
are not part of the text. Needs what tests/test_browser.py needs; screenshots in test-output/.
"""

from __future__ import annotations

import importlib.util
import itertools
import re

import pytest

from tests.test_browser import OUT, css_rgb, open_page, require_browser, server  # noqa: F401
from tests.test_palette import FILL_MIN, REJECTED_MIN, SELECTED_MIN
from visuals.colour_difference import difference
from visuals.palette import COLOURS, SELECTED, SOURCES, TINTS

pytestmark = [pytest.mark.browser, pytest.mark.model]

# The page helpers of the screenshot script (waiting for a run, choosing a method).
_spec = importlib.util.spec_from_file_location("screenshots", OUT.parent / "scripts/screenshots.py")
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)

MAX_NEW = 40
# Runs that between them place tokens of every source, with the fixed length policy (every
# draft verified whole, so each drafter's accepted tokens show): the code-edit prompt copies
# from its own text and the corpus, Token Recycling alone, and prompt lookup.
RUNS = (None, "Token Recycling only", "prompt lookup (n-gram)")
TRANSPARENT = "rgba(0, 0, 0, 0)"

_STYLE = """(e, pseudo) => { const s = getComputedStyle(e, pseudo || null);
  return {bg: s.backgroundColor, border: s.borderTopStyle, opacity: s.opacity,
          line: s.textDecorationLine, outline: s.outlineStyle, outlineColour: s.outlineColor,
          content: s.content}; }"""


def as_hex(rgb: str) -> str:
    r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
    return f"#{r:02X}{g:02X}{b:02X}"


def style(page, selector: str, pseudo: str = "") -> dict:
    return page.locator(selector).first.evaluate(_STYLE, pseudo)


def fills_of(page) -> dict[str, str]:
    """The computed fill of each source's tokens in the stream (all of a source's alike)."""
    found = {}
    for source in SOURCES:
        fills = page.eval_on_selector_all(
            f"#sd-stream .sd-tok.sd-{source}",
            "es => es.map(e => getComputedStyle(e).backgroundColor)",
        )
        assert len(set(fills)) <= 1, f"{source} tokens drawn in several fills: {set(fills)}"
        if fills:
            found[source] = fills[0]
    return found


def check_whitespace(page) -> set[str]:
    """The whitespace marks in this run's tokens draw their symbols, and the symbols are not
    in the text; the kinds of mark seen."""
    seen = set()
    for cls, pseudo, symbol in (("sd-nl", "::before", "↵"), ("sd-sp", "::after", "·")):
        marks = page.locator(f"#sd-stream .sd-tok .{cls}")
        if marks.count():
            seen.add(cls)
            drawn = style(page, f"#sd-stream .sd-tok .{cls}", pseudo)["content"]
            assert drawn == f'"{symbol}"', f"{cls} draws {drawn}, not {symbol}"
    text = "".join(
        page.eval_on_selector_all("#sd-stream .sd-tok", "es => es.map(e => e.textContent)")
    )
    assert "↵" not in text and "·" not in text, "a whitespace symbol is part of the text"
    if "sd-nl" in seen:
        assert "\n" in text  # the real line break is still there
    return seen


def check_selection(page) -> None:
    """Select a step with a rejected draft: an ink outline, no fill, nothing inside re-tinted."""
    before = style(page, "#sd-stream .sd-rej")
    rejected = page.locator("#sd-stream .sd-rej").first
    step = int(rejected.get_attribute("data-step"))
    rejected.click()
    shots.wait_for_step(page, step)
    chosen = f"#sd-stream .sd-sel[data-step='{step}']"
    sel = style(page, chosen)
    assert sel["outline"] == "solid" and sel["outlineColour"] == css_rgb(SELECTED)
    assert sel["bg"] == TRANSPARENT, "the selected step has a fill (it would tint its tokens)"
    assert style(page, f"{chosen} .sd-rej")["bg"] == before["bg"]
    roles = {**COLOURS, **{f"{k} tint": v for k, v in TINTS.items()}}
    for name, value in roles.items():
        assert difference(as_hex(sel["outlineColour"]), value) >= SELECTED_MIN, name
    page.screenshot(path=str(OUT / "palette-selected.png"), full_page=False)


def palette(page) -> None:
    shots.open_settings(page)
    page.get_by_label("fixed length").check()
    fills: dict[str, str] = {}
    rejected: dict | None = None
    whitespace: set[str] = set()
    for method in RUNS:
        if method:
            shots.choose_method(page, method)
        shots.generate(page, MAX_NEW)
        for source, fill in fills_of(page).items():
            assert fills.setdefault(source, fill) == fill, f"{source} drawn differently"
        whitespace |= check_whitespace(page)
        if page.locator("#sd-stream .sd-rej").count():
            rejected = style(page, "#sd-stream .sd-rej")
            assert "line-through" in style(page, "#sd-stream .sd-rej s")["line"]
    page.screenshot(path=str(OUT / "palette-run.png"), full_page=False)

    missing = set(SOURCES) - set(fills)
    assert not missing, f"no token of {missing} in the runs: the check could not see them"
    for source, fill in fills.items():
        assert fill == css_rgb(TINTS[source]), f"{source} tokens not in the palette's tint"
    for a, b in itertools.combinations(fills, 2):
        gap = difference(as_hex(fills[a]), as_hex(fills[b]))
        assert gap >= FILL_MIN, f"{a} and {b} drawn only {gap:.1f} apart"

    assert rejected is not None, "no rejected draft in the runs"
    assert rejected["border"] == "dashed", "a rejected draft has no dashed box"
    assert rejected["opacity"] == "1", "a rejected draft is see-through (the step's fill shows)"
    for source, fill in fills.items():
        assert difference(as_hex(rejected["bg"]), as_hex(fill)) >= REJECTED_MIN, source

    assert whitespace == {"sd-nl", "sd-sp"}, f"whitespace marks seen: {whitespace}"
    check_selection(page)


def test_the_palette_separates_every_role(server):  # noqa: F811 - the shared app fixture
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        open_page(p, executable, server, "palette", palette)
