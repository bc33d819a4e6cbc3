"""The automaton playground: type a short text and step through the online construction of its
suffix automaton, forward and back (each new state, transition, suffix-link walk and clone),
or press Play to see one event a second; inspect any state (its strings and end positions),
and see the match and draft the dynamic drafter reads off the newest state's suffix link.
"Send to the live demo" makes the text the prompt.

The construction comes from `samdec.teaching_automaton` (plain Python, recomputed from the
text: a few hundred events at most), the drawing from `visuals.playground`. Handlers take
values and return updates by panel name, so they are tested without a server; the page keeps
only the built symbols (a gr.State) and the event index (the slider).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import gradio as gr

import visuals as V
from samdec.teaching_automaton import ROOT, Automaton, Playground, split_symbols

from . import runtime as rt
from .common import by_component, error_notice
from .errors import UserError
from .panels import notice_html

UNITS = ("letters", "words", "tokens")
UNIT_CHOICES = [("letters", "letters"), ("words", "words"), ("model tokens", "tokens")]
UNIT_NAMES = {"letters": "letters", "words": "words", "tokens": "tokens"}
MAX_SYMBOLS = 64  # a figure a learner can still read; a few hundred events at most
MAX_TEXT_CHARS = 2000  # checked before tokenizing
DEFAULT_TEXT = "abcbc"
# The panels that follow the event index, by name.
STEP_PANELS = ("slider", "plot", "event", "states", "inspector", "match")

INTRO = """
<div class="sd-note sd-pg-intro">A suffix automaton is built <b>online</b>, one symbol at a
time: the new symbol gets one state for the whole text, arrows are added up the suffix-link
chain of the old text, and when a state turns out to mix strings that end at different places
it is <b>cloned</b>, so that every state keeps exactly one set of end positions. Step through
it, inspect any state, and see how the drafter finds its match: the newest state's suffix link
<i>is</i> the longest ending seen before.</div>
"""


@dataclass
class PlaygroundParts:
    text: gr.Textbox
    unit: gr.Radio
    build: gr.Button
    send: gr.Button
    notice: gr.HTML
    built: gr.State  # {"symbols": [...], "unit": ...} of the last Build
    slider: gr.Slider
    prev_symbol: gr.Button
    back: gr.Button
    forward: gr.Button
    next_symbol: gr.Button
    plot: gr.Plot
    event: gr.HTML
    states: gr.Dropdown
    inspector: gr.HTML
    match: gr.HTML
    play: gr.Button  # ▶ Play / ⏸ Pause
    timer: gr.Timer  # ticks while playing
    playing: gr.State  # bool

    def panels(self) -> dict[str, Any]:
        """The components handlers update, by name."""
        names = ("notice", "built", *STEP_PANELS)
        return {name: getattr(self, name) for name in names}


# ---------------------------------------------------------------------------------- the text


def read_built(text: Any, unit: Any = "letters") -> dict[str, Any]:
    """{"symbols", "unit"} of a text the playground takes; UserError saying what is wrong."""
    unit = str(unit or "letters").strip().lower()
    unit = "tokens" if unit == "model tokens" else unit
    if unit not in UNITS:
        raise UserError("The unit must be 'letters', 'words' or 'tokens' (the model's tokens).")
    if not isinstance(text, str) or not text.strip():
        raise UserError("Type a short text first (it is empty).")
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(
            f"That text is too long for the playground ({len(text):,} characters): it takes at "
            f"most {MAX_SYMBOLS} symbols. Please shorten it."
        )
    symbols = token_symbols(text) if unit == "tokens" else split_symbols(text, unit)
    if len(symbols) > MAX_SYMBOLS:
        raise UserError(
            f"The playground takes at most {MAX_SYMBOLS} symbols, and this text has "
            f"{len(symbols)} {UNIT_NAMES[unit]}. Please shorten it."
        )
    return {"symbols": symbols, "unit": unit}


def token_symbols(text: str) -> list[str]:
    """The text as the model's tokens (the first model the server offers), each token's text
    as its symbol; two tokens with the same text are told apart by their id."""
    runtime = rt.RUNTIME
    spec = runtime.offered(None)
    loaded = runtime.loaded(spec)
    ids = [int(t) for t in loaded.tokenizer(text, add_special_tokens=False)["input_ids"]]
    piece = runtime.piece_fn(spec)
    owner: dict[str, int] = {}
    symbols = []
    for token in ids:
        text_of = piece(token)
        if owner.setdefault(text_of, token) != token:
            text_of = f"{text_of}⟨{token}⟩"
        symbols.append(text_of)
    return symbols


DEFAULT_BUILT = {"symbols": list(DEFAULT_TEXT), "unit": "letters"}


def _built(value: Any) -> dict[str, Any]:
    """The gr.State's value, or the default text if it holds nothing usable."""
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("symbols"), list)
        and 0 < len(value["symbols"]) <= MAX_SYMBOLS
        and all(isinstance(s, str) for s in value["symbols"])
    ):
        return {"symbols": list(value["symbols"]), "unit": str(value.get("unit", "letters"))}
    return dict(DEFAULT_BUILT)


@lru_cache(maxsize=64)
def _playground(symbols: tuple[str, ...]) -> Playground:
    return Playground(symbols)


def playground_of(built: Any) -> tuple[Playground, str]:
    """(the construction, the separator sentences join symbols with)."""
    built = _built(built)
    return _playground(tuple(built["symbols"])), " " if built["unit"] == "words" else ""


def state_choices(sam: Automaton, sep: str) -> list[tuple[str, int]]:
    """The dropdown's entries: each state by number and longest string."""
    out = [("0 · root", ROOT)]
    for s in range(1, sam.num_states):
        label = f"{s} · {V.playground.quote(V.playground.longest(sam, s), sep, 24)}"
        out.append((label + (" (clone)" if sam.clone_of[s] >= 0 else ""), s))
    return out


def step_contents(built: Any, k: Any, state: Any = None) -> dict[str, Any]:
    """Plain contents of the step panels after k events, by name; the inspector shows `state`
    if it exists then, else the state the k-th event is about."""
    pg, sep = playground_of(built)
    k = V.playground.clamp(pg, k)
    sam = pg.state_after(k)
    state = V.playground.state_index(sam, state)
    if state < 0:
        state = V.playground.focus_state(pg, k)
    return {
        "k": k,
        "total": len(pg.events),
        "plot": V.playground_figure(pg, k, sep),
        "event": V.playground_event_html(pg, k, sep),
        "choices": state_choices(sam, sep),
        "state": state,
        "inspector": V.playground_state_html(pg, k, state, sep),
        "match": V.playground_match_html(pg, k, sep),
    }


# ---------------------------------------------------------------------------------- handlers


def show_panels(built: Any, k: Any, state: Any = None) -> dict[str, Any]:
    """Every step panel after k events, as updates by name."""
    c = step_contents(built, k, state)
    return {
        "slider": c["k"],
        "plot": c["plot"],
        "event": c["event"],
        "states": gr.Dropdown(choices=c["choices"], value=c["state"]),
        "inspector": c["inspector"],
        "match": c["match"],
    }


def build_panels(text: Any, unit: Any) -> dict[str, Any]:
    """Build: the construction of a new text, shown from its start (the root alone)."""
    try:
        built = read_built(text, unit)
    except Exception as exc:
        return {"notice": error_notice(exc, "Building the automaton")}
    pg, _ = playground_of(built)
    n, unit = len(built["symbols"]), UNIT_NAMES[built["unit"]]
    note = (
        f"{n} {unit if n != 1 else unit[:-1]}, {len(pg.events)} events: step forward (or drag "
        "the slider) to watch the automaton grow."
    )
    return {
        **show_panels(built, 0),
        "built": built,
        "slider": gr.Slider(minimum=0, maximum=len(pg.events), value=0),
        "notice": notice_html([note]),
    }


def step_panels(built: Any, k: Any, delta: int) -> dict[str, Any]:
    """◀ Back / Forward ▶: one event back or forward."""
    pg, _ = playground_of(built)
    return show_panels(built, V.playground.clamp(pg, k) + delta)


PLAY_SECONDS = 1.0  # one event a second: time to read each event's sentence
PLAY_LABEL, PAUSE_LABEL = "▶ Play", "⏸ Pause"


def _playing(on: bool) -> dict[str, Any]:
    """The Play button, the timer and the flag, playing or stopped."""
    return {
        "play": gr.Button(PAUSE_LABEL if on else PLAY_LABEL),
        "timer": gr.Timer(active=on),
        "playing": on,
    }


def play_panels(built: Any, k: Any, playing: Any) -> dict[str, Any]:
    """▶ Play / ⏸ Pause. Play at the last event starts again from the first."""
    if playing:
        return _playing(False)
    pg, _ = playground_of(built)
    k = V.playground.clamp(pg, k)
    restart = show_panels(built, 0) if k >= len(pg.events) else {}
    return {**restart, **_playing(True)}


def tick_panels(built: Any, k: Any, playing: Any = True) -> dict[str, Any]:
    """A tick of the timer while playing: one event forward; stop at the last event. A tick
    that was on its way when Pause was pressed changes nothing."""
    if not playing:
        return {}
    pg, _ = playground_of(built)
    k = V.playground.clamp(pg, k)
    if k >= len(pg.events):
        return _playing(False)
    moved = show_panels(built, k + 1)
    return {**moved, **_playing(False)} if k + 1 >= len(pg.events) else moved


def symbol_boundaries(pg: Playground) -> list[int]:
    """The event indices where a symbol is fully added (0, then after each match event)."""
    return [0, *(i + 1 for i, e in enumerate(pg.events) if e["kind"] == "match")]


def symbol_panels(built: Any, k: Any, direction: int) -> dict[str, Any]:
    """◀◀ / ▶▶: to the end of the previous symbol, or of the symbol being (or next) read."""
    pg, _ = playground_of(built)
    k = V.playground.clamp(pg, k)
    marks = symbol_boundaries(pg)
    if direction > 0:
        target = next((m for m in marks if m > k), len(pg.events))
    else:
        target = max((m for m in marks if m < k), default=0)
    return show_panels(built, target)


def inspect_panel(built: Any, k: Any, state: Any) -> dict[str, Any]:
    """The inspector for the state picked in the dropdown."""
    pg, sep = playground_of(built)
    return {"inspector": V.playground_state_html(pg, k, state, sep)}


def send_to_demo(text: Any) -> dict[str, Any]:
    """The playground's text as the live demo's prompt."""
    if not isinstance(text, str) or not text.strip():
        return {"notice": error_notice(UserError("Type a text first (it is empty)."), "Sending")}
    return {
        "prompt": text,
        "notice": notice_html(
            [
                "Sent to the prompt box at the top: press Generate and watch the dynamic "
                "automaton draft from the text's repeats."
            ]
        ),
    }


def steps_data(text: Any, unit: Any = "letters") -> dict[str, Any]:
    """The /automaton_steps answer: the symbols, every event, and the finished automaton's
    states. Raises UserError."""
    built = read_built(text, unit)
    pg, _ = playground_of(built)
    sam = pg.state_after(len(pg.events))
    states = []
    for s in range(sam.num_states):
        info = pg.inspect(sam, s)
        states.append(
            {
                "id": s,
                "length": sam.length[s],
                "link": sam.link[s],
                "firstpos": sam.firstpos[s],
                "endpos": info["endpos"],
                "clone_of": sam.clone_of[s],
                "longest": info["longest"],
                "shortest": info["shortest"],
                "transitions": dict(sam.transitions[s]),
            }
        )
    return {
        "symbols": list(pg.symbols),
        "unit": built["unit"],
        "events": pg.events,
        "num_states": sam.num_states,
        "num_transitions": sum(len(t) for t in sam.transitions),
        "states": states,
    }


# ---------------------------------------------------------------------------------- layout


def build() -> PlaygroundParts:
    c = step_contents(DEFAULT_BUILT, 0)
    title = "Automaton playground: build a suffix automaton one symbol at a time, then draft"
    with gr.Accordion(title, open=False, elem_id="sd-playground"):
        gr.HTML(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340):
                text = gr.Textbox(
                    DEFAULT_TEXT, label="Text", lines=1, max_lines=3, elem_id="sd-pg-text",
                    info=f"at most {MAX_SYMBOLS} symbols; try abcbc, abab or to be or not to be",
                )  # fmt: skip
                unit = gr.Radio(
                    UNIT_CHOICES, value="letters", label="One symbol per", elem_id="sd-pg-unit"
                )
                with gr.Row():
                    build_btn = gr.Button("Build", variant="primary", elem_id="sd-pg-build")
                    send = gr.Button("Send to the live demo", elem_id="sd-pg-send")
                notice = gr.HTML("", elem_id="sd-pg-notice")
                event = gr.HTML(c["event"], elem_id="sd-pg-event")
                match = gr.HTML(c["match"], elem_id="sd-pg-match")
            with gr.Column(scale=4, min_width=520):
                slider = gr.Slider(
                    0, c["total"], value=0, step=1, elem_id="sd-pg-slider",
                    label="Events done (drag to replay the construction)",
                )  # fmt: skip
                with gr.Row():
                    # narrow enough for the five buttons to share one row
                    small = dict(size="sm", min_width=100)
                    play = gr.Button(PLAY_LABEL, elem_id="sd-pg-play", **small)
                    prev_symbol = gr.Button("◀◀ Previous symbol", elem_id="sd-pg-prev", **small)
                    back = gr.Button("◀ Back", elem_id="sd-pg-back", **small)
                    forward = gr.Button("Forward ▶", elem_id="sd-pg-forward", **small)
                    next_symbol = gr.Button("Next symbol ▶▶", elem_id="sd-pg-next", **small)
                plot = gr.Plot(c["plot"], show_label=False, elem_id="sd-pg-plot")
                states = gr.Dropdown(
                    c["choices"], value=c["state"], label="Inspect a state", elem_id="sd-pg-state"
                )
                inspector = gr.HTML(c["inspector"], elem_id="sd-pg-inspector")
        built = gr.State(dict(DEFAULT_BUILT))
        timer = gr.Timer(PLAY_SECONDS, active=False)
        playing = gr.State(False)
    return PlaygroundParts(
        text, unit, build_btn, send, notice, built, slider, prev_symbol, back, forward,
        next_symbol, plot, event, states, inspector, match, play, timer, playing,
    )  # fmt: skip


def wire(p: PlaygroundParts, prompt: gr.Textbox) -> None:
    """`prompt`: the live demo's prompt box (Send to the live demo fills it)."""
    out = {**p.panels(), "prompt": prompt, "play": p.play, "timer": p.timer, "playing": p.playing}
    shown = [out[name] for name in STEP_PANELS]
    player = [p.play, p.timer, p.playing]
    quiet = dict(api_visibility="private", show_progress="hidden")

    def on_build(text, unit):  # a new text stops playing
        return by_component(out, {**build_panels(text, unit), **_playing(False)})

    for trigger in (p.build.click, p.text.submit):
        trigger(
            on_build, inputs=[p.text, p.unit], outputs=[p.notice, p.built, *shown, *player],
            api_visibility="private",
        )  # fmt: skip
    p.play.click(
        lambda b, k, on: by_component(out, play_panels(b, k, on)),
        inputs=[p.built, p.slider, p.playing], outputs=[*shown, *player], **quiet,
    )  # fmt: skip
    p.timer.tick(
        lambda b, k, on: by_component(out, tick_panels(b, k, on)),
        inputs=[p.built, p.slider, p.playing], outputs=[*shown, *player], **quiet,
    )  # fmt: skip
    p.slider.input(
        lambda b, k: by_component(out, show_panels(b, k)),
        inputs=[p.built, p.slider], outputs=shown, trigger_mode="always_last", **quiet,
    )  # fmt: skip

    def stepper(move, amount: int):
        def on_click(b, k):
            return by_component(out, move(b, k, amount))

        return on_click

    for button, move, amount in (
        (p.back, step_panels, -1),
        (p.forward, step_panels, 1),
        (p.prev_symbol, symbol_panels, -1),
        (p.next_symbol, symbol_panels, 1),
    ):
        button.click(stepper(move, amount), inputs=[p.built, p.slider], outputs=shown, **quiet)
    p.states.input(
        lambda b, k, s: by_component(out, inspect_panel(b, k, s)),
        inputs=[p.built, p.slider, p.states], outputs=[p.inspector], **quiet,
    )  # fmt: skip
    p.send.click(
        lambda t: by_component(out, send_to_demo(t)),
        inputs=[p.text], outputs=[prompt, p.notice], **quiet,
    )  # fmt: skip
