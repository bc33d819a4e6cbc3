"""The load-test block: scripts/load_test.py against the app as it ships, the same load with
PASSIVE OpenMP threads, and two memory runs from before receipts existed."""

from __future__ import annotations

from readme_format import provenance, table

LOAD_RUNS = {
    "load_test_default_malloc_5_rounds.json": "with glibc's default malloc arenas (before the app "
    "capped them at start-up)",
    "load_test_malloc_arena_max_2.json": "with `MALLOC_ARENA_MAX=2` in the server's environment",
}


def rss(a: dict) -> list[float]:
    """The server's memory, MB: before the load, then after each round."""
    return [a["server_rss_mb"]["before"], *a["server_rss_mb"]["after_each_round"]]


def server_waits(a: dict) -> str:
    """How the server's OpenMP threads waited, where the file says (newer runs do)."""
    if "server_env" not in a:
        return ""
    set_ = [f"{k}={v}" for k, v in a["server_env"].items() if v is not None]
    return f"; the server with {', '.join(set_)}" if set_ else "; the server as app.py sets it up"


def load_test(arts: dict) -> str:
    a = arts["load_test.json"]
    before, *after = rss(a)
    memory = f"{before:,.0f} MB before, " + ", ".join(
        f"{v:,.0f} after round {i}" for i, v in enumerate(after, 1)
    )
    row = [a["requests"], a["ok"], a["errors"], a["busy"], f"{a['identical']} / {a['requests']}"]
    solo = f"{a['solo_median_s']:.2f} s" if "solo_median_s" in a else "–"
    row += [solo, f"{a['p50_s']:.1f} s", f"{a['p95_s']:.1f} s", memory]
    head = ["requests", "ok", "errors", "busy", "identical to the solo run"]
    head += ["one request alone, median", "under load: latency p50", "p95", "server memory"]
    parts = [
        f"{provenance(a, 'load_test.json')}: {a['clients']} clients, {a['requests']} requests "
        f"in {a['rounds']} rounds, {a['max_new_tokens']} new tokens each{server_waits(a)}.",
        table(head, [row]),
    ]
    if b := arts.get("load_test_passive.json"):
        parts.append(
            f"The same load with `OMP_WAIT_POLICY=PASSIVE` (the app's setting before it spun "
            f"briefly): one request alone {b['solo_median_s']:.2f} s (median), under load p50 "
            f"{b['p50_s']:.1f} s, p95 {b['p95_s']:.1f} s, {b['identical']} / {b['requests']} "
            f"identical; {provenance(b, 'load_test_passive.json')}."
        )
    for name, how in LOAD_RUNS.items():
        if b := arts.get(name):
            steps = " -> ".join(f"{v:,.0f}" for v in rss(b))
            parts.append(
                f"Server memory {how}, MB before the load and after each of {b['rounds']} rounds "
                f"of {b['requests'] // b['rounds']} requests: {steps}; {provenance(b, name)}."
            )
    return "\n\n".join(parts)
