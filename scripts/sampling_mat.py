"""MAT of seeded sampling before and after per-position Gumbel-max, on the same questions.

"Before" is the engine's previous sampler (classic rejection sampling: accept drafted child x
with probability p(x) over the mass not yet rejected, draw the bonus from what is left, one
random stream per run); "after" is samdec.sampling. Both accept a drafted token with
probability p(x), so MAT should not move; what changes is that every method now writes plain
sampling's text for a seed. Writes benchmarks/sampling_mat.json (with its receipt).

    python scripts/sampling_mat.py --per-category 2 --max-new-tokens 48

The fixed draft policy is the default: it drafts at every step, so MAT measures acceptance
itself (the cost policy, fitted on greedy acceptance, drafts little when sampling).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from samdec import load_model
from samdec.corpus import load_default_static
from samdec.cost import CostModel
from samdec.engine import Engine
from samdec.questions import load_questions, pick
from samdec.receipts import receipt
from samdec.runtime.runner import ModelRunner
from samdec.sampling import target_probs
from samdec.stack import engine_for
from samdec.stepping import children_of

METHODS = ["sam", "sam-dynamic", "recycling", "sam+recycling"]


class RejectionSampling(Engine):
    """The engine with its previous sampler: one torch.Generator per run, seeded once."""

    def _accept(self, draft, logits, config, noise, position):
        if config.temperature == 0:
            return super()._accept(draft, logits, config, noise, position)
        if position == 0:  # a new run: one random stream for all of it, as before
            self._rng = torch.Generator().manual_seed(noise.seed)
        children, path, node = children_of(draft), [], 0
        while True:
            probs = target_probs(logits[node], config.temperature, config.top_p)
            for c in children[node]:
                tok = draft.tokens[c]
                u = float(torch.rand((), generator=self._rng, dtype=torch.float64))
                if u * float(probs.sum()) < float(probs[tok]):
                    path.append(c)
                    node = c + 1
                    break
                probs[tok] = 0.0
            else:
                return path, int(torch.multinomial(probs, 1, generator=self._rng))


def measure(engine: Engine, prompts: list[list[int]], settings: dict) -> dict:
    """{method: {mat, tokens, steps}} and how many (prompt, method) runs wrote ar's tokens."""
    out, same, total = {}, 0, 0
    plain = [engine.generate(ids, method="ar", **settings).token_ids for ids in prompts]
    for m in METHODS:
        tokens = steps = 0
        for ids, reference in zip(prompts, plain, strict=True):
            trace = engine.generate(ids, method=m, **settings)
            tokens += len(trace.token_ids)
            steps += trace.summary.steps
            same += trace.token_ids == reference
            total += 1
        out[m] = {"mat": tokens / steps, "tokens": tokens, "steps": steps}
    return {"methods": out, "identical": same / total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-category", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--draft-policy", choices=["fixed", "cost"], default="fixed")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/sampling_mat.json"))
    args = ap.parse_args()
    stamp = receipt()
    loaded = load_model()
    static = load_default_static(loaded.tokenizer)
    questions = pick(load_questions(), per_category=args.per_category)
    prompts = [loaded.encode_prompt(q.turns[0]) for q in questions]
    settings = dict(
        temperature=args.temperature,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        draft_policy=args.draft_policy,
    )
    # The default cost table, not a timed one: drafting decisions repeat from run to run.
    before = measure(
        RejectionSampling(ModelRunner(loaded), static=static, cost=CostModel()), prompts, settings
    )
    after = measure(engine_for(loaded, static=static, cost=CostModel()), prompts, settings)
    result = {
        "receipt": stamp,
        "config": {
            "questions": [q.question_id for q in questions],
            "max_new_tokens": args.max_new_tokens,
            "temperature": args.temperature,
            "seed": args.seed,
            "methods": METHODS,
            "draft_policy": args.draft_policy,
        },
        "results": {
            m: {"before": before["methods"][m], "after": after["methods"][m]} for m in METHODS
        },
        "identical_across_methods": {"before": before["identical"], "after": after["identical"]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for m in METHODS:
        b, a = result["results"][m]["before"]["mat"], result["results"][m]["after"]["mat"]
        print(f"{m:14s} MAT before {b:.2f}  after {a:.2f}")
    print("identical to plain sampling:", result["identical_across_methods"])


if __name__ == "__main__":
    main()
