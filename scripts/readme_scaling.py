"""Two measurements of how a verify step runs on this CPU: the weights on huge pages against 4 KB
pages (scripts/kernel_ab.py --base-small-pages), and the threads' split of a step, window by
window beside the cores' round trip (scripts/verify_scaling.py)."""

from __future__ import annotations

from readme_format import provenance, table


def huge_pages(arts: dict) -> str:
    a = arts["huge_pages.json"]
    base, tree = a["ms"]["base"], a["ms"]["tree"]
    sizes = sorted(base, key=int)
    rows = [[k, f"{base[k]:.2f}", f"{tree[k]:.2f}", f"{tree[k] / base[k] - 1:+.1%}"] for k in sizes]
    same = "the same, bit for bit" if a["same_logits"] else "NOT the same"
    return "\n".join(
        [
            f"{provenance(a, 'huge_pages.json')}: the {a['layout']} layout loaded twice in one "
            "process, one copy's weights on 4 KB pages and the other's on 2 MB pages, their "
            f"verify steps ({a['context']} tokens of context) taken in turns, the median of "
            f"{a['repeats']} each; the logits of both copies: {same}.",
            "",
            table(["tokens", "4 KB pages, ms", "2 MB pages, ms", "change"], rows),
        ]
    )


STATES = ("shared cache", "apart", "unknown")


def verify_scaling(arts: dict) -> str:
    a = arts["verify_scaling.json"]
    k, threads, bound = a["tokens"], a["threads"], a["bound"]
    rows = []
    for state in (s for s in STATES if s in a["states"]):
        s = a["states"][state]
        m = s["median_ms"]
        rows.append(
            [
                state,
                s["windows"],
                f"{m['one_all']:.2f}",
                f"{m['k_all']:.2f}",
                f"{m['k_single']:.2f}",
                f"{s['k_over_one']:.2f}x",
                f"{s['perfect_split_ms']:.2f} ({s['perfect_split_over_one']:.2f}x)",
                f"{s['bound_ms']:.2f}",
            ]
        )
    return "\n".join(
        [
            f"{provenance(a, 'verify_scaling.json')}: the {a['layout']} layout, "
            f"{a['context_tokens']} tokens of context; in each of "
            f"{sum(s['windows'] for s in a['states'].values())} windows the cores' round trip, "
            f"then steps of 1 and {k} tokens on {threads} threads and on one (medians). A window "
            f'counts as "shared cache" where the round trip took under '
            f'{a["shared_cache_below_ns"]} ns. "Split perfectly" is the one-thread {k}-token '
            f"step over {threads} threads: the step with no hand-over between the threads at "
            f"all; #34's bound is {bound}x the 1-token step.",
            "",
            table(
                [
                    "cores",
                    "windows",
                    f"1 token, {threads} threads (ms)",
                    f"{k} tokens, {threads} threads",
                    f"{k} tokens, 1 thread",
                    f"{k} vs 1",
                    "split perfectly (vs 1)",
                    f"bound ({bound}x 1)",
                ],
                rows,
            ),
        ]
    )
