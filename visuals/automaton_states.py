"""Which automaton states the picture shows: the view model behind the automaton figure.

`dynamic_view` rebuilds the request's dynamic suffix automaton from the prompt and the tokens
generated before a step (cheap: the construction is linear and compiled) and picks the states
that explain the step: the path that spells the match and the draft after it (the spine), the
states of the text's last tokens (the top row), and a few others worth seeing (clones the last
step made, suffix-link chains). `static_view` advances a cursor of the static automaton over the
same context and takes its neighbourhood. Each part of the picture gets a share of the state
budget (`budgets`), and `restrict` cuts the snapshot down to the chosen states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from samdec.automaton import DynamicSuffixAutomaton
from samdec.trace import StepEvent

from .view import as_view

if TYPE_CHECKING:  # only annotated: the figures never load the memory-mapped file code
    from samdec.static_automaton import StaticSuffixAutomaton

DEFAULT_MAX_STATES = 24


@dataclass
class AutomatonView:
    """A snapshot (see DynamicSuffixAutomaton.snapshot) plus what the drawing needs to say."""

    kind: str  # "dynamic" | "static"
    snapshot: dict
    text: np.ndarray  # the tokens the state strings index into (context, or the corpus)
    new_states: set[int] = field(default_factory=set)
    clones: set[int] = field(default_factory=set)
    total_states: int = 0
    step: int = -1
    match_text: list[int] = field(default_factory=list)  # the matched suffix (token ids)
    continuation: list[int] = field(default_factory=list)  # what follows the earlier occurrence
    spine: list[int] = field(default_factory=list)  # root, visible match path, continuation
    top: list[int] = field(default_factory=list)  # the text's last states, ending at current
    elided: int = 0  # match-path states left out between the root and the visible path

    @property
    def node_ids(self) -> list[int]:
        return [s["id"] for s in self.snapshot["states"]]

    @property
    def match_state(self) -> int:
        return self.snapshot["match_state"] if self.snapshot["match_length"] > 0 else -1

    def longest(self, state: dict, limit: int | None = None) -> list[int]:
        """Token ids of the longest string of a snapshot state (its last `limit` tokens)."""
        length, end = state["length"], state["endpos"]
        if length == 0 or end < 0:
            return []
        start = end + 1 - length
        if limit is not None and length > limit:
            start = end + 1 - limit
        return [int(t) for t in self.text[start : end + 1]]


def _walk(trans: dict, start: int, tokens: list[int]) -> list[int]:
    path, state = [start], start
    for tok in tokens:
        state = trans.get((state, int(tok)), -1)
        if state < 0:
            break
        path.append(state)
    return path


def _chain(link: dict, state: int, limit: int = 64) -> list[int]:
    out: list[int] = []
    while state >= 0 and state not in out and len(out) < limit:
        out.append(state)
        state = link.get(state, -1)
    return out


def drafting_automaton(ev: StepEvent) -> str | None:
    """The automaton whose picture explains step `ev`: the one that drafted it, or the one the
    rule picked when nothing was verified; None for Token Recycling and plain steps."""
    if ev.drafter in ("static", "dynamic"):
        return ev.drafter
    if ev.drafter == "none" and ev.rule_source in ("static", "dynamic"):
        return ev.rule_source
    return None


def budgets(max_states: int) -> dict[str, int]:
    """How many states each part of the picture may use."""
    n = max(int(max_states), 8)
    return {
        "path": max(3, min(n // 4, 12)),  # visible end of the match path
        "continuation": max(2, min(n // 4, 14)),
        "top": max(3, min(n // 3, 20)),
        "other": max(2, n // 6),
    }


def restrict(snapshot: dict, chosen: list[int]) -> dict:
    """The snapshot with only the chosen states and the transitions between them."""
    keep = set(chosen)
    out = dict(snapshot)
    out["states"] = [s for s in snapshot["states"] if s["id"] in keep]
    out["transitions"] = [t for t in snapshot["transitions"] if t[0] in keep and t[2] in keep]
    return out


def _spine(trans: dict, match_text: list[int], draft: list[int], path_budget: int):
    """(spine states, how many match-path states were elided)."""
    path = _walk(trans, 0, match_text)
    visible = path[1:][-path_budget:]
    elided = len(path) - 1 - len(visible)
    cont = _walk(trans, path[-1], draft)[1:]
    spine = [0]
    for state in [*visible, *cont]:
        if state not in spine:
            spine.append(state)
    return spine, elided


# ---------------------------------------------------------------------------------- snapshots


def _replay(context: list[int], previous: list[int], endpos: str):
    """The dynamic automaton of `context`, built as the engine did: everything before the
    previous step's tokens, then those. (automaton, its snapshot, states before that step)"""
    automaton = DynamicSuffixAutomaton(endpos=endpos, capacity=len(context) + 16)
    automaton.advance(context[: len(context) - len(previous)])
    states_before = automaton.num_states
    automaton.advance(previous)
    return automaton, automaton.snapshot(), states_before  # the whole snapshot is cheap


def _first_positions(full: dict, context: list[int], endpos: str) -> dict[int, int]:
    """The first end position of every state (the snapshot has the last one if endpos="last")."""
    if endpos == "first":
        return {s["id"]: s["endpos"] for s in full["states"]}
    # A twin tracking first positions: the same construction, so the same state numbers.
    twin = DynamicSuffixAutomaton(endpos="first", capacity=len(context) + 16)
    twin.advance(context)
    return {s["id"]: s["endpos"] for s in twin.snapshot()["states"]}


def _prefixes_and_clones(full: dict, firstpos: dict[int, int]) -> tuple[dict[int, int], set[int]]:
    """({prefix length: its state}, clones). A state created for a new position spells a whole
    prefix (length = first end + 1); a clone was split off an older state and spells less."""
    prefix_state: dict[int, int] = {}
    clones: set[int] = set()
    for s in full["states"]:
        if s["id"] == 0:
            continue
        if s["length"] == firstpos[s["id"]] + 1:
            prefix_state[s["length"]] = s["id"]
        else:
            clones.add(s["id"])
    return prefix_state, clones


def _text_end(prefix_state: dict[int, int], n: int, along: int, budget: dict, spine: list[int]):
    """The states of the text's last tokens: those above the visible match path (`along` of
    them), and a few before them, left to right, leaving out states already on the spine."""
    wanted = max(min(budget["top"], along + 3), 4)
    top = [prefix_state[i] for i in range(max(1, n - wanted + 1), n + 1)]
    return [s for s in top if s not in spine]


def _others(full: dict, new_clones: set[int], placed: set[int], limit: int) -> list[int]:
    """States worth a third row: clones the last step made, then the suffix-link chains of the
    current and the matched state."""
    link = {s["id"]: s["link"] for s in full["states"]}
    others = [s for s in sorted(new_clones, reverse=True) if s not in placed]
    others += [s for s in _chain(link, full["last"])[1:] if s not in placed]
    others += [s for s in _chain(link, full["match_state"])[1:] if s not in placed]
    return list(dict.fromkeys(others))[:limit]


def dynamic_view(
    trace, step: int | None = None, max_states: int = DEFAULT_MAX_STATES
) -> AutomatonView | None:
    """The dynamic automaton as step `step` saw it (before drafting)."""
    view = as_view(trace)
    k = view.clamp(step)
    if k < 0:
        return None
    endpos = str(view.config.get("endpos", "first"))
    context = view.context_before(k)
    previous = view.steps[k - 1].new_tokens if k > 0 else []
    automaton, full, states_before = _replay(context, previous, endpos)
    prefix_state, clones = _prefixes_and_clones(full, _first_positions(full, context, endpos))
    text = np.asarray(context, dtype=np.int64)
    length = full["match_length"]
    match_text = [int(t) for t in text[len(text) - length :]] if length else []
    continuation = [int(t) for t in automaton.draft(16)] if length else []
    budget = budgets(max_states)
    # Draw as much of the continuation as the step drafted (a few tokens if it did not).
    ev = view.steps[k]
    drafted = len(ev.draft_tokens) if ev.drafter == "dynamic" else 6
    cont_n = max(2, min(drafted, budget["continuation"]))
    trans = {(s, t): d for s, t, d in full["transitions"]}
    spine, elided = _spine(trans, match_text, continuation[:cont_n], budget["path"])
    along = min(len(match_text), budget["path"])
    top = _text_end(prefix_state, len(context), along, budget, spine)
    new = {s["id"] for s in full["states"] if s["id"] >= states_before} if k > 0 else set()
    others = _others(full, new & clones, set(spine) | set(top), budget["other"])
    chosen = list(dict.fromkeys([*spine, *top, *others]))
    return AutomatonView(
        kind="dynamic",
        snapshot=restrict(full, chosen),
        text=text,
        new_states=new & set(chosen),
        clones=clones & set(chosen),
        total_states=automaton.num_states,
        step=k,
        match_text=match_text,
        continuation=continuation,
        spine=spine,
        top=top,
        elided=elided,
    )


def static_view(
    static: StaticSuffixAutomaton | None,
    trace,
    step: int | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> AutomatonView | None:
    """The static automaton around the state matched by the context of step `step`
    (StaticCursor.neighbourhood: root, matched state, its suffix links, the path spelling the
    match, the states that can follow)."""
    view = as_view(trace)
    k = view.clamp(step)
    if static is None or k < 0:
        return None
    cursor = static.cursor()
    cursor.advance(view.context_before(k))
    budget = budgets(max_states)
    snapshot = cursor.neighbourhood(max_states=max(int(max_states), 8) + cursor.match_length)
    corpus = np.asarray(static.corpus)
    end, length = cursor.match_end(), cursor.match_length
    match_text = [int(t) for t in corpus[end + 1 - length : end + 1]] if length else []
    continuation = [int(t) for t in cursor.draft(16)]
    trans = {(s, t): d for s, t, d in snapshot["transitions"]}
    spine, elided = _spine(trans, match_text, continuation[:1], budget["path"])
    match = snapshot["match_state"]
    nexts = [d for (s, _), d in sorted(trans.items()) if s == match and d not in spine]
    link = {s["id"]: s["link"] for s in snapshot["states"]}
    others = [s for s in _chain(link, match)[1:] if s not in spine]
    chosen = list(dict.fromkeys([*spine, *nexts[: budget["continuation"]],
                                 *others[: budget["other"]]]))  # fmt: skip
    return AutomatonView(
        kind="static",
        snapshot=restrict(snapshot, chosen),
        text=corpus,
        total_states=static.num_states,
        step=k,
        match_text=match_text,
        continuation=continuation,
        spine=spine,
        top=[],
        elided=elided,
    )


# ---------------------------------------------------------------------------------- in words


def shown_parts(view: AutomatonView) -> str:
    """Which states the picture picked, in words."""
    if view.kind == "static":
        return "the match path, what can follow it, its suffix links"
    parts = ["the match path", "the draft", "the text's end"]
    if set(view.node_ids) - set(view.spine) - set(view.top):
        parts.append("a few linked states")
    return ", ".join(parts)


def hidden_states_note(view: AutomatonView) -> list[str]:
    """How much of the automaton is drawn, in lines: the state numbers jump where states are
    hidden."""
    shown, total = len(view.node_ids), view.total_states
    if total <= shown:
        return [f"All {total} states shown (numbers are the automaton's own state ids)."]
    return [
        f"Showing {shown} of {total} states: {shown_parts(view)}.",
        f"{total - shown} other{'s' if total - shown > 1 else ''} hidden: the numbers are the "
        "automaton's own state ids.",
    ]
