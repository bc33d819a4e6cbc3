"""The tuning blocks: the shipped defaults (scripts/tune_defaults.py), the replay's validation
(scripts/validate_tuning.py), prompt lookup's draft length (scripts/tune_pld.py), and what
per-position Gumbel-max sampling did to accepted tokens (scripts/sampling_mat.py).
"""

from __future__ import annotations

from readme_format import num, provenance, share, table, x


def pld_tuning(arts: dict) -> str:
    a = arts["pld_tuning.json"]
    cfg = a["config"]
    prompts = cfg["prompts"] if isinstance(cfg["prompts"], int) else len(cfg["prompts"])
    rows = [
        [
            r["num_tokens"] or "plain `generate`",
            f"{r['tokens_per_s']:.1f}",
            x(r["speedup"]),
            share(r["identical"]),
        ]
        for r in a["results"]
    ]
    return "\n\n".join(
        [
            f"{provenance(a, 'pld_tuning.json')}: {prompts} prompts from {cfg['source']}, at most "
            f"{cfg['max_new_tokens']} new tokens.",
            table(["`prompt_lookup_num_tokens`", "tokens/s", "speedup", "identical"], rows),
            f"Chosen: {a['chosen']} (`hf-pld:{a['chosen']}` in the benchmark).",
        ]
    )


def _setting(r: dict) -> str:
    policy = "cost-aware" if r["draft_policy"] == "cost" else "fixed length"
    return f"({r['l_bias']}, {r['l_threshold']}), {policy}, draft length {r['draft_len']}"


def defaults_tuning(arts: dict) -> str:
    a = arts["defaults_tuning.json"]
    sources = sorted({p.split(":", 1)[0] for p in a["prompts"]})
    rows = []  # predicted speedup: over plain decoding, both costed with the same curve
    for name, m in a["methods"].items():
        for label, r in (("best", m["best"]), ("chosen", m["at_chosen"]), ("paper", m["at_paper"])):
            if r is not None:
                rows.append([f"`{name}`", label, _setting(r), f"{r['mat']:.2f}", x(r["speedup"])])
    return "\n\n".join(
        [
            f"{provenance(a, 'defaults_tuning.json')}: {len(a['prompts'])} corpus prompts "
            f"({', '.join(sources)}), answers left out of the static automaton, at most "
            f"{a['max_new_tokens']} new tokens ({a['new_tokens']} recorded), predicted with "
            f"this machine's verify-cost curve ({a['layout']} layout).",
            table(["method", "which", "(l_bias, l_threshold), length", "MAT", "speedup"], rows),
            f"Chosen, the defaults in `samdec/config.py`: {_setting(a['chosen'])}.",
        ]
    )


def sampling_mat(arts: dict) -> str:
    a = arts["sampling_mat.json"]
    cfg, same = a["config"], a["identical_across_methods"]
    questions = cfg["questions"] if isinstance(cfg["questions"], int) else len(cfg["questions"])
    rows = [[m, num(r["before"]["mat"]), num(r["after"]["mat"])] for m, r in a["results"].items()]
    head = ["method", "MAT before (rejection sampling)", "MAT after (per-position Gumbel-max)"]
    return "\n\n".join(
        [
            f"{provenance(a, 'sampling_mat.json')}: {questions} questions, at most "
            f"{cfg['max_new_tokens']} new tokens, temperature {cfg['temperature']}, "
            f"seed {cfg['seed']}, {cfg.get('draft_policy', 'cost')} draft policy.",
            table(head, rows),
            f"Runs (question, method) that wrote plain sampling's tokens for the same seed: "
            f"{share(same['before'])} before, {share(same['after'])} after.",
        ]
    )


def tuning_validation(arts: dict) -> str:
    a = arts["tuning_validation.json"]
    cfg, summary, grid = a["config"], a["summary"], a["grid"]
    rows = []
    for setting, s in summary.items():
        errs = [
            abs(r["speedup_predicted"] - r["speedup_measured"]) / r["speedup_measured"]
            for r in a["rows"]
            if r["setting"] == setting
        ]
        exact = f"{s['mat_exact']}/{s['questions']}" + " (approximate)" * ("recycling" in setting)
        rows.append(
            [
                setting,
                s["questions"],
                exact,
                x(s["speedup_measured"]),
                x(s["speedup_predicted"]),
                f"{s['relative_error']:.1%}",
                f"{max(errs):.0%}",
            ]
        )
    best = max(summary, key=lambda k: summary[k]["speedup_measured"])
    head = ["setting", "questions", "predicted MAT = measured", "measured speedup", "predicted"]
    return "\n\n".join(
        [
            f"{provenance(a, 'tuning_validation.json')}: {len(cfg['question_ids'])} Spec-Bench "
            f"questions, at most {cfg['max_new_tokens']} new tokens.",
            table([*head, "error", "worst question"], rows),
            f"Fastest measured: `{best}` ({x(summary[best]['speedup_measured'])}). A grid of "
            f"{grid['settings']} settings over the {grid['recordings']} recorded answers took "
            f"{grid['seconds']:.1f} s.",
        ]
    )
