"""In headless Chromium: the page defines its words. The glossary block lists every term with
its definition, each word marked in a panel carries that same definition on hover, and a
selected step says the rule in words before its numbers, counting steps from 0.

Needs what tests/test_browser.py needs (its helpers and its app fixture are reused: one app
launch for this module).
"""

from __future__ import annotations

import re

import pytest

from tests.test_browser import (  # noqa: F401
    OUT,
    PROMPT,
    generate_and_wait,
    open_page,
    require_browser,
    server,
    step_zero,
)
from visuals.glossary import TERMS

pytestmark = [pytest.mark.browser, pytest.mark.model]

TERMS_JS = """() => [...document.querySelectorAll('abbr.sd-term')]
    .map(e => [e.innerText.trim(), e.getAttribute('title') || ''])"""
GLOSSARY_JS = """() => [...document.querySelectorAll('.sd-glossary dt')]
    .map(e => [e.innerText.trim(), e.nextElementSibling?.innerText.trim() || ''])"""


def words(page) -> None:
    # the glossary block: every term, each with its definition
    page.wait_for_selector(".sd-glossary dt", timeout=60_000)
    glossary = dict(page.evaluate(GLOSSARY_JS))
    for word, meaning in TERMS.values():
        assert glossary.get(word) == meaning, f"{word!r} is not defined in the glossary block"
    assert "mean accepted tokens per step" in glossary["MAT"].lower()
    assert "Token Recycling" in glossary["auxiliary drafter"]

    page.fill("#sd-prompt textarea", PROMPT)
    generate_and_wait(page)

    # step 0 chosen with the slider: counted from 0, explained, the rule in words first
    step_zero(page, "Step 0 of steps 0–")
    inspector = page.locator("#sd-inspector").inner_text()
    steps = int(re.search(r"Step 0 of steps 0–(\d+)", inspector)[1]) + 1
    assert f"of {steps}" not in inspector.split("·")[0]  # never "Step 0 of 37"
    assert "step 0 is the first verification step, right after the prefill" in inspector
    rule = page.locator("#sd-inspector .sd-rule-words").inner_text()
    numbers = page.locator("#sd-inspector .sd-rule-numbers").inner_text()
    assert rule.startswith("The ") and re.search(r"automaton drafts|drafts instead", rule)
    assert numbers.startswith("in numbers: ") and "l_threshold" in numbers
    assert inspector.index(rule[:40]) < inspector.index("in numbers: ")
    header = page.locator("#sd-inspector thead").inner_text()
    assert "verify order" in header and "id" in header and "#" not in header
    page.screenshot(path=str(OUT / "app-words-step0.png"), full_page=True)

    # every word marked on the page carries its glossary definition on hover
    marked = page.evaluate(TERMS_JS)
    by_word = {word: meaning for word, meaning in TERMS.values()}
    seen = set()
    for text, title in marked:
        assert title, f"the marked word {text!r} has no definition on hover"
        if text in by_word:
            assert title == by_word[text], text
            seen.add(text)
    for word in ("MAT", "bonus token", "prefill", "l_threshold", "verify order"):
        assert word in seen, f"{word!r} is not marked anywhere on the page"


def test_the_page_defines_its_words(server):  # noqa: F811
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        open_page(p, executable, server, "words", words)
