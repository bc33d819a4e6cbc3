"""The palette keeps every role apart (numerically: CIEDE2000, for normal vision and the three
simulated dichromacies), marks rejected drafts by shape, the selected step by an ink outline,
and the stream draws whitespace as symbols while its text stays the model's text."""

from __future__ import annotations

import html
import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import visuals as V
from samdec.trace import Trace
from visuals.colour_difference import DICHROMACY, contrast_ratio, delta_e, difference
from visuals.palette import COLOURS, INK, SELECTED, SOURCES, TINTS
from visuals.stream import WHITESPACE_CLASS, WHITESPACE_SYMBOL, visible

ROOT = Path(__file__).resolve().parent.parent
CSS = (ROOT / "assets" / "style.css").read_text(encoding="utf-8")
DATA = Path(__file__).parent / "data"
TRACES = ["trace_sam_recycling.json", "trace_sam.json"]
VISIONS = ("normal", *DICHROMACY)

# Token fills apart by at least this much (ΔE2000 about 2 is just noticeable side by side;
# tokens are compared across a line of text, so far more), and under a simulated dichromacy,
# where every hue pair loses some of its difference, by at least DICHROMAT_MIN.
FILL_MIN = 20.0
DICHROMAT_MIN = 8.0
REJECTED_MIN = 10.0  # the rejected fill: its shape marks carry it under a dichromacy
SELECTED_MIN = 20.0

# The palette the issue found confusing (peach "rejected" beside light-yellow Token
# Recycling; static's light blue beside the model's grey): the checks must refuse it.
OLD_TINTS = {
    "static": "#D6E9F8",
    "dynamic": "#D2F2E6",
    "recycling": "#FDEBC8",
    "pld": "#F5DDEA",
    "model": "#ECEEF1",
    "rejected": "#FBE1D3",
}
OLD_SELECTED_FILL = "#FEF9C3"


def closest_fills(tints: dict[str, str], vision: str) -> tuple[float, str, str]:
    return min(
        (difference(tints[a], tints[b], vision), a, b)
        for a, b in itertools.combinations(SOURCES, 2)
    )


def test_delta_e_matches_the_published_test_pairs():
    # Sharma, Wu and Dalal (2005), table 1: pairs chosen to exercise each term of the formula.
    pairs = [
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),  # hue angles across 0/360
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
        ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
        ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
        ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
    ]
    for first, second, expected in pairs:
        assert delta_e(first, second) == pytest.approx(expected, abs=1e-4)
        assert delta_e(second, first) == pytest.approx(expected, abs=1e-4)


def test_the_dichromacy_simulation_loses_the_right_differences():
    # red against green: plain to normal vision, close for a deuteranope and a protanope;
    # blue against green (the tritan confusion) stays apart for those two.
    red, green, blue = "#D81B1B", "#3A9A1A", "#2A7FD0"
    assert difference(red, green) > 40
    for vision in ("deuteranopia", "protanopia"):
        assert difference(red, green, vision) < difference(red, green) / 2
        assert difference(blue, green, vision) > 20
    assert difference(blue, green, "tritanopia") < difference(blue, green) / 2


@pytest.mark.parametrize("vision", VISIONS)
def test_every_token_fill_is_clearly_apart(vision):
    least = FILL_MIN if vision == "normal" else DICHROMAT_MIN
    gap, a, b = closest_fills(TINTS, vision)
    assert gap >= least, f"{a} and {b} fills only {gap:.1f} apart ({vision})"


def test_the_old_palette_fails_the_same_checks():
    # negative control: the numbers reject the palette the issue complained about
    assert closest_fills(OLD_TINTS, "normal")[0] < FILL_MIN
    assert difference(OLD_TINTS["static"], OLD_TINTS["model"]) < FILL_MIN
    assert difference(OLD_TINTS["recycling"], OLD_TINTS["rejected"]) < FILL_MIN
    assert difference(OLD_SELECTED_FILL, OLD_TINTS["recycling"]) < SELECTED_MIN


def test_the_rejected_fill_is_apart_and_its_marks_are_shapes():
    for source in SOURCES:
        assert difference(TINTS["rejected"], TINTS[source]) >= REJECTED_MIN, source
    rule = re.search(r"\n\.sd-rej \{([^}]*)\}", CSS)[1]
    assert "dashed" in rule and "opacity" not in rule  # (opacity let the step's fill through)
    assert "line-through" in re.search(r"\n\.sd-rej s \{([^}]*)\}", CSS)[1]


def test_text_reads_on_every_fill():
    for name, fill in TINTS.items():
        assert contrast_ratio(INK, fill) >= 7, name  # WCAG AAA for body text


def test_the_selected_step_is_an_outline_in_no_role_colour():
    for name, value in {**COLOURS, **{f"{k} tint": v for k, v in TINTS.items()}}.items():
        assert difference(SELECTED, value) >= SELECTED_MIN, name
    rule = re.search(r"\n\.sd-step\.sd-sel \{([^}]*)\}", CSS)[1]
    assert "outline" in rule and "var(--sd-selected)" in rule
    assert "background" not in rule  # a fill would tint the step's tokens


def test_the_stylesheet_carries_the_palette():
    for name, value in TINTS.items():
        assert f"--sd-{name}-tint: {value};" in CSS, name
    assert f"--sd-selected: {SELECTED};" in CSS
    # every whitespace class the stream emits has its symbol in the stylesheet
    for char, cls in WHITESPACE_CLASS.items():
        symbol = WHITESPACE_SYMBOL[char]
        assert re.search(rf'\.{cls}::(before|after) \{{ content: "{symbol}"', CSS), cls


# ------------------------------------------------------------------------------ whitespace


class TokenText(HTMLParser):
    """The text inside .sd-tok spans, and the classes of the whitespace marks in them."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # >0 inside a token
        self.text: list[str] = []
        self.marks: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if self.depth or "sd-tok" in classes:
            self.depth += 1
        if self.depth and "sd-ws" in classes:
            self.marks.extend(c for c in classes if c != "sd-ws")

    def handle_endtag(self, tag):
        self.depth = max(0, self.depth - 1)

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def token_text(page: str) -> TokenText:
    parser = TokenText()
    parser.feed(page)
    return parser


@pytest.mark.parametrize(
    "text", ["", " ", "   ", "\n", "\n    ", "\t", " the", "a\nb", "<b>&amp;", " \t\n"]
)
def test_visible_keeps_the_text_and_marks_whitespace(text):
    shown = visible(text)
    parsed = token_text(f'<span class="sd-tok">{shown}</span>')
    assert "".join(parsed.text) == text  # what a copy of the page gives
    for symbol in WHITESPACE_SYMBOL.values():
        assert symbol not in html.unescape(re.sub(r"<[^>]+>", "", shown))
    whitespace_only = text.strip() == ""
    marked = [WHITESPACE_CLASS[c] for c in text if c in "\n\t" or (c == " " and whitespace_only)]
    assert parsed.marks == (marked if text else ["sd-nothing"])


def test_the_stream_text_is_the_output_and_its_whitespace_tokens_are_marked():
    for name in TRACES:
        trace = Trace.from_dict(json.loads((DATA / name).read_text(encoding="utf-8")))
        parsed = token_text(V.stream_html(trace))
        pieces = [p for ev in trace.steps for p in ev.new_pieces]
        assert "".join(parsed.text) == "".join(pieces)
        blank = [p for p in pieces if p.strip() == ""]
        assert blank, f"{name}: the fixture has no whitespace-only token to check"
        assert parsed.marks.count("sd-sp") == sum(p.count(" ") for p in blank)
        assert parsed.marks.count("sd-nl") == "".join(pieces).count("\n")
