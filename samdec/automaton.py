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
* StaticSuffixAutomaton is built once from a corpus of documents, compacted to edges sorted per
  state (CSR), saved as one file and memory-mapped. A StaticCursor matches one request against it.

All per-token work runs in numba-compiled functions over flat numpy arrays, one call per
advance(), so Python overhead is paid per step, not per token.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Iterable, Sequence

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
def _unpack_token(key):
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
                    key = _pack(clone, _unpack_token(edge_key[edge]))
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


@njit(cache=True)
def _compact_edges(num_states, edge_key, edge_target):
    """Hash-table edges -> CSR: per state, its edges sorted by token. Separator edges are dropped
    (queries never contain the separator)."""
    # Counting sort by source state: two linear passes over the table, no pointer chasing.
    edge_offsets = np.zeros(num_states + 1, np.int64)
    for slot in range(edge_key.size):
        if edge_key[slot] != NONE and _unpack_token(edge_key[slot]) != SEPARATOR:
            edge_offsets[(edge_key[slot] >> 32) + 1] += 1
    for state in range(num_states):
        edge_offsets[state + 1] += edge_offsets[state]
    fill = edge_offsets[:-1].copy()
    edge_tokens = np.empty(edge_offsets[num_states], np.int32)
    edge_targets = np.empty(edge_offsets[num_states], np.int32)
    for slot in range(edge_key.size):
        if edge_key[slot] != NONE and _unpack_token(edge_key[slot]) != SEPARATOR:
            src = edge_key[slot] >> 32
            edge_tokens[fill[src]] = _unpack_token(edge_key[slot])
            edge_targets[fill[src]] = edge_target[slot]
            fill[src] += 1
    # Then sort each state's edges by token, for binary search.
    for state in range(num_states):
        start, end = edge_offsets[state], edge_offsets[state + 1]
        if end - start > 32:  # a few states (the root above all) have thousands of edges
            order = np.argsort(edge_tokens[start:end]) + start
            edge_tokens[start:end] = edge_tokens[order]
            edge_targets[start:end] = edge_targets[order]
        else:  # insertion sort: most states have 1-3 edges
            for i in range(start + 1, end):
                token, target, j = edge_tokens[i], edge_targets[i], i
                while j > start and edge_tokens[j - 1] > token:
                    edge_tokens[j], edge_targets[j] = edge_tokens[j - 1], edge_targets[j - 1]
                    j -= 1
                edge_tokens[j], edge_targets[j] = token, target
    return edge_offsets, edge_tokens, edge_targets


@njit(cache=True)
def _latest_endpos(length, link, firstpos):
    """Latest end position of each state = max firstpos over its subtree of suffix links.

    A child is longer than its parent, so visiting states by decreasing length (counting sort)
    finishes every child before its parent is read.
    """
    num_states = length.size
    count = np.zeros(length.max() + 2, np.int64)
    for state in range(num_states):
        count[length[state] + 1] += 1
    for i in range(1, count.size):
        count[i] += count[i - 1]
    by_length = np.empty(num_states, np.int32)
    for state in range(num_states):
        by_length[count[length[state]]] = state
        count[length[state]] += 1
    lastpos = firstpos.copy()
    for i in range(num_states - 1, 0, -1):
        state = by_length[i]
        parent = link[state]
        if lastpos[state] > lastpos[parent]:
            lastpos[parent] = lastpos[state]
    return lastpos


@njit(cache=True)
def _csr_transition(edge_offsets, edge_tokens, edge_targets, state, token):
    """Binary search of `token` among the state's sorted edges; NONE if absent."""
    lo, hi = edge_offsets[state], edge_offsets[state + 1]
    end = hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if edge_tokens[mid] < token:
            lo = mid + 1
        else:
            hi = mid
    if lo < end and edge_tokens[lo] == token:
        return np.int64(edge_targets[lo])
    return np.int64(NONE)


@njit(cache=True)
def _match(tokens, edge_offsets, edge_tokens, edge_targets, length, link, state, matched):
    """Standard SAM matching of `tokens`, continuing from (state, matched)."""
    for token in tokens:
        while True:
            target = _csr_transition(edge_offsets, edge_tokens, edge_targets, state, token)
            if target != NONE:
                state, matched = target, matched + 1
                break
            if state == ROOT:
                matched = 0
                break
            state = np.int64(link[state])  # drop tokens from the front of the match
            matched = np.int64(length[state])
    return matched, state


# ---------------------------------------------------------------------------------------------
# Dynamic automaton
# ---------------------------------------------------------------------------------------------


def _check_endpos(endpos: str) -> None:
    if endpos not in ENDPOS_MODES:
        raise ValueError(f"endpos must be one of {ENDPOS_MODES}, got {endpos!r}")


def _next_power_of_two(n: int) -> int:
    return 1 << max(n - 1, 1).bit_length()


def _token_array(tokens: TokenIds) -> np.ndarray:
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
        _check_endpos(endpos)
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
        # edges can ever exist, so it never fills; natural text has ~2.1 edges per token, a
        # load factor of 0.35-0.7.
        slots = _next_power_of_two(3 * capacity + 5)
        old_key, old_target = self._edge_key, self._edge_target
        self._edge_key = np.full(slots, NONE, np.int64)
        self._edge_target, self._edge_next = np.empty(slots, np.int32), np.empty(slots, np.int32)
        _rehash(old_key, old_target, self._edge_key, self._edge_target, self._edge_next,
                self._edge_head, states)  # fmt: skip
        self._capacity = capacity

    def advance(self, tokens: TokenIds) -> tuple[int, int]:
        """Append tokens to the text; return (match_length, match_state) for the new text."""
        tokens = _token_array(tokens)
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
            chosen = _pick_states(
                [[ROOT, last, self.match_state], _chain(self._link, last),
                 _chain(self._link, self.match_state), match_path, draft_path],
                max_states,
            )  # fmt: skip
        endpos = self._lastpos if self._track_last else self._firstpos
        edges = zip(sources, tokens, targets, strict=True)
        return _snapshot_dict(chosen, self._length, self._link, endpos, edges, last, self)


# ---------------------------------------------------------------------------------------------
# Static automaton: CSR arrays, one file, memory-mapped
# ---------------------------------------------------------------------------------------------

_MAGIC = b"\x93SAMDEC\n"
_FORMAT = "samdec.StaticSuffixAutomaton"
_FORMAT_VERSION = 1
_ALIGN = 64
# name -> dtype; the kernels are compiled for exactly these
_ARRAY_DTYPES = {
    "corpus": np.dtype("<i4"),  # documents, each followed by SEPARATOR
    "length": np.dtype("<i4"),  # longest string of each state
    "link": np.dtype("<i4"),  # suffix link (-1 for the root)
    "endpos": np.dtype("<i4"),  # an end position in the corpus: earliest or latest, see endpos
    "edge_offsets": np.dtype("<i8"),  # edges of state s: [edge_offsets[s], edge_offsets[s + 1])
    "edge_tokens": np.dtype("<i4"),  # sorted within each state
    "edge_targets": np.dtype("<i4"),
}


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


class StaticSuffixAutomaton:
    """Read-only automaton of a corpus of documents: share one, give each request a cursor."""

    def __init__(self, arrays: dict[str, np.ndarray], endpos: str, num_documents: int) -> None:
        _check_endpos(endpos)
        for name, dtype in _ARRAY_DTYPES.items():
            array = arrays[name]
            assert array.dtype == dtype and array.ndim == 1, name
            array.flags.writeable = False  # one compiled kernel for built and loaded automata
        self.arrays = arrays
        self.path: str | os.PathLike | None = None  # the file, once saved or loaded
        self.endpos = endpos
        self.num_documents = num_documents
        self.corpus, self.length, self.link = arrays["corpus"], arrays["length"], arrays["link"]
        self.endpos_array = arrays["endpos"]
        self.edge_offsets = arrays["edge_offsets"]
        self.edge_tokens, self.edge_targets = arrays["edge_tokens"], arrays["edge_targets"]

    @classmethod
    def build(cls, documents: Iterable[TokenIds], endpos: str = "first") -> StaticSuffixAutomaton:
        """Automaton of the documents joined as doc SEPARATOR doc SEPARATOR ... ."""
        _check_endpos(endpos)
        pieces, num_documents = [], 0
        separator = np.array([SEPARATOR], np.int32)
        for document in documents:
            document = np.asarray(document)
            if document.size:
                if not np.issubdtype(document.dtype, np.integer):
                    raise TypeError(f"document {num_documents}: token ids must be integers")
                if document.min() < 0 or document.max() > np.iinfo(np.int32).max:
                    raise ValueError(f"document {num_documents}: token ids must be in [0, 2^31)")
            pieces += [document.astype(np.int32).ravel(), separator]
            num_documents += 1
        corpus = np.concatenate(pieces) if pieces else np.empty(0, np.int32)
        # Build with the dynamic builder, sized once for the whole corpus, in one compiled call.
        builder = DynamicSuffixAutomaton(endpos="first", capacity=len(corpus))
        builder.advance(corpus)
        num_states = builder.num_states
        edge_offsets, edge_tokens, edge_targets = _compact_edges(
            num_states, builder._edge_key, builder._edge_target
        )
        # Views, not copies: the unused tails of the builder's arrays were never touched, so
        # they take no physical memory.
        length = builder._length[:num_states]
        link = builder._link[:num_states]
        firstpos = builder._firstpos[:num_states]
        del builder  # free the hash table before computing last positions
        arrays = dict(
            corpus=corpus,
            length=length,
            link=link,
            endpos=firstpos if endpos == "first" else _latest_endpos(length, link, firstpos),
            edge_offsets=edge_offsets,
            edge_tokens=edge_tokens,
            edge_targets=edge_targets,
        )
        return cls(arrays, endpos, num_documents)

    @property
    def num_states(self) -> int:
        return self.length.size

    @property
    def num_edges(self) -> int:
        return self.edge_tokens.size

    @property
    def num_tokens(self) -> int:
        """Corpus length, separators included."""
        return self.corpus.size

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.arrays.values())

    def cursor(self) -> StaticCursor:
        return StaticCursor(self)

    def transition(self, state: int, token: int) -> int:
        """Target of the edge (state, token), or -1."""
        lo, hi = self.edge_offsets[state], self.edge_offsets[state + 1]
        i = lo + np.searchsorted(self.edge_tokens[lo:hi], token)
        return int(self.edge_targets[i]) if i < hi and self.edge_tokens[i] == token else NONE

    def save(self, path: str | os.PathLike) -> None:
        """One file: magic, header length (uint64 LE), JSON header, 64-byte aligned raw arrays."""
        layout, offset = {}, 0
        for name, array in self.arrays.items():
            offset = _aligned(offset)
            layout[name] = dict(dtype=array.dtype.str, shape=list(array.shape), offset=offset)
            offset += array.nbytes
        header = json.dumps(
            dict(
                format=_FORMAT,
                version=_FORMAT_VERSION,
                endpos=self.endpos,
                num_documents=self.num_documents,
                num_states=self.num_states,
                num_edges=self.num_edges,
                num_tokens=self.num_tokens,
                arrays=layout,
            )
        ).encode()
        data_start = _aligned(len(_MAGIC) + 8 + len(header))
        with open(path, "wb") as file:
            file.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            for name, array in self.arrays.items():
                file.write(b"\0" * (data_start + layout[name]["offset"] - file.tell()))
                file.write(memoryview(np.ascontiguousarray(array)).cast("B"))
        self.path = path

    @classmethod
    def load(cls, path: str | os.PathLike) -> StaticSuffixAutomaton:
        """Memory-map a saved automaton (read-only); pages are read lazily as cursors touch them."""

        def invalid(why: str) -> ValueError:
            return ValueError(f"{path}: not a valid samdec static automaton file ({why})")

        with open(path, "rb") as file:
            file_size = os.fstat(file.fileno()).st_size
            prefix = file.read(len(_MAGIC) + 8)
            if len(prefix) < len(_MAGIC) + 8 or not prefix.startswith(_MAGIC):
                raise invalid("wrong magic bytes")
            header_size = int.from_bytes(prefix[len(_MAGIC) :], "little")
            if header_size > file_size - len(prefix):
                raise invalid("truncated header")
            try:
                header = json.loads(file.read(header_size))
                kind = (header["format"], header["version"])
                layout, endpos = header["arrays"], header["endpos"]
                num_documents = int(header["num_documents"])
            except (ValueError, KeyError, TypeError) as error:
                raise invalid(f"malformed header: {error!r}") from error
            if kind != (_FORMAT, _FORMAT_VERSION):
                raise invalid(f"unsupported format {kind}")
            buffer = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        data_start = _aligned(len(_MAGIC) + 8 + header_size)
        arrays = {}
        for name, dtype in _ARRAY_DTYPES.items():
            try:
                spec = layout[name]
                (count,) = spec["shape"]
                start = data_start + int(spec["offset"])
                ok = np.dtype(spec["dtype"]) == dtype and isinstance(count, int) and count >= 0
                ok = ok and start >= data_start
            except (KeyError, TypeError, ValueError) as error:
                raise invalid(f"malformed entry for array {name!r}: {error!r}") from error
            if not ok:
                raise invalid(f"array {name!r} has an unexpected dtype or shape")
            if start + count * dtype.itemsize > file_size:
                raise invalid(f"file is truncated: array {name!r} runs past its end")
            arrays[name] = np.frombuffer(buffer, dtype, count, start)
        num_states, num_edges = arrays["length"].size, arrays["edge_tokens"].size
        if (
            endpos not in ENDPOS_MODES
            or num_states < 1
            or arrays["link"].size != num_states
            or arrays["endpos"].size != num_states
            or arrays["edge_offsets"].size != num_states + 1
            or arrays["edge_targets"].size != num_edges
            or arrays["edge_offsets"][0] != 0
            or arrays["edge_offsets"][-1] != num_edges
        ):
            raise invalid("inconsistent array sizes")
        automaton = cls(arrays, endpos, num_documents)
        automaton.path = path
        return automaton

    def verify(self) -> None:
        """Check every value the kernels index with (reads the whole file; load() only checks
        the structure, so that it stays instant). Raises ValueError on corruption."""
        num_states, offsets = self.num_states, self.edge_offsets
        targets, links, endpos = self.edge_targets, self.link[1:], self.endpos_array
        problems = {
            "edge offsets decrease": np.any(offsets[1:] < offsets[:-1]),
            "edge target out of range": np.any((targets < 0) | (targets >= num_states)),
            "negative edge token": np.any(self.edge_tokens < 0),
            "root has a suffix link": self.link[ROOT] != NONE,
            "suffix link out of range": np.any((links < 0) | (links >= num_states)),
            "negative state length": np.any(self.length < 0),
            "end position out of range": np.any((endpos < NONE) | (endpos >= self.num_tokens)),
            "token id below -1": np.any(self.corpus < SEPARATOR),
        }
        found = [problem for problem, present in problems.items() if present]
        if found:
            raise ValueError(f"{self.path or 'static automaton'}: corrupt: {', '.join(found)}")


class StaticCursor:
    """One request's position in a shared StaticSuffixAutomaton."""

    def __init__(self, automaton: StaticSuffixAutomaton) -> None:
        self.automaton = automaton
        self.reset()

    def reset(self) -> None:
        self.match_length, self.match_state = 0, ROOT

    def advance(self, tokens: TokenIds) -> tuple[int, int]:
        """Feed query tokens; return (match_length, match_state): the longest suffix of the query
        so far that occurs in some document, and its state."""
        tokens = _token_array(tokens)
        if tokens.size:
            sam = self.automaton
            self.match_length, self.match_state = _match(
                tokens, sam.edge_offsets, sam.edge_tokens, sam.edge_targets, sam.length, sam.link,
                self.match_state, self.match_length,
            )  # fmt: skip
        return self.match_length, self.match_state

    def match_end(self) -> int:
        """Corpus position where an occurrence of the match ends (-1 if no match)."""
        if self.match_length == 0:
            return NONE
        return int(self.automaton.endpos_array[self.match_state])

    def draft(self, n: int) -> np.ndarray:
        """Up to n corpus tokens after the match's occurrence, stopping at the document's end."""
        if self.match_length == 0 or n <= 0:
            return np.empty(0, np.int32)
        start = self.match_end() + 1
        draft = self.automaton.corpus[start : start + n]  # non-empty: the corpus ends with -1
        stop = (draft == SEPARATOR).argmax()  # the first separator, or 0 if there is none
        return (draft[:stop] if draft[stop] == SEPARATOR else draft).copy()

    def neighbourhood(self, max_states: int = 40) -> dict:
        """Snapshot-shaped view around the match: root, match state, its suffix-link chain, the
        path spelling the match, then its out-edges' targets. "last" is the match state."""
        sam, state = self.automaton, self.match_state
        end = self.match_end()
        spelled = sam.corpus[end + 1 - self.match_length : end + 1].tolist() if end >= 0 else []
        path, node = [ROOT], ROOT
        for token in spelled:
            node = sam.transition(node, token)
            path.append(node)
        out_edges = sam.edge_targets[sam.edge_offsets[state] : sam.edge_offsets[state + 1]]
        chosen = _pick_states(
            [[ROOT, state], _chain(sam.link, state), path, out_edges[:max_states].tolist()],
            max_states,
        )
        edges = []
        chosen_array = np.array(chosen)
        for src in chosen:
            lo, hi = sam.edge_offsets[src], sam.edge_offsets[src + 1]
            keep = np.isin(sam.edge_targets[lo:hi], chosen_array)
            tokens, targets = sam.edge_tokens[lo:hi][keep], sam.edge_targets[lo:hi][keep]
            edges += [(src, t, d) for t, d in zip(tokens.tolist(), targets.tolist(), strict=True)]
        return _snapshot_dict(chosen, sam.length, sam.link, sam.endpos_array, edges, state, self)


# ---------------------------------------------------------------------------------------------
# Snapshot helpers (visualisation only; plain Python, not performance critical)
# ---------------------------------------------------------------------------------------------


def _chain(link: np.ndarray, state: int) -> list[int]:
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


def _pick_states(groups: list[list[int]], max_states: int) -> list[int]:
    """Distinct states from the groups, in order, at most max_states."""
    chosen: dict[int, None] = {}
    for group in groups:
        for state in group:
            if len(chosen) >= max_states:
                return list(chosen)
            chosen.setdefault(int(state), None)
    return list(chosen)


def _snapshot_dict(chosen, length, link, endpos, edges, last, matcher) -> dict:
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
