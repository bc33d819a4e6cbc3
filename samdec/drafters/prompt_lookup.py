"""PromptLookup: prompt lookup decoding (Saxena, 2023) as an engine drafter, method `pld`.

The same drafting as transformers' `PromptLookupCandidateGenerator.get_candidates` (transformers
5.x): for n from `max_ngram` down to 1 (and below the text's length), the last n tokens of the
text (prompt + generated) are looked for among its n-token windows from left to right; the
first window with a non-empty continuation drafts the next `num_tokens` tokens after it (they
end where the text ends), cut before the first EOS. The first window found decides: when its
continuation starts with EOS there is no draft, and no shorter n-gram is tried (transformers
stops there too). Two differences, neither in what is drafted from a text: transformers caps
the window's end *index* at `max_length`, the engine caps the draft at the length policy's
`max_tokens`; and transformers drops tokens its logits processors forbid, the engine has none.

It runs in the engine's loop, so against `sam` only the drafting differs (same verification,
same length policy). Lookups are dictionary reads: the first start of every n-gram seen so far
is kept, which is the leftmost window of the scan (the last window, the text's own suffix, has
an empty continuation and is the first occurrence only when there is no earlier one).
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import Draft, Verified, chain

SOURCE = "pld"
MAX_NGRAM = 2  # transformers' default max_matching_ngram_size
NUM_TOKENS = 10  # transformers' documented prompt_lookup_num_tokens


class PromptLookup:
    """Drafts the continuation of the first earlier occurrence of the text's last n-gram."""

    name = SOURCE
    topk = 0

    def __init__(
        self,
        max_ngram: int = MAX_NGRAM,
        num_tokens: int = NUM_TOKENS,
        eos_ids: Iterable[int] = (),
    ) -> None:
        if max_ngram < 1 or num_tokens < 1:  # as transformers refuses them
            raise ValueError("prompt lookup needs an n-gram size and a draft length of at least 1")
        self.max_ngram = max_ngram
        self.num_tokens = num_tokens
        self.eos_ids = frozenset(int(t) for t in eos_ids)
        self.start([])

    def start(self, prompt_ids: list[int]) -> None:
        self.text: list[int] = []
        # first[n - 1][ngram] = the start of the n-gram's first occurrence in the text
        self.first: list[dict[tuple[int, ...], int]] = [{} for _ in range(self.max_ngram)]
        self.observe(prompt_ids)

    def observe(self, new_tokens: list[int], verified: Verified | None = None) -> None:
        text = self.text
        for token in new_tokens:
            text.append(int(token))
            end = len(text)
            for n in range(1, min(self.max_ngram, end) + 1):
                self.first[n - 1].setdefault(tuple(text[end - n :]), end - n)

    def lookup(self) -> tuple[int, int]:
        """(n, start) of the first earlier occurrence of the longest last n-gram that has one;
        (0, -1) when none has."""
        text = self.text
        size = len(text)
        for n in range(min(self.max_ngram, size - 1), 0, -1):
            start = self.first[n - 1].get(tuple(text[size - n :]), size)
            if start + n < size:  # not the text's own suffix: its continuation is non-empty
                return n, start
        return 0, -1

    def propose(self, max_tokens: int) -> Draft:
        n, start = self.lookup()
        if n == 0:
            largest = min(self.max_ngram, len(self.text) - 1)
            sizes = f"1-{largest}" if largest > 1 else "1"
            return self._empty(0, f"no n-gram of the last {sizes} tokens found earlier")
        begin = start + n
        tokens = self.text[begin : begin + min(self.num_tokens, max(0, max_tokens))]
        cut = next((i for i, t in enumerate(tokens) if t in self.eos_ids), None)
        found = f"{n}-gram found at position {start}"
        if cut is not None:
            tokens = tokens[:cut]
            if not tokens:
                return self._empty(n, f"{found}; its continuation starts with EOS")
        if not tokens:
            return self._empty(n, f"{found}; no room for a draft")
        return chain(tokens, SOURCE, reason=found, match_length=n)

    @staticmethod
    def _empty(n: int, reason: str) -> Draft:
        return chain([], "none", reason=reason, match_length=n, rule_source=SOURCE)
