"""One palette for every panel: a token, a bar, a line and a node of the same source share a colour.

Colours follow the Okabe-Ito set (distinguishable with the common colour-vision deficiencies).
Each source has a strong colour (lines, bars, borders) and a light tint (token backgrounds).
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

TINTS = {
    "static": "#D6E9F8",
    "dynamic": "#D2F2E6",
    "recycling": "#FDEBC8",
    "pld": "#F5DDEA",
    "model": "#ECEEF1",
    "none": "#F1F5F9",
    "rejected": "#FBE1D3",
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
SELECTED = "#FACC15"  # the selected step / the current automaton state
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
