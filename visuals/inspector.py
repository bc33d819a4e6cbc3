"""The step inspector (HTML): everything the engine recorded about one verification step."""

from __future__ import annotations

import html

from samdec.trace import NO_DRAFT, StepEvent

from .glossary import annotate, of_range, term
from .palette import DRAFTERS, LABELS
from .step_words import estimate_words, step_rule_sentence, step_zero_words
from .stream import compact
from .view import TraceView, as_view

MAX_ROWS = 24
TABLE_NOTE = (
    f"One row per guessed token, numbered in {term('order')} from 0. Position 1 is the token "
    "right after the text, position 2 the one after that; a Token Recycling tree guesses "
    "several tokens per position, each indented under the guess it follows. ★ is the model's "
    f"own token, the {term('bonus')}; id is the {term('token_id')}."
)
# The terms the rule's sentence defines on hover where it first uses them.
RULE_TERMS = ("l_bias", "l_threshold", "auxiliary")


def _badge(source: str, text: str | None = None) -> str:
    label = html.escape(text or LABELS.get(source, source))
    return f'<span class="sd-badge sd-{source}">{label}</span>'


# Why a step verified no draft although the rule picked a drafter, for the keys of
# samdec.trace.NO_DRAFT (StepEvent.no_draft): the end of "<drafter> chosen by the rule, but ...".
BUT = {
    "no_room": "one token was left to generate: no room for a draft",
    "nothing_to_draft": "it had nothing to draft",
    "not_worth_it": "the length policy verified <b>0</b> (checking them would cost more time "
    "than they are expected to save)",
}


def _what(key: str) -> str:
    """The trace's own words for a no_draft key (a key from a newer engine still reads)."""
    return html.escape(NO_DRAFT.get(key, key)) if key else "no draft was verified"


def _drafted(ev: StepEvent) -> str:
    """Who drafted how many tokens, and how many more the length policy cut."""
    who = f"{_badge(ev.drafter)} drafted <b>{len(ev.draft_tokens)}</b> token(s)"
    if not all(p == i - 1 for i, p in enumerate(ev.draft_parents)):
        who += " as a tree"
    if ev.policy_cut > 0:
        who += f" of {ev.proposed} offered (the length policy cut {ev.policy_cut})"
    return who


def _not_drafted(view: TraceView, ev: StepEvent) -> str:
    """Why no draft was verified: the drafter the rule picked (`rule_source`), then the reason
    the trace records as data (`no_draft`)."""
    rule = ev.rule_source if ev.rule_source in DRAFTERS else ""
    key = ev.no_draft
    if key == "not_worth_it":
        return f"{_badge(rule or 'none')} offered <b>{ev.proposed}</b> token(s), but {BUT[key]}"
    if rule:
        return f"{_badge(rule)} chosen by the rule, but {BUT.get(key) or _what(key)}"
    if key == "nothing_to_draft" and view.decoding.rule and not view.has_auxiliary:
        # The rule picks no drafter only when the match it prefers is too short to trust
        # and there is no auxiliary drafter to take over.
        return (
            f"{_badge('none')} chosen by the rule: its match is shorter than l_threshold "
            f"({view.l_threshold}), and there is no Token Recycling to fall back on"
        )
    return f"{_badge('none')} {_what(key)}"


def _verdict(view: TraceView, ev: StepEvent) -> str:
    """The head line: who drafted how much, or why no draft was verified. Said from the
    trace's fields, never from the engine's prose in `ev.reason` (shown on its own line)."""
    return _drafted(ev) if ev.drafter != "none" else _not_drafted(view, ev)


def _facts_html(view: TraceView, ev: StepEvent) -> str:
    """The step's numbers as cards (match lengths only where the automata were consulted)."""
    matched = view.has_match_info(ev)
    facts = [
        ("context", f"{ev.context_length} tokens"),
        ("static match", str(ev.match_static) if matched else "–"),
        ("dynamic match", str(ev.match_dynamic) if matched else "–"),
        ("draft limit", str(ev.draft_limit)),
        ("accepted", f"{ev.accepted} / {len(ev.draft_tokens)}"),
        ("appended", f"{len(ev.new_tokens)} token(s)"),
        ("drafting", f"{ev.draft_us:.0f} µs"),
        ("verifying", f"{ev.verify_ms:.1f} ms"),
    ]
    return "".join(
        f'<div class="sd-fact"><span>{name}</span><b>{html.escape(value)}</b></div>'
        for name, value in facts
    )


def _rule_line(view: TraceView, ev: StepEvent) -> str:
    """Who drafts: the rule in its one form, numbers filled in, outcome named."""
    words = view.rule_words(ev)
    if words and ev.grafted:  # sam+graft: the short match was not thrown away
        words += (
            f"; {ev.grafted} tokens of that short match's continuation grafted into the tree, "
            f"{ev.grafted_accepted} accepted"
        )
    if words:  # in words first, then the same decision in numbers
        sentence = annotate(html.escape(step_rule_sentence(view, ev)), RULE_TERMS)
        return (
            f'<b>rule</b>: <span class="sd-rule-words">{sentence}</span>'
            f'<br><span class="sd-rule-numbers">in numbers: {html.escape(words)}</span>'
        )
    if view.decoding.recycling:
        return "<b>rule</b>: none: Token Recycling drafts every step"
    if view.decoding.ngram:
        return (
            "<b>rule</b>: none: prompt lookup drafts every step, from the first earlier "
            "occurrence of the text's last n-gram"
        )
    return "<b>rule</b>: none: plain decoding drafts nothing"


def _limit_words(view: TraceView, ev: StepEvent) -> str:
    """Why the draft limit is what it is: the Draft length setting, or the tokens left."""
    setting = int(view.config.get("draft_len", ev.draft_limit) or 0)
    if ev.draft_limit >= setting:
        return f"draft limit {ev.draft_limit}: the Draft length setting"
    if ev.draft_limit == 0:
        return "draft limit 0: the step's own token is the last one to generate"
    return (
        f"draft limit {ev.draft_limit}: the Draft length setting ({setting}) lowered to fit the "
        f"{ev.draft_limit + 1} tokens still to generate, the model's own token included"
    )


def _policy_line(view: TraceView, ev: StepEvent) -> str:
    """How many of the offered tokens the length policy verified, and why, in numbers."""
    policy = view.config.get("draft_policy", "cost")
    limit = _limit_words(view, ev)
    if ev.proposed == 0:
        return f"<b>length policy</b>: nothing offered to verify ({limit})"
    if policy == "fixed":
        return (
            f"<b>length policy</b> (fixed length): verifies what the drafter offers up to the "
            f"limit, whatever it costs: {len(ev.draft_tokens)} of {ev.proposed} ({limit})"
        )
    one = view.verify_cost.get(1, 0.0)
    if not ev.expected_offered or not one:  # a trace from before the policy's numbers
        kept = len(ev.draft_tokens)
        return f"<b>length policy</b> (cost-aware): verified {kept} of {ev.proposed} ({limit})"
    kept, offered = len(ev.draft_tokens), min(ev.proposed, ev.draft_limit)
    plain = f"a plain step gives 1 token for {one:.0f} ms ({_rate(1, one)})"
    if kept == offered:
        return (
            f"<b>length policy</b> (cost-aware): verified all <b>{kept}</b>, expected to give "
            f"{ev.expected_tokens:.2f} tokens for {ev.cost_ms:.0f} ms "
            f"({_rate(ev.expected_tokens, ev.cost_ms)}); {plain} ({limit})"
        )
    price = (
        f"verifying all {offered} was expected to give {ev.expected_offered:.2f} tokens for "
        f"{ev.cost_offered_ms:.0f} ms ({_rate(ev.expected_offered, ev.cost_offered_ms)})"
    )
    if kept == 0:
        return (
            f"<b>length policy</b> (cost-aware): verified <b>0</b> of {offered}: {price}, "
            f"but {plain}, so no cut of the draft paid ({limit})"
        )
    return (
        f"<b>length policy</b> (cost-aware): verified <b>{kept}</b> of {offered}, expected "
        f"to give {ev.expected_tokens:.2f} tokens for {ev.cost_ms:.0f} ms "
        f"({_rate(ev.expected_tokens, ev.cost_ms)}), the best rate of any cut; {price} "
        f"({limit})"
    )


def _rate(tokens: float, ms: float) -> str:
    return f"{1000.0 * tokens / ms:.1f} tokens/s" if ms > 0 else "–"


def _timing_line(view: TraceView, ev: StepEvent) -> str:
    """Why this step took as long as it did: tokens verified in the pass, the curve's price,
    and the step's own rate against the run's."""
    verified = 1 + len(ev.draft_tokens)
    ms = ev.verify_ms + ev.draft_us / 1000.0
    words = (
        f"<b>time</b>: one forward pass over {verified} token(s) (the last token of the text"
        f"{' and the draft' if verified > 1 else ''}) took {ev.verify_ms:.0f} ms"
    )
    if ev.cost_ms:
        words += f"; this machine's verify-cost curve prices it at {ev.cost_ms:.0f} ms"
        one = view.verify_cost.get(1)
        if one and verified > 1:
            words += f" (a 1-token pass: {one:.0f} ms)"
    if ms > 0:
        step_rate = _rate(len(ev.new_tokens), ms)
        words += f". This step: {len(ev.new_tokens)} token(s) in {ms:.0f} ms = {step_rate}"
        run_rate = view.totals()["tokens_per_s"]
        if run_rate:
            words += f"; the run's average: {run_rate:.1f} tokens/s, {term('prefill')} included"
    return words


def _draft_rows(view: TraceView, ev: StepEvent) -> list[str]:
    """A table row per draft node (the first MAX_ROWS): index, depth, token, verdict."""
    rows = []
    accepted = set(ev.accepted_indices)
    pieces = ev.draft_pieces or [view.piece(t) for t in ev.draft_tokens]
    depth = []  # parents come first, so a node's parent already has its depth
    for p in ev.draft_parents:
        depth.append(depth[p] + 1 if p >= 0 else 1)
    tree = not all(p == i - 1 for i, p in enumerate(ev.draft_parents))
    for i, (tok, text) in enumerate(zip(ev.draft_tokens, pieces, strict=False)):
        if i >= MAX_ROWS:
            rows.append(
                f'<tr><td colspan="4" class="sd-more">… {len(ev.draft_tokens) - MAX_ROWS} more '
                f"draft node(s), {len(accepted - set(range(MAX_ROWS)))} of them accepted</td></tr>"
            )
            break
        ok = i in accepted
        mark = (
            '<span class="sd-ok">✓ accepted</span>'
            if ok
            else '<span class="sd-no">✗ rejected</span>'
        )
        indent = f' style="padding-left:{0.3 + 0.9 * (depth[i] - 1):.1f}em"' if tree else ""
        branch = "└ " if tree and depth[i] > 1 else ""
        rows.append(
            f'<tr class="{"sd-row-ok" if ok else "sd-row-no"}"><td>{i}</td><td>{depth[i]}</td>'
            f'<td{indent}>{branch}<code class="sd-tokcode sd-{ev.drafter if ok else "rejected"}">'
            f"{html.escape(compact(text, 24))}</code> <small>id {tok}</small></td>"
            f"<td>{mark}</td></tr>"
        )
    return rows


def _bonus_row(view: TraceView, ev: StepEvent) -> str:
    if ev.bonus_token < 0:  # cut off by EOS or a stop string
        return (
            f'<tr class="sd-row-bonus"><td colspan="4">no {term("bonus")}: the answer ended '
            f"in this step's accepted draft (an {term('eos')} token or a stop string)</td></tr>"
        )
    text = ev.new_pieces[-1] if ev.new_pieces else view.piece(ev.bonus_token)
    return (
        f'<tr class="sd-row-bonus"><td>★</td><td>{len(ev.accepted_indices) + 1}</td>'
        f'<td><code class="sd-tokcode sd-model">{html.escape(compact(text, 24))}</code>'
        f" <small>id {ev.bonus_token}</small></td><td>the model’s own token (bonus)</td></tr>"
    )


def inspector_html(trace, step: int | None = None) -> str:
    """Everything recorded about step `step` (the last by default): who drafted and why, the
    numbers, and each draft node with the model's verdict."""
    view = as_view(trace)
    k = view.clamp(step)
    if k < 0:
        return '<div class="sd-inspect sd-empty">No steps yet.</div>'
    ev = view.steps[k]
    rows = "".join([*_draft_rows(view, ev), _bonus_row(view, ev)])
    table = (
        f'<div class="sd-table-note">{TABLE_NOTE}</div>'
        '<div class="sd-table-wrap"><table class="sd-table"><thead><tr>'
        f"<th>{term('order', 'verify order')}</th><th>position</th>"
        f"<th>token · {term('token_id', 'id')}</th><th>verdict</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )
    lines = (
        step_zero_words(view, ev),
        _rule_line(view, ev),
        _policy_line(view, ev),
        estimate_words(view, ev),
        _timing_line(view, ev),
    )
    return (
        f'<div class="sd-inspect">'
        f'<div class="sd-inspect-head"><b>Step {k}</b> {of_range("step", view.num_steps)} · '
        f"{_verdict(view, ev)}</div>"
        + "".join(f'<div class="sd-why">{line}</div>' for line in lines if line)
        + f'<div class="sd-facts">{_facts_html(view, ev)}</div>{table}</div>'
    )


def compare_html(rows: list[dict], note: str = "") -> str:
    """A table of compared runs: rows of {name, tokens, steps, mat, tokens_per_s, identical}."""
    if not rows:
        return (
            '<div class="sd-compare sd-empty">Runs the prompt three ways in this session: '
            "plain decoding, prompt lookup decoding (the n-gram drafter, method pld) and the "
            "settings above (greedy, or sampled with one seed), then checks the outputs match "
            "token for token.</div>"
        )
    base = rows[0]["tokens_per_s"] or 1.0
    body = []
    for r in rows:
        same = r.get("identical")
        mark = (
            "reference"
            if same is None
            else (
                '<span class="sd-ok">✓ identical</span>'
                if same
                else '<span class="sd-no">✗ differs</span>'
            )
        )
        steps = r.get("steps")
        mat = r.get("mat")
        name = annotate(html.escape(r["name"]), ("ar",))
        body.append(
            f"<tr><td><b>{name}</b></td><td>{r['tokens']}</td>"
            f"<td>{steps if steps is not None else '–'}</td>"
            f"<td>{f'{mat:.2f}' if mat is not None else '–'}</td>"
            f"<td>{r['tokens_per_s']:.1f}</td><td>×{r['tokens_per_s'] / base:.2f}</td>"
            f"<td>{mark}</td></tr>"
        )
    foot = f'<div class="sd-note">{annotate(html.escape(note), ("q4_1",))}</div>' if note else ""
    return (
        '<div class="sd-compare"><table class="sd-table"><thead><tr><th>method</th>'
        f"<th>tokens</th><th>{term('forward', 'forward passes')}</th><th>{term('mat')}</th>"
        "<th>tokens/s</th><th>speedup</th>"
        f"<th>output</th></tr></thead><tbody>{''.join(body)}</tbody></table>{foot}</div>"
    )
