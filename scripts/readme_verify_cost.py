"""The verify-cost block: scripts/verify_cost.py, what one verification pass costs by tokens
verified in each weight layout, its arithmetic floor, and where a step's time goes."""

from __future__ import annotations

from readme_format import provenance, table, x

PARTS = {
    "decoder_linears_ms": "decoder layers' linear layers",
    "output_layer_ms": "output layer",
    "attention_ms": "attention",
    "rest_ms": "the rest (norms, rotary embeddings, cache, Python)",
}


def arithmetic_floor(a: dict, sizes: list[str]) -> dict | None:
    """The table's last row, a float32 step's multiply-adds alone at the machine's measured
    matmul rate, and what it says of the speed issue's bound (k <= 8 at most 1.2x k = 1)."""
    if "matmul_gflops" not in a:  # artifacts from before the script measured it
        return None
    gflops, macs = a["matmul_gflops"], a["rows"][0]["multiply_adds_per_token"]
    floor_ms = {k: 2 * macs * int(k) / (gflops * 1e6) for k in sizes}
    fastest = min(r["verify_ms"]["1"] for r in a["rows"] if r["dtype"] == "float32")
    row = ["multiply-adds alone, float32", *(f"{floor_ms[k]:.1f}" for k in sizes), "–", "–", "–"]
    text = (
        f"The last row is arithmetic alone: a token costs {macs / 1e6:.0f} M multiply-adds (every "
        f"linear layer once, attention over {a['context_tokens']} keys), and the machine's "
        f"float32 matrix multiply (torch's, 2048 x 2048, both cores) runs at {gflops:.0f} GFLOP/s. "
        f"So no float32 step of 8 tokens can take less than {floor_ms['8']:.1f} ms here, "
        f"{x(floor_ms['8'] / fastest)} the cheapest 1-token step ({fastest:.1f} ms), whatever "
        "its weights' layout: "
        + (
            "the speed issue's bound of 1.2x is out of reach for exact float32 on this machine "
            "unless a 1-token step gets slower."
            if floor_ms["8"] > 1.2 * fastest
            else "arithmetic leaves room for the speed issue's bound of 1.2x here."
        )
    )
    return {"row": row, "text": text}


def verify_cost(arts: dict) -> str:
    a = arts["verify_cost.json"]
    rows = a["rows"]
    sizes = list(rows[0]["verify_ms"])
    curve = [
        [f"{r['layout']}, {r['dtype']}"]
        + [f"{r['verify_ms'][k]:.0f}" for k in sizes]
        + [x(max(r["ratio_to_one"][k] for k in sizes if int(k) <= 8))]
        + [f"{r['weight_bytes'] / 1e6:.0f}", f"{r['weights_gbs_at_1']:.1f}"]
        for r in rows
    ]
    floor = arithmetic_floor(a, sizes)
    if floor:
        curve.append(floor["row"])
    head = [
        "layout, dtype",
        *sizes,
        "k <= 8 vs k = 1 (worst)",
        "weights read a step, MB",
        "weights GB/s at k = 1",
    ]
    parts = [
        [f"{r['layout']}, {r['dtype']}", k]
        + [f"{b[name]:.1f}" for name in PARTS]
        + [f"{b['total_ms']:.1f}"]
        for r in rows
        for k, b in r["breakdown"].items()
    ]
    return "\n\n".join(
        [
            f"{provenance(a, 'verify_cost.json')}: ms to verify k tokens in one forward pass "
            f"with {a['context_tokens']} tokens of context (median); the weights are read "
            "once a step, in the bytes each layout stores them in; the machine's measured "
            f"read bandwidth: {a['read_bandwidth_gbs']:.1f} GB/s.",
            table(head, curve),
            *([floor["text"]] if floor else []),
            "Where a step's time goes (ms; each part replayed alone with the step's shapes, the "
            "rest is the remainder):",
            table(["layout, dtype", "k", *PARTS.values(), "total"], parts),
        ]
    )
