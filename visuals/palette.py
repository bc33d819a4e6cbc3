"""One palette for every panel: a token, a bar, a line and a node of the same source share a colour.

Colours follow the Okabe-Ito set (distinguishable with the common colour-vision deficiencies).
Each source has a strong colour (lines, bars, borders) and a tint (token backgrounds). The tints
keep each Okabe-Ito hue but differ in lightness and chroma so that every pair stays apart for
normal vision and under the three simulated dichromacies (CIEDE2000, checked by
tests/test_palette.py); the model's own token is the palest, so drafted text stands out.
A rejected draft is marked by shape as well (struck through, dashed border), and the selected
step by an outline in ink, a colour no role uses.
"""

from __future__ import annotations

# Where an output token came from. "model" is the model's own (bonus) token of a step.
SOURCES = ("static", "dynamic", "recycling", "pld", "model")
DRAFTERS = SOURCES[:4]  # the sources a draft can come from

COLOURS = {
    "static": "#0072B2",  # blue: the static automaton (the corpus)
    "dynamic": "#009E73",  # green: the dynamic automaton (this request's own text)
    "recycling": "#E69F00",  # orange: Token Recycling (the model's earlier top-k guesses)
    "pld": "#CC79A7",  # reddish purple: prompt lookup (the text's last n-gram, method pld)
    "model": "#6B7280",  # grey: the model's own token (the "bonus" token of every step)
    "none": "#CBD5E1",  # a step that verified no draft
    "rejected": "#D55E00",  # vermilion: a drafted token the model did not agree with
}

# Found by a search over lightness and chroma at each colour's own hue: the smallest pairwise
# difference, normal or dichromat, as large as it gets with dark text still at contrast >= 7.
TINTS = {
    "static": "#7DBAFA",
    "dynamic": "#92E7C3",
    "recycling": "#FFCF8D",
    "pld": "#EBA3CA",
    "model": "#F3F4F6",
    "none": "#F1F5F9",
    "rejected": "#FFE4D6",  # pale: a rejected token is told apart by its marks, not its fill
}

LABELS = {
    "static": "static automaton",
    "dynamic": "dynamic automaton",
    "recycling": "Token Recycling",
    "pld": "prompt lookup",
    "model": "model's own token",
    "none": "no draft",
    "rejected": "rejected draft",
}

SHORT = {
    "static": "static",
    "dynamic": "dynamic",
    "recycling": "recycling",
    "pld": "pld",
    "model": "model",
    "none": "none",
    "rejected": "rejected",
}

INK = "#1F2937"  # text
MUTED = "#6B7280"
GRID = "#E5E7EB"
THRESHOLD = "#7C3AED"  # l_threshold line (violet: no source owns it)
SELECTED = "#111827"  # the selected step / the current automaton state: an outline in ink
NEW_STATE = "#F59E0B"  # states created by the last step
ROOT = "#FFFFFF"

FONT = "Inter, ui-sans-serif, system-ui, -apple-system, 'Segoe UI', sans-serif"
MONO = "'JetBrains Mono', ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"


def colour(source: str) -> str:
    return COLOURS.get(source, COLOURS["none"])


def tint(source: str) -> str:
    return TINTS.get(source, TINTS["none"])


def css_variables() -> str:
    """The palette as CSS custom properties (the app's stylesheet reads these)."""
    lines = [f"  --sd-{name}: {value};" for name, value in COLOURS.items()]
    lines += [f"  --sd-{name}-tint: {value};" for name, value in TINTS.items()]
    lines += [f"  --sd-selected: {SELECTED};", f"  --sd-threshold: {THRESHOLD};"]
    return ":root {\n" + "\n".join(lines) + "\n}\n"
