"""The decoding methods, and what each one uses: the one table everything else reads.

The engine, the drafter factory, the CLI, the benchmark, the app and the visuals ask this table
("does this method read the static automaton?") instead of comparing method names, so a new
method is one row here. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # how the app names it
    static: bool  # drafts from the static automaton over a corpus
    dynamic: bool  # drafts from the dynamic automaton over the current text
    recycling: bool  # drafts a Token Recycling tree (below l_threshold when with SAM)
    # Below l_threshold, grafts the short match's retrieval chain into the recycling tree
    # instead of dropping it (samdec/drafters/graft.py).
    graft: bool = False
    # Drafts by prompt lookup (samdec/drafters/prompt_lookup.py): the text's last n-gram.
    ngram: bool = False

    @property
    def automata(self) -> bool:
        """Matches the text against suffix automata (so a step's match lengths mean something)."""
        return self.static or self.dynamic

    @property
    def drafts(self) -> bool:
        return self.automata or self.recycling or self.ngram

    @property
    def tree(self) -> bool:
        """Drafts trees (needs a model that honours a tree attention mask)."""
        return self.recycling

    @property
    def rule(self) -> bool:
        """Chooses between drafters with the paper's rule (samdec.rule: l_bias, l_threshold)."""
        return self.automata


_TABLE = (
    Method("ar", "plain decoding", static=False, dynamic=False, recycling=False),
    Method("sam", "SAM (static + dynamic)", static=True, dynamic=True, recycling=False),
    Method("sam-dynamic", "SAM, dynamic automaton only", False, dynamic=True, recycling=False),
    # The paper's ablation with the dynamic automaton removed (its match counts as 0).
    Method("sam-static", "SAM, static automaton only", True, dynamic=False, recycling=False),
    Method("pld", "prompt lookup (n-gram)", False, False, recycling=False, ngram=True),
    Method("recycling", "Token Recycling only", static=False, dynamic=False, recycling=True),
    Method("sam+recycling", "SAM + Token Recycling", static=True, dynamic=True, recycling=True),
    Method("sam+graft", "SAM grafted into Token Recycling", True, True, recycling=True, graft=True),
)
TABLE: dict[str, Method] = {m.name: m for m in _TABLE}
METHODS = tuple(TABLE)


def method(name: str) -> Method:
    """The row of a method; ValueError naming the choices for an unknown one."""
    try:
        return TABLE[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.") from None
