"""The step inspector (HTML): everything the engine recorded about one verification step."""

from __future__ import annotations

import html

from .palette import LABELS
from .stream import compact
from .view import as_view

MAX_ROWS = 24
NO_ROOM = ("budget", "no room left for a draft")  # the engine's words, old and new


def _badge(source: str, text: str | None = None) -> str:
    label = html.escape(text or LABELS.get(source, source))
    return f'<span class="sd-badge sd-{source}">{label}</span>'


def inspector_html(trace, step: int | None = None) -> str:
    view = as_view(trace)
    k = view.clamp(step)
    if k < 0:
        return '<div class="sd-inspect sd-empty">No steps yet.</div>'
    ev = view.steps[k]
    rule = view.rule_choice(ev)
    drafter = ev.drafter if ev.drafter != "none" else "none"
    offered = int(getattr(ev, "proposed", 0) or 0)
    if ev.drafter == "none" and rule != "none" and "(nothing to draft)" in ev.reason:
        who = f"{_badge(rule)} chosen by the rule, but it had nothing to draft yet"
    elif ev.drafter == "none" and rule != "none":
        what = f"offered <b>{offered}</b> token(s), but " if offered else "chosen by the rule, but "
        who = (
            f"{_badge(rule)} {what}the length policy verified <b>0</b> (checking them would "
            "cost more time than they are expected to save)"
        )
    elif ev.drafter == "none" and ev.reason in NO_ROOM:
        who = f"{_badge('none')} one token left to generate: nothing to draft"
    elif ev.drafter == "none":
        who = _badge("none")
    else:
        who = f"{_badge(drafter)} drafted <b>{len(ev.draft_tokens)}</b> token(s)"
        if not all(p == i - 1 for i, p in enumerate(ev.draft_parents)):
            who += " as a tree"
        if offered > len(ev.draft_tokens):
            who += f" of {offered} offered (the length policy cut the rest)"
    facts = [
        ("context", f"{ev.context_length} tokens"),
        ("static match", str(ev.match_static) if view.has_match_info(ev) else "–"),
        ("dynamic match", str(ev.match_dynamic) if view.has_match_info(ev) else "–"),
        ("draft limit", str(ev.draft_limit)),
        ("accepted", f"{ev.accepted} / {len(ev.draft_tokens)}"),
        ("appended", f"{len(ev.new_tokens)} token(s)"),
        ("drafting", f"{ev.draft_us:.0f} µs"),
        ("verifying", f"{ev.verify_ms:.1f} ms"),
    ]
    facts_html = "".join(
        f'<div class="sd-fact"><span>{k_}</span><b>{html.escape(v)}</b></div>' for k_, v in facts
    )
    rows = []
    accepted = set(ev.accepted_indices)
    pieces = ev.draft_pieces or [view.piece(t) for t in ev.draft_tokens]
    depth = []
    for p in ev.draft_parents:
        depth.append(depth[p] + 1 if p >= 0 else 1)
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
        rows.append(
            f'<tr class="{"sd-row-ok" if ok else "sd-row-no"}"><td>{i}</td><td>{depth[i]}</td>'
            f'<td><code class="sd-tokcode sd-{ev.drafter if ok else "rejected"}">'
            f"{html.escape(compact(text, 24))}</code> <small>#{tok}</small></td>"
            f"<td>{mark}</td></tr>"
        )
    if ev.bonus_token >= 0:
        bonus_text = ev.new_pieces[-1] if ev.new_pieces else view.piece(ev.bonus_token)
        rows.append(
            f'<tr class="sd-row-bonus"><td>★</td><td>{len(ev.accepted_indices) + 1}</td>'
            f'<td><code class="sd-tokcode sd-model">{html.escape(compact(bonus_text, 24))}</code>'
            f" <small>#{ev.bonus_token}</small></td><td>the model’s own token</td></tr>"
        )
    table = (
        '<div class="sd-table-wrap"><table class="sd-table"><thead><tr><th>node</th>'
        "<th>depth</th><th>token</th><th>verdict</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return (
        f'<div class="sd-inspect">'
        f'<div class="sd-inspect-head"><b>Step {k}</b> of {view.num_steps} · {who}</div>'
        f'<div class="sd-reason">rule: {html.escape(ev.reason) or "–"}</div>'
        f'<div class="sd-facts">{facts_html}</div>{table}</div>'
    )


def compare_html(rows: list[dict], note: str = "") -> str:
    """A table of compared runs: rows of {name, tokens, steps, mat, tokens_per_s, identical}."""
    if not rows:
        return (
            '<div class="sd-compare sd-empty">Runs the prompt three ways in this session: '
            "plain decoding, transformers’ prompt lookup decoding and the settings above "
            "(greedy), then checks the outputs match token for token.</div>"
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
        body.append(
            f"<tr><td><b>{html.escape(r['name'])}</b></td><td>{r['tokens']}</td>"
            f"<td>{steps if steps is not None else '–'}</td>"
            f"<td>{f'{mat:.2f}' if mat is not None else '–'}</td>"
            f"<td>{r['tokens_per_s']:.1f}</td><td>×{r['tokens_per_s'] / base:.2f}</td>"
            f"<td>{mark}</td></tr>"
        )
    foot = f'<div class="sd-note">{html.escape(note)}</div>' if note else ""
    return (
        '<div class="sd-compare"><table class="sd-table"><thead><tr><th>method</th>'
        "<th>tokens</th><th>forward passes</th><th>MAT</th><th>tokens/s</th><th>speedup</th>"
        f"<th>output</th></tr></thead><tbody>{''.join(body)}</tbody></table>{foot}</div>"
    )
