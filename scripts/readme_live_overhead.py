"""The live view's own cost: the server's CPU time for one request through the API and live in
the page, driven in headless Chromium (scripts/live_overhead.py)."""

from __future__ import annotations

from readme_format import num, provenance, table


def live_overhead(arts: dict) -> str:
    a = arts["live_overhead.json"]
    s, rows = a["summary"], a["rounds"]
    verdict = "within" if s["within_goal"] else "above"
    same = (
        "The page and the API generated the same number of tokens in every round."
        if s["same_tokens"]
        else "The page and the API did not generate the same number of tokens in every round."
    )
    prompt = (
        "the page's first example prompt"
        if a.get("prompt_is_the_pages_first_example")
        else "a prompt of the command line's"
    )
    body = [
        f"{provenance(a, 'live_overhead.json')}: one request ({prompt}), "
        f"method `{a['method']}`, greedy, at most {a['max_new_tokens']} new tokens, "
        f"{len(rows)} times through the API and {len(rows)} times live in the page, "
        f"interleaved. The server's CPU time for a live run was {s['cpu_ratio']:.2f}x the API's "
        f"(median of the rounds' ratios; {verdict} the goal of at most {s['goal_ratio']:.1f}x): "
        f"{s['api_server_cpu_s']:.2f} s through the API, {s['page_server_cpu_s']:.2f} s in the "
        f"page (medians). Headless Chromium on the same machine spent {s['chromium_cpu_s']:.2f} s "
        f"of CPU on top. The page reported decoding at {num(s['page_tokens_per_s'], '.1f')} "
        f"tokens/s (the API's traces: {num(s['api_tokens_per_s'], '.1f')}) and "
        f"{num(s['page_work_s'])} s of its own work, shown apart. {same}",
        "",
        table(
            [
                "round",
                "API: server CPU",
                "wall",
                "tokens/s",
                "page: server CPU",
                "wall",
                "tokens/s (decoding alone)",
                "page's own work",
                "Chromium CPU",
                "ratio",
            ],
            [_row(i, r) for i, r in enumerate(rows, 1)],
        ),
    ]
    return "\n".join(body)


def _row(i: int, r: dict) -> list:
    api, page = r["api"], r["page"]
    return [
        f"{i} ({r['first']} first)",
        f"{api['server_cpu_s']:.2f} s",
        f"{api['wall_s']:.2f} s",
        num(api.get("tokens_per_s"), ".1f"),
        f"{page['server_cpu_s']:.2f} s",
        f"{page['wall_s']:.2f} s",
        num(page.get("tokens_per_s"), ".1f"),
        f"{num(page.get('page_work_s'))} s",
        f"{page['chromium_cpu_s']:.2f} s",
        f"{r['cpu_ratio']:.2f}x",
    ]
