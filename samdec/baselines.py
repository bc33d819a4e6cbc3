"""The baselines speculative decoding is measured against, in one place for the bench and the app.

`hf_generate` is transformers' own `generate(do_sample=False)`: plain greedy decoding, or with
`prompt_lookup=True` transformers' prompt lookup decoding (`prompt_lookup_num_tokens`), the
speculative method a user would reach for first; the bench calls it `hf-pld` (`pld` is the
engine's own prompt lookup drafter). Both are greedy, so both write exactly the
model's own greedy text; only their speed differs.
"""

from __future__ import annotations

import time

HF_PLD = "hf-pld"  # transformers' prompt lookup decoding, by its bench name
PLD_TOKENS = 10  # prompt_lookup_num_tokens: transformers' documented example value
PLD_NGRAM = 2  # max_matching_ngram_size (transformers' default)
PLD_MAX_TOKENS = 64  # the longest draft the bench's `hf-pld:N` accepts


def pld_settings(tokens: int = PLD_TOKENS) -> dict[str, int]:
    """The prompt lookup settings, as `generate` takes them (and as results files record them)."""
    return {"prompt_lookup_num_tokens": tokens, "max_matching_ngram_size": PLD_NGRAM}


def pad_token_id(model) -> int | None:
    """The model's pad token, else its EOS token when there is exactly one, else None.

    Passing it keeps `generate` from warning (and guessing) on models that define no pad token.
    """
    config = model.generation_config
    if config.pad_token_id is not None:
        return config.pad_token_id
    eos = config.eos_token_id
    return eos if isinstance(eos, int) else None


def hf_generate(
    model,
    prompt_ids: list[int],
    max_new_tokens: int,
    prompt_lookup: bool = False,
    pld_tokens: int = PLD_TOKENS,
) -> tuple[list[int], float]:
    """transformers' greedy `generate` (with prompt lookup decoding if asked): (new ids, seconds).

    `pld_tokens` is prompt lookup's draft length (`prompt_lookup_num_tokens`).

    The time covers generation only, with the GPU synchronised before the clock stops.
    """
    import torch

    input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=model.device)
    kwargs: dict = {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "pad_token_id": pad_token_id(model),
    }
    if prompt_lookup:
        kwargs.update(pld_settings(pld_tokens))
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return [int(t) for t in out[0, len(prompt_ids) :].tolist()], seconds
