"""The static suffix automaton of a corpus: built once, saved as one file, memory-mapped.

`StaticSuffixAutomaton.build` runs the online construction of `samdec.automaton` over the
documents joined by SEPARATOR, then compacts the hash-table edges into CSR arrays: per state, its
edges sorted by token, so a transition is a binary search and the whole automaton is a handful of
flat arrays. `save` writes them into one file (a JSON header, then the raw arrays) and `load`
memory-maps it, so many processes share one copy and pages are read only when a cursor touches
them. Each request matches against the shared automaton through its own `StaticCursor`.

The file also keeps where each document starts and, when the corpus gave them, the documents'
ids (e.g. "code_alpaca_2k:10"), so a match's corpus position can be traced back to the document
it lies in (`document_at`): the page shows which answer a static draft came from.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Iterable

import numpy as np
from numba import njit

from .automaton import (
    ENDPOS_MODES,
    NONE,
    ROOT,
    SEPARATOR,
    DynamicSuffixAutomaton,
    TokenIds,
    check_endpos,
    link_chain,
    pick_states,
    snapshot_dict,
    token_array,
    unpack_token,
)

# ---------------------------------------------------------------------------------------------
# Compiled kernels over the CSR arrays
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _compact_edges(num_states, edge_key, edge_target):
    """Hash-table edges -> CSR: per state, its edges sorted by token. Separator edges are dropped
    (queries never contain the separator)."""
    # Counting sort by source state: two linear passes over the table, no pointer chasing.
    edge_offsets = np.zeros(num_states + 1, np.int64)
    for slot in range(edge_key.size):
        if edge_key[slot] != NONE and unpack_token(edge_key[slot]) != SEPARATOR:
            edge_offsets[(edge_key[slot] >> 32) + 1] += 1
    for state in range(num_states):
        edge_offsets[state + 1] += edge_offsets[state]
    fill = edge_offsets[:-1].copy()
    edge_tokens = np.empty(edge_offsets[num_states], np.int32)
    edge_targets = np.empty(edge_offsets[num_states], np.int32)
    for slot in range(edge_key.size):
        if edge_key[slot] != NONE and unpack_token(edge_key[slot]) != SEPARATOR:
            src = edge_key[slot] >> 32
            edge_tokens[fill[src]] = unpack_token(edge_key[slot])
            edge_targets[fill[src]] = edge_target[slot]
            fill[src] += 1
    # Then sort each state's edges by token, for binary search.
    for state in range(num_states):
        start, end = edge_offsets[state], edge_offsets[state + 1]
        if end - start > 32:  # a few states (the root above all) have very many edges
            order = np.argsort(edge_tokens[start:end]) + start
            edge_tokens[start:end] = edge_tokens[order]
            edge_targets[start:end] = edge_targets[order]
        else:  # insertion sort: most states have only a few edges
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
# CSR arrays, one file, memory-mapped
# ---------------------------------------------------------------------------------------------

_MAGIC = b"\x93SAMDEC\n"
_FORMAT = "samdec.StaticSuffixAutomaton"  # written into every file: part of the format, not a path
# 2 added doc_starts and the documents' ids; a version 1 file still loads (its boundaries are
# its separators), without ids.
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_ALIGN = 64
# name -> dtype; the kernels are compiled for exactly these
_ARRAY_DTYPES = {
    "corpus": np.dtype("<i4"),  # documents, each followed by SEPARATOR
    # document d is corpus[doc_starts[d] : doc_starts[d + 1] - 1], then its separator
    "doc_starts": np.dtype("<i8"),
    "length": np.dtype("<i4"),  # longest string of each state
    "link": np.dtype("<i4"),  # suffix link (-1 for the root)
    "endpos": np.dtype("<i4"),  # an end position in the corpus: earliest or latest, see endpos
    "edge_offsets": np.dtype("<i8"),  # edges of state s: [edge_offsets[s], edge_offsets[s + 1])
    "edge_tokens": np.dtype("<i4"),  # sorted within each state
    "edge_targets": np.dtype("<i4"),
}


def _separator_starts(corpus: np.ndarray) -> np.ndarray:
    """Document starts of a corpus whose every document ends with SEPARATOR."""
    return np.concatenate(([0], np.flatnonzero(corpus == SEPARATOR) + 1)).astype(np.int64)


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


class StaticSuffixAutomaton:
    """Read-only automaton of a corpus of documents: share one, give each request a cursor."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        endpos: str,
        num_documents: int,
        doc_ids: Iterable[str] = (),
    ) -> None:
        check_endpos(endpos)
        for name, dtype in _ARRAY_DTYPES.items():
            array = arrays[name]
            assert array.dtype == dtype and array.ndim == 1, name
            array.flags.writeable = False  # one compiled kernel for built and loaded automata
        self.arrays = {name: arrays[name] for name in _ARRAY_DTYPES}  # the file's order
        self.path: str | os.PathLike | None = None  # the file, once saved or loaded
        self.endpos = endpos
        self.num_documents = num_documents
        self.doc_ids = tuple(str(x) for x in doc_ids)  # empty when the corpus gave none
        if self.doc_ids and len(self.doc_ids) != num_documents:
            raise ValueError(f"{len(self.doc_ids)} document ids for {num_documents} documents")
        self.doc_starts = arrays["doc_starts"]
        self.corpus, self.length, self.link = arrays["corpus"], arrays["length"], arrays["link"]
        self.endpos_array = arrays["endpos"]
        self.edge_offsets = arrays["edge_offsets"]
        self.edge_tokens, self.edge_targets = arrays["edge_tokens"], arrays["edge_targets"]

    @classmethod
    def build(
        cls,
        documents: Iterable[TokenIds],
        endpos: str = "first",
        doc_ids: Iterable[str] | None = None,
    ) -> StaticSuffixAutomaton:
        """Automaton of the documents joined as doc SEPARATOR doc SEPARATOR ... ; `doc_ids`,
        one per document, name them (kept in the file, shown with a static draft)."""
        check_endpos(endpos)
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
        edge_offsets, edge_tokens, edge_targets = _compact_edges(num_states, *builder.edge_table())
        # Views, not copies: the unused tails of the builder's arrays were never touched, so
        # they take no physical memory.
        length, link, firstpos = builder.state_arrays()
        del builder  # free the hash table before computing last positions
        arrays = dict(
            corpus=corpus,
            length=length,
            link=link,
            endpos=firstpos if endpos == "first" else _latest_endpos(length, link, firstpos),
            edge_offsets=edge_offsets,
            edge_tokens=edge_tokens,
            edge_targets=edge_targets,
            doc_starts=_separator_starts(corpus),
        )
        return cls(arrays, endpos, num_documents, doc_ids or ())

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

    def document_at(self, position: int) -> int:
        """The document whose tokens (or closing separator) hold corpus position `position`."""
        if not 0 <= position < self.num_tokens:
            raise IndexError(f"corpus position {position} is outside 0..{self.num_tokens - 1}")
        return int(np.searchsorted(self.doc_starts, position, side="right")) - 1

    def document_span(self, document: int) -> tuple[int, int]:
        """[start, end) of a document's tokens in the corpus (its separator is at `end`)."""
        if not 0 <= document < self.num_documents:
            raise IndexError(f"document {document} is outside 0..{self.num_documents - 1}")
        return int(self.doc_starts[document]), int(self.doc_starts[document + 1]) - 1

    def document_id(self, document: int) -> str:
        """The document's id in its corpus file ("" if the corpus gave none)."""
        self.document_span(document)  # the range check
        return self.doc_ids[document] if self.doc_ids else ""

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
                version=FORMAT_VERSION,
                endpos=self.endpos,
                num_documents=self.num_documents,
                doc_ids=list(self.doc_ids),
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
                doc_ids = header.get("doc_ids", [])
                if not isinstance(doc_ids, list) or not all(isinstance(x, str) for x in doc_ids):
                    raise TypeError("doc_ids must be a list of text")
            except (ValueError, KeyError, TypeError) as error:
                raise invalid(f"malformed header: {error!r}") from error
            if kind[0] != _FORMAT or kind[1] not in _READABLE_VERSIONS:
                raise invalid(f"unsupported format {kind}")
            buffer = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        data_start = _aligned(len(_MAGIC) + 8 + header_size)
        arrays = {}
        for name, dtype in _ARRAY_DTYPES.items():
            if name == "doc_starts" and kind[1] == 1:
                continue  # version 1 had none: derived from the separators below
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
        if kind[1] == 1:
            arrays["doc_starts"] = _separator_starts(arrays["corpus"])
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
            or arrays["doc_starts"].size != num_documents + 1
            or len(doc_ids) not in (0, num_documents)
        ):
            raise invalid("inconsistent array sizes")
        automaton = cls(arrays, endpos, num_documents, doc_ids)
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
            "document starts are not the separators": not np.array_equal(
                self.doc_starts, _separator_starts(self.corpus)
            ),
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
        tokens = token_array(tokens)
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
        chosen = pick_states(
            [[ROOT, state], link_chain(sam.link, state), path, out_edges[:max_states].tolist()],
            max_states,
        )
        edges = []
        chosen_array = np.array(chosen)
        for src in chosen:
            lo, hi = sam.edge_offsets[src], sam.edge_offsets[src + 1]
            keep = np.isin(sam.edge_targets[lo:hi], chosen_array)
            tokens, targets = sam.edge_tokens[lo:hi][keep], sam.edge_targets[lo:hi][keep]
            edges += [(src, t, d) for t, d in zip(tokens.tolist(), targets.tolist(), strict=True)]
        return snapshot_dict(chosen, sam.length, sam.link, sam.endpos_array, edges, state, self)
