"""The words the page uses, each defined once: the glossary block under "How it works" lists
them, and a panel marks a term where it first uses it (`term`: an <abbr> whose hover is the
definition), so no panel defines a word in its own way.

Also the page's one counting convention (`numbered`): steps, positions and symbols are counted
from 0, like the trace, the step slider and the playground's boxes; a total is said as the
range of numbers that exist ("step 3 of steps 0–36"), never as "3 of 37", which mixes the two.
"""

from __future__ import annotations

import html
import re

# key -> (the term as the page writes it, its definition). Plain text: escaped where used.
TERMS: dict[str, tuple[str, str]] = {
    "step": (
        "step",
        "One verification step: the model reads the last token of the text and the draft in "
        "one forward pass and keeps what it agrees with. Steps are numbered from 0, like the "
        "step slider.",
    ),
    "step0": (
        "step 0",
        "The first verification step, right after the prefill. The dynamic automaton then "
        "holds only the prompt, so it can draft only what repeats inside the prompt.",
    ),
    "prefill": (
        "prefill",
        "Reading the prompt: one forward pass over the prompt's tokens (all but the last, "
        "which step 0 feeds) that fills the model's cache before anything is generated. Its "
        "time counts in the run's tokens/s.",
    ),
    "forward": (
        "forward pass",
        "One run of the model over some tokens. Plain decoding needs one per token; a "
        "verification step checks a whole draft in one.",
    ),
    "draft": (
        "draft",
        "Tokens guessed cheaply (by a suffix automaton, Token Recycling or prompt lookup) for "
        "the model to check in one forward pass.",
    ),
    "bonus": (
        "bonus token",
        "The model's own token at the end of every step: the forward pass that checks the "
        "draft also says what the model writes after the last accepted draft token, so that "
        "token comes free. Grey in the text, ★ in the inspector.",
    ),
    "auxiliary": (
        "auxiliary drafter",
        "Token Recycling: the drafter the rule falls back on when neither automaton's match "
        "is long enough (shorter than l_threshold). It reuses the model's own top guesses "
        "from earlier passes.",
    ),
    "l_bias": (
        "l_bias",
        "Taken off the static automaton's match before the two matches are compared: a "
        "match in this very text (dynamic) is trusted more than one in the corpus.",
    ),
    "l_threshold": (
        "l_threshold",
        "The shortest match the rule trusts: if the longer match (static less l_bias, or "
        "dynamic) is shorter, the auxiliary drafter (Token Recycling) drafts instead.",
    ),
    "mat": (
        "MAT",
        "Mean accepted tokens per step: the tokens each step appends on average, its bonus "
        "token included (tokens ÷ steps). Plain decoding's MAT is 1.",
    ),
    "expected": (
        "expected tokens",
        "The length policy's estimate of what a step appends: 1 (the bonus token) plus, for "
        "each draft token, its estimated chance of being accepted. Those chances start from "
        "rates fitted on the model's earlier answers and are updated by every step of this "
        "request.",
    ),
    "ar": (
        "ar",
        "Autoregressive decoding, the plain way: one forward pass per token, no draft. The "
        "reference every other method is compared with.",
    ),
    "eos": (
        "eos",
        "End of sequence: the special token with which the model says its answer is "
        "finished. Generation stops there (stopped: eos).",
    ),
    "q4_1": (
        "Q4_1",
        "The format of the bundled model's weight file (GGUF Q4_1: 4-bit weights, each block "
        "of 32 with its own scale and offset). The weights are expanded to float32 when "
        "loaded: the model computes in float32.",
    ),
    "more": (
        "+N",
        "After a step's rejected tokens: N more rejected draft tokens that are not shown "
        "inline (a tree may try several per position). Hover the +N to list them.",
    ),
    "order": (
        "verify order",
        "A draft token's number in the order the draft was laid out for the model to verify, "
        "from 0; in a tree every token comes after the token it continues.",
    ),
    "token_id": (
        "token id",
        "The token's number in the model's vocabulary (the tokenizer's id); the inspector "
        "writes it after the token's text: id 1234.",
    ),
}

# The order of the glossary block: what a newcomer meets first, first.
ORDER = ("step", "step0", "prefill", "forward", "draft", "bonus", "auxiliary", "l_bias",
         "l_threshold", "mat", "expected", "ar", "eos", "q4_1", "more", "order",
         "token_id")  # fmt: skip


def definition(key: str) -> str:
    return TERMS[key][1]


def term(key: str, text: str | None = None) -> str:
    """The term (or `text`, plain) as HTML, its definition on hover."""
    word, meaning = TERMS[key]
    return (
        f'<abbr class="sd-term" title="{html.escape(meaning)}">'
        f"{html.escape(text if text is not None else word)}</abbr>"
    )


def annotate(escaped: str, keys: tuple[str, ...]) -> str:
    """Escaped plain text with the first whole-word use of each term of `keys` marked (its
    definition on hover). Only for text without tags; every match is found in the text as
    given, so a definition just inserted is never searched for a term."""
    found = []
    for key in keys:
        word = html.escape(TERMS[key][0])
        hit = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", escaped)
        if hit and not any(hit.start() < end and start < hit.end() for start, end, _ in found):
            found.append((hit.start(), hit.end(), key))
    for start, end, key in sorted(found, reverse=True):
        escaped = escaped[:start] + term(key, TERMS[key][0]) + escaped[end:]
    return escaped


def glossary_html(keys: tuple[str, ...] = ORDER) -> str:
    """The small glossary block: each term and its definition, once for the whole page."""
    rows = "".join(
        f'<dt id="sd-term-{key}">{html.escape(TERMS[key][0])}</dt>'
        f"<dd>{html.escape(TERMS[key][1])}</dd>"
        for key in keys
    )
    return (
        '<div class="sd-glossary"><h4>Words on this page</h4>'
        "<p>Hover a dotted word anywhere on the page for its meaning. Steps and positions "
        "are counted from 0.</p>"
        f"<dl>{rows}</dl></div>"
    )


def of_range(noun: str, total: int, plural: str | None = None) -> str:
    """Where a number counted from 0 lies among `total`: "of steps 0–36" ("the only step"
    for one)."""
    if total <= 1:
        return f"(the only {noun})"
    return f"of {plural or noun + 's'} 0–{total - 1}"


def numbered(noun: str, index: int, total: int, plural: str | None = None) -> str:
    """`noun` number `index` among `total`, counted from 0: "step 3 of steps 0–36", the one
    way the page says where it is."""
    return f"{noun} {index} {of_range(noun, total, plural)}"
