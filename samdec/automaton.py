"""Suffix automata over token ids: the retrieval engine of SAM-Decoding (arXiv 2411.10666).

A suffix automaton (SAM) of a text is the smallest deterministic automaton that recognises its
suffixes. Every path from the root spells a substring, and every substring has a path: walk it
from the root, one token per transition, and you stay inside exactly as long as the tokens read
so far occur somewhere in the text.

* States. Group the substrings of the text by the set of positions where they end ("endpos").
  Each group is one state: a chain of suffixes of one another with lengths
  length[link[s]] + 1 .. length[s]. A text of n tokens needs at most 2n - 1 states and 3n - 4
  transitions, so the automaton is linear in the text.
* Suffix links. link[s] is the state of the longest suffix of s's strings that ends at *more*
  positions. Following a link = dropping tokens from the front of the current match.
* Online construction. Appending a token creates one state (`last`, the whole text) and adds
  transitions along the suffix-link chain of the previous `last`, sometimes cloning a state to
  split its endpos class. This is amortized O(1) per token.
* Matching. For the longest suffix of a query that occurs in the text, keep (state, length).
  On the next token take its transition (length + 1); if there is none, follow suffix links
  (shorter matches) until there is one. A token adds at most 1 to the length and every link
  followed removes at least 1, so the total work is linear: amortized O(1) per token.

To draft we also need *where* a state's strings occurred: `firstpos` (earliest end position,
set when a state is created and inherited by clones) or `lastpos` (latest end position).
The tokens that followed that occurrence are the draft.

* DynamicSuffixAutomaton grows with one request (prompt + generated tokens). After appending a
  token, link[last] is exactly the longest suffix of the text that also ended at an earlier
  position - the match comes for free with the construction.
* StaticSuffixAutomaton (samdec.static_automaton) is built once from a corpus of documents with
  the same construction, compacted to edges sorted per state (CSR), saved as one file and
  memory-mapped. A StaticCursor matches one request against it.

All per-token work runs in numba-compiled functions over flat numpy arrays, one call per
advance(), so Python overhead is paid per step, not per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

SEPARATOR = -1  # token between documents of a static corpus; never a real token id
ROOT = 0  # state of the empty string
NONE = -1  # "no state", "no edge", "no position"
ENDPOS_MODES = ("first", "last")

# Scalars of a DynamicSuffixAutomaton, kept in a small int64 array that the builder updates.
_NUM_STATES, _NUM_EDGES, _LAST, _SIZE = range(4)

TokenIds = Sequence[int] | np.ndarray


# ---------------------------------------------------------------------------------------------
# Compiled kernels
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _pack(state, token):
    """Hash key of the transition (state, token); the token as unsigned so -1 packs cleanly."""
    return (np.int64(state) << 32) | (np.int64(token) & 0xFFFFFFFF)


@njit(cache=True)
def unpack_token(key):
    return np.int32(key & 0xFFFFFFFF)  # truncation to int32 turns 0xFFFFFFFF back into -1


@njit(cache=True)
def _hash_shift(table_size):
    """A table of 2^bits slots is indexed by the top `bits` bits of the 64-bit hash."""
    bits = 0
    while (1 << bits) < table_size:
        bits += 1
    return np.uint64(64 - bits)


@njit(cache=True)
def _find_edge(edge_key, key, shift):
    """Slot of `key` in the open-addressing edge table, or the empty slot where it belongs."""
    # Fibonacci hashing: the top bits of key * 2^64/phi depend on every bit of the key.
    slot = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> shift)
    mask = edge_key.size - 1
    while edge_key[slot] != NONE and edge_key[slot] != key:
        slot = (slot + 1) & mask  # linear probing: the next slot is usually in the same cache line
    return slot


@njit(cache=True)
def _add_edge(src, key, dst, slot, edge_key, edge_target, edge_next, edge_head):
    """Fill the empty slot and push it on src's edge list (so a clone can copy src's edges)."""
    edge_key[slot] = key
    edge_target[slot] = dst
    edge_next[slot] = edge_head[src]
    edge_head[src] = slot


@njit(cache=True)
def _rehash(old_key, old_target, edge_key, edge_target, edge_next, edge_head, num_states):
    """Move every edge into a (larger) empty table; slot numbers change, so rebuild the lists."""
    shift = _hash_shift(edge_key.size)
    edge_head[:num_states] = NONE
    for old in range(old_key.size):
        key = old_key[old]
        if key != NONE:
            slot = _find_edge(edge_key, key, shift)
            _add_edge(key >> 32, key, old_target[old], slot, edge_key, edge_target, edge_next,
                      edge_head)  # fmt: skip


@njit(cache=True)
def _extend(tokens, text, length, link, firstpos, lastpos, edge_head,
            edge_key, edge_target, edge_next, counters, track_last):  # fmt: skip
    """Append `tokens` to the automaton (textbook online construction).

    Returns (match_length, match_state, match_end) for the final text: the longest suffix that
    also ended at an earlier position, its state, and that earlier end position.
    """
    shift = _hash_shift(edge_key.size)
    num_states, num_edges = counters[_NUM_STATES], counters[_NUM_EDGES]
    last, pos = counters[_LAST], counters[_SIZE]
    match_state, match_end = ROOT, NONE
    for token in tokens:
        text[pos] = token
        cur = num_states
        num_states += 1
        length[cur] = length[last] + 1
        firstpos[cur] = lastpos[cur] = pos
        edge_head[cur] = NONE
        # Suffixes of the old text never followed by `token` so far now are, ending here: cur.
        p, edge = last, 0
        while p != NONE:
            key = _pack(p, token)
            edge = _find_edge(edge_key, key, shift)
            if edge_key[edge] != NONE:
                break
            _add_edge(p, key, cur, edge, edge_key, edge_target, edge_next, edge_head)
            num_edges += 1
            p = link[p]
        if p == NONE:
            link[cur] = ROOT  # `token` is new: only the empty suffix occurred before
        else:
            q = edge_target[edge]
            if length[q] == length[p] + 1:
                link[cur] = q  # q is exactly (p's longest string + token): reuse it
            else:
                # q also holds longer strings that did not end here: split off the short ones
                # into a clone whose endpos gains the new position.
                clone = num_states
                num_states += 1
                length[clone] = length[p] + 1
                link[clone] = link[q]
                firstpos[clone] = firstpos[q]
                lastpos[clone] = lastpos[q]
                edge_head[clone] = NONE
                edge = edge_head[q]
                while edge != NONE:
                    key = _pack(clone, unpack_token(edge_key[edge]))
                    slot = _find_edge(edge_key, key, shift)
                    _add_edge(clone, key, edge_target[edge], slot, edge_key, edge_target,
                              edge_next, edge_head)  # fmt: skip
                    num_edges += 1
                    edge = edge_next[edge]
                while p != NONE:  # the shorter suffixes that led to q now lead to the clone
                    edge = _find_edge(edge_key, _pack(p, token), shift)
                    if edge_key[edge] == NONE or edge_target[edge] != q:
                        break
                    edge_target[edge] = clone
                    p = link[p]
                link[q] = clone
                link[cur] = clone
        last = cur
        # The longest suffix that also ended earlier is cur's suffix link, by definition.
        match_state = link[cur]
        if match_state == ROOT:
            match_end = NONE
        elif track_last:
            match_end = lastpos[match_state]  # read before this position is recorded below
        else:
            match_end = firstpos[match_state]
        if track_last:
            # Exactly the states on cur's suffix-link chain gain end position `pos`.
            state = match_state
            while state != NONE:
                lastpos[state] = pos
                state = link[state]
        pos += 1
    counters[_NUM_STATES], counters[_NUM_EDGES] = num_states, num_edges
    counters[_LAST], counters[_SIZE] = last, pos
    return length[match_state], match_state, match_end


# ---------------------------------------------------------------------------------------------
# Dynamic automaton (also the builder of the static one)
# ---------------------------------------------------------------------------------------------


def check_endpos(endpos: str) -> None:
    if endpos not in ENDPOS_MODES:
        raise ValueError(f"endpos must be one of {ENDPOS_MODES}, got {endpos!r}")


def _next_power_of_two(n: int) -> int:
    return 1 << max(n - 1, 1).bit_length()


def token_array(tokens: TokenIds) -> np.ndarray:
    """int32, contiguous, writable: the one argument type the kernels are compiled for."""
    array = np.ascontiguousarray(tokens, dtype=np.int32)
    return array if array.flags.writeable else array.copy()


def _grown(old: np.ndarray, size: int, used: int) -> np.ndarray:
    new = np.empty(size, old.dtype)
    new[:used] = old[:used]
    return new


class DynamicSuffixAutomaton:
    """Suffix automaton of a growing text (one request), with the match against its own past.

    After advance(): match_length is the length of the longest suffix of the text that also
    ended at an earlier position, match_state its state (0, the root, if none); draft(n) cuts
    the tokens that followed that earlier occurrence. endpos="first" drafts from the earliest
    occurrence, "last" from the latest (costs a walk up the suffix-link chain per token).
    """

    def __init__(self, endpos: str = "first", capacity: int = 1024) -> None:
        check_endpos(endpos)
        self.endpos = endpos
        self._track_last = endpos == "last"
        self._counters = np.zeros(4, np.int64)
        self._capacity = 0
        self._text = np.empty(0, np.int32)
        self._length, self._link = np.empty(0, np.int32), np.empty(0, np.int32)
        self._firstpos, self._lastpos = np.empty(0, np.int32), np.empty(0, np.int32)
        self._edge_head = np.empty(0, np.int32)
        self._edge_key = np.empty(0, np.int64)
        self._edge_target, self._edge_next = np.empty(0, np.int32), np.empty(0, np.int32)
        self._allocate(max(int(capacity), 16))
        # The root: the empty string, which "ends" everywhere.
        self._length[ROOT] = 0
        self._link[ROOT] = self._firstpos[ROOT] = self._lastpos[ROOT] = NONE
        self._edge_head[ROOT] = NONE
        self._counters[_NUM_STATES] = 1
        self.match_length, self.match_state, self._match_end = 0, ROOT, NONE

    def _allocate(self, capacity: int) -> None:
        """Resize every array for a text of `capacity` tokens, keeping the contents."""
        states, size = self.num_states, len(self)
        self._text = _grown(self._text, capacity, size)
        # A text of n tokens has at most 2n - 1 states and 3n - 4 transitions (edges).
        for name in ("_length", "_link", "_firstpos", "_lastpos", "_edge_head"):
            setattr(self, name, _grown(getattr(self, name), 2 * capacity + 2, states))
        # The edges live in the slots of an open-addressing hash table with more slots than
        # edges can ever exist, so it never fills and probe sequences stay short.
        slots = _next_power_of_two(3 * capacity + 5)
        old_key, old_target = self._edge_key, self._edge_target
        self._edge_key = np.full(slots, NONE, np.int64)
        self._edge_target, self._edge_next = np.empty(slots, np.int32), np.empty(slots, np.int32)
        _rehash(old_key, old_target, self._edge_key, self._edge_target, self._edge_next,
                self._edge_head, states)  # fmt: skip
        self._capacity = capacity

    def advance(self, tokens: TokenIds) -> tuple[int, int]:
        """Append tokens to the text; return (match_length, match_state) for the new text."""
        tokens = token_array(tokens)
        if tokens.size:
            if len(self) + tokens.size > self._capacity:
                self._allocate(max(len(self) + tokens.size, 2 * self._capacity))
            self.match_length, self.match_state, self._match_end = _extend(
                tokens, self._text, self._length, self._link, self._firstpos, self._lastpos,
                self._edge_head, self._edge_key, self._edge_target, self._edge_next, self._counters,
                self._track_last,
            )  # fmt: skip
        return self.match_length, self.match_state

    def match_end(self) -> int:
        """End position of the earlier occurrence of the match we draft from (-1 if none)."""
        return self._match_end

    def draft(self, n: int) -> np.ndarray:
        """Up to n tokens that followed the earlier occurrence of the matched suffix."""
        if self._match_end == NONE or n <= 0:
            return np.empty(0, np.int32)
        start = self._match_end + 1
        return self._text[start : min(start + n, len(self))].copy()

    @property
    def text(self) -> np.ndarray:
        """The tokens so far (a read-only view)."""
        view = self._text[: len(self)]
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return int(self._counters[_SIZE])

    @property
    def num_states(self) -> int:
        return int(self._counters[_NUM_STATES])

    @property
    def num_edges(self) -> int:
        return int(self._counters[_NUM_EDGES])

    def state_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(length, link, firstpos) of every state so far: views into the automaton, not copies."""
        num_states = self.num_states
        return self._length[:num_states], self._link[:num_states], self._firstpos[:num_states]

    def edge_table(self) -> tuple[np.ndarray, np.ndarray]:
        """The edges as stored, (key, target) per hash-table slot: key = (state << 32) | token as
        uint32, NONE in an empty slot. For compacting them into another layout."""
        return self._edge_key, self._edge_target

    def snapshot(self, max_states: int | None = None) -> dict:
        """Plain-Python view of the automaton for visualisation (JSON-serialisable).

        Each state's "endpos" is its first end position (endpos="first") or its latest one so
        far ("last"). With max_states, only a neighbourhood, in priority order: root, last, match
        state, their suffix-link chains, the path spelling the match, the states along the draft.
        """
        occupied = self._edge_key != NONE
        keys = self._edge_key[occupied]
        sources = (keys >> 32).tolist()
        tokens = (keys & 0xFFFFFFFF).astype(np.uint32).view(np.int32).tolist()
        targets = self._edge_target[occupied].tolist()
        last = int(self._counters[_LAST])
        if max_states is None:
            chosen = list(range(self.num_states))
        else:
            transition = {(s, t): d for s, t, d in zip(sources, tokens, targets, strict=True)}
            match_path = _spell(transition, self.text[len(self) - self.match_length :].tolist())
            draft_path = _spell(transition, self.draft(max_states).tolist(), self.match_state)
            chosen = pick_states(
                [[ROOT, last, self.match_state], link_chain(self._link, last),
                 link_chain(self._link, self.match_state), match_path, draft_path],
                max_states,
            )  # fmt: skip
        endpos = self._lastpos if self._track_last else self._firstpos
        edges = zip(sources, tokens, targets, strict=True)
        return snapshot_dict(chosen, self._length, self._link, endpos, edges, last, self)


# ---------------------------------------------------------------------------------------------
# Snapshot helpers, shared with the static cursor (visualisation only; plain Python, not
# performance critical)
# ---------------------------------------------------------------------------------------------


def link_chain(link: np.ndarray, state: int) -> list[int]:
    """state, link[state], ..., root."""
    chain = []
    while state != NONE:
        chain.append(int(state))
        state = int(link[state])
    return chain


def _spell(transition: dict, tokens: list[int], start: int = ROOT) -> list[int]:
    path, state = [start], start
    for token in tokens:
        state = transition.get((state, token), NONE)
        if state == NONE:
            break
        path.append(state)
    return path


def pick_states(groups: list[list[int]], max_states: int) -> list[int]:
    """Distinct states from the groups, in order, at most max_states."""
    chosen: dict[int, None] = {}
    for group in groups:
        for state in group:
            if len(chosen) >= max_states:
                return list(chosen)
            chosen.setdefault(int(state), None)
    return list(chosen)


def snapshot_dict(chosen, length, link, endpos, edges, last, matcher) -> dict:
    """The chosen states, the edges between them and the match, as plain JSON-ready data."""
    chosen_set = set(chosen)
    return {
        "states": [
            {"id": s, "length": int(length[s]), "link": int(link[s]), "endpos": int(endpos[s])}
            for s in sorted(chosen_set)
        ],
        "transitions": sorted(
            [int(s), int(t), int(d)] for s, t, d in edges if s in chosen_set and d in chosen_set
        ),
        "last": int(last),
        "match_state": int(matcher.match_state),
        "match_length": int(matcher.match_length),
        "match_end": int(matcher.match_end()),
    }
