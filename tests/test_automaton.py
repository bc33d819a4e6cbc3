"""Suffix automata against brute force: small alphabets make repeats (and clones) common."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samdec.automaton import SEPARATOR, DynamicSuffixAutomaton
from samdec.static_automaton import StaticSuffixAutomaton

DRAFT = 5
settings.register_profile("automaton", deadline=None, max_examples=150)
settings.load_profile("automaton")


# --- brute force --------------------------------------------------------------------------------


def occurrences(text: list[int], pattern: list[int]) -> list[int]:
    """End positions of pattern in text."""
    m = len(pattern)
    return [e for e in range(m - 1, len(text)) if text[e - m + 1 : e + 1] == pattern]


def brute_dynamic(text: list[int], endpos: str) -> tuple[int, int]:
    """(longest suffix that also ended at an earlier position, that earlier end position)."""
    n, best, end = len(text), 0, -1
    for length in range(1, n):
        earlier = [e for e in occurrences(text, text[n - length :]) if e < n - 1]
        if not earlier:
            break
        best, end = length, (min(earlier) if endpos == "first" else max(earlier))
    return best, end


def brute_static(documents: list[list[int]], query: list[int], endpos: str) -> tuple[int, list]:
    """(longest suffix of query inside one document, the continuation after its occurrence)."""
    corpus = [t for document in documents for t in [*document, SEPARATOR]]
    best, end = 0, -1
    for length in range(1, len(query) + 1):
        ends = occurrences(corpus, query[len(query) - length :])
        if not ends:
            break
        best, end = length, (min(ends) if endpos == "first" else max(ends))
    if best == 0:
        return 0, []
    continuation = corpus[end + 1 : end + 1 + DRAFT]
    if SEPARATOR in continuation:
        continuation = continuation[: continuation.index(SEPARATOR)]
    return best, continuation


def brute_automaton_size(text: list[int]) -> tuple[int, int]:
    """(states, transitions) of the minimal automaton: states = distinct endpos sets."""
    substrings = {tuple(text[i:j]) for i in range(len(text)) for j in range(i + 1, len(text) + 1)}
    everywhere = frozenset(range(-1, len(text)))  # the empty string ends everywhere
    endpos = {s: frozenset(occurrences(text, list(s))) for s in substrings} | {(): everywhere}
    transitions = {(endpos[s[:-1]], s[-1]) for s in substrings}
    return len(set(endpos.values())), len(transitions)


# --- strategies ---------------------------------------------------------------------------------

endpos_modes = st.sampled_from(["first", "last"])


@st.composite
def texts(draw, max_size: int = 60) -> list[int]:
    alphabet = draw(st.integers(1, 4))
    return draw(st.lists(st.integers(0, alphabet - 1), max_size=max_size))


@st.composite
def chunked(draw, tokens: list[int]) -> list[list[int]]:
    chunks, i = [], 0
    while i < len(tokens):
        size = draw(st.integers(1, 8))
        chunks.append(tokens[i : i + size])
        i += size
    return chunks


# --- dynamic ------------------------------------------------------------------------------------


def check_dynamic(sam: DynamicSuffixAutomaton, text: list[int]) -> None:
    length, end = brute_dynamic(text, sam.endpos)
    assert sam.match_length == length
    assert sam.match_end() == end
    assert sam.draft(DRAFT).tolist() == (text[end + 1 : end + 1 + DRAFT] if length else [])
    assert sam.text.tolist() == text and len(sam) == len(text)


@given(text=texts(), endpos=endpos_modes)
def test_dynamic_matches_brute_force_token_by_token(text, endpos):
    sam = DynamicSuffixAutomaton(endpos=endpos, capacity=4)  # small: exercises growth
    for i, token in enumerate(text):
        length, state = sam.advance([token])
        assert (length, state) == (sam.match_length, sam.match_state)
        assert (state == 0) == (length == 0)
        check_dynamic(sam, text[: i + 1])


@given(data=st.data(), endpos=endpos_modes)
def test_dynamic_matches_brute_force_in_chunks(data, endpos):
    text = data.draw(texts())
    sam, seen = DynamicSuffixAutomaton(endpos=endpos, capacity=4), []
    for chunk in data.draw(chunked(text)):
        sam.advance(np.array(chunk, dtype=np.int64))
        seen += chunk
        check_dynamic(sam, seen)


@given(text=texts(max_size=24))
def test_dynamic_size_is_minimal(text):
    sam = DynamicSuffixAutomaton()
    sam.advance(text)
    n = len(text)
    assert sam.num_states <= max(2 * n - 1, n + 1)
    if n >= 3:
        assert sam.num_edges <= 3 * n - 4
    assert (sam.num_states, sam.num_edges) == brute_automaton_size(text)


def test_dynamic_long_text_against_brute_force_at_the_end():
    rng = np.random.default_rng(0)
    text = rng.integers(0, 3, 3000).tolist()
    for endpos in ("first", "last"):
        sam = DynamicSuffixAutomaton(endpos=endpos)
        for i in range(0, len(text), 7):
            sam.advance(text[i : i + 7])
        check_dynamic(sam, text)


def test_dynamic_readable_examples():
    a, b, c = 1, 2, 3
    sam = DynamicSuffixAutomaton()
    assert sam.advance([]) == (0, 0) and sam.draft(3).size == 0 and sam.match_end() == -1
    sam.advance([a, b, c, a, b])
    assert sam.match_length == 2  # "a b" occurred before
    assert sam.draft(3).tolist() == [c, a, b]  # ... and was followed by "c a b"
    assert sam.draft(100).tolist() == [c, a, b]  # never beyond the text

    first, last = DynamicSuffixAutomaton("first"), DynamicSuffixAutomaton("last")
    for sam in (first, last):
        sam.advance([a, b, a, b, a])  # "a b a" ends at 2 and 4: the draft overlaps the match
        assert sam.match_length == 3 and sam.draft(9).tolist() == [b, a]
        sam.advance([c, a])
    assert first.draft(2).tolist() == [b, a]  # "a" first ended at 0
    assert last.draft(2).tolist() == [c, a]  # ... and last (before now) at 4

    with pytest.raises(ValueError, match="endpos"):
        DynamicSuffixAutomaton(endpos="middle")


def test_dynamic_snapshot():
    sam = DynamicSuffixAutomaton()
    sam.advance([5, 6, 7, 5, 6, 9, 5, 6, 7])
    full = sam.snapshot()
    json.dumps(full)
    assert len(full["states"]) == sam.num_states
    assert len(full["transitions"]) == sam.num_edges
    assert (full["match_length"], full["match_state"]) == (sam.match_length, sam.match_state)
    small = sam.snapshot(max_states=6)
    ids = {state["id"] for state in small["states"]}
    assert len(ids) <= 6 and {0, small["last"], small["match_state"]} <= ids
    assert all(src in ids and dst in ids for src, _, dst in small["transitions"])
    lengths = {state["id"]: state["length"] for state in full["states"]}
    assert lengths[full["last"]] == len(sam) and lengths[full["match_state"]] == 3


# --- static -------------------------------------------------------------------------------------


@st.composite
def corpora(draw) -> tuple[list[list[int]], list[int]]:
    alphabet = draw(st.integers(1, 4))
    tokens = st.integers(0, alphabet - 1)
    documents = draw(st.lists(st.lists(tokens, max_size=20), min_size=1, max_size=5))
    query = draw(st.lists(st.integers(0, alphabet), max_size=30))  # may hold an unseen token
    return documents, query


@given(data=st.data(), endpos=endpos_modes)
def test_static_matches_brute_force(data, endpos):
    documents, query = data.draw(corpora())
    sam = StaticSuffixAutomaton.build(documents, endpos=endpos)
    assert sam.num_documents == len(documents)
    assert sam.num_tokens == sum(len(d) + 1 for d in documents)
    cursor, seen = sam.cursor(), []
    for chunk in data.draw(chunked(query)):
        cursor.advance(chunk)
        seen += chunk
        length, continuation = brute_static(documents, seen, endpos)
        assert cursor.match_length == length
        assert cursor.draft(DRAFT).tolist() == continuation
    cursor.reset()
    assert cursor.advance([]) == (0, 0) and cursor.draft(DRAFT).size == 0


@given(text=texts(max_size=40))
def test_static_build_equals_incremental(text):
    """The static automaton of one document is the dynamic one of that document, plus the state
    reached by the trailing separator (whose edges are dropped): same ids, lengths, links, edges."""
    dynamic = DynamicSuffixAutomaton()
    dynamic.advance(text)
    static = StaticSuffixAutomaton.build([text])
    n = dynamic.num_states
    assert static.num_states == n + 1
    length, link, firstpos = dynamic.state_arrays()
    assert static.length[:n].tolist() == length.tolist()
    assert static.link[:n].tolist() == link.tolist()
    assert static.endpos_array[:n].tolist() == firstpos.tolist()
    edges = dynamic.snapshot()["transitions"]
    assert [[s, t, static.transition(s, t)] for s, t, _ in edges] == edges
    assert static.num_edges == len(edges)
    # Queried the same way: feeding the document's prefix to a cursor walks the same states.
    cursor = static.cursor()
    for i, token in enumerate(text):
        length, state = cursor.advance([token])
        assert length == i + 1 and static.length[state] >= length


def test_static_large_alphabet():
    """States with many edges (the root here) are sorted with argsort, not insertion sort."""
    rng = np.random.default_rng(2)
    documents = [rng.integers(0, 60, rng.integers(1, 40)).tolist() for _ in range(20)]
    for endpos in ("first", "last"):
        sam = StaticSuffixAutomaton.build(documents, endpos=endpos)
        assert np.diff(sam.edge_offsets).max() > 16
        for _ in range(30):
            source = documents[rng.integers(len(documents))]
            start = rng.integers(len(source))
            query = [*rng.integers(0, 61, 3).tolist(), *source[start : start + 6]]
            cursor = sam.cursor()
            cursor.advance(query)
            assert (cursor.match_length, cursor.draft(DRAFT).tolist()) == brute_static(
                documents, query, endpos
            )


def test_static_readable_example():
    docs = [[1, 2, 3, 4, 5], [2, 3], [7, 2, 3, 8]]
    first, last = StaticSuffixAutomaton.build(docs), StaticSuffixAutomaton.build(docs, "last")
    for sam, draft in ((first, [4, 5]), (last, [8])):
        cursor = sam.cursor()
        assert cursor.advance([9, 9, 2, 3]) == (2, cursor.match_state)
        assert cursor.draft(10).tolist() == draft  # cut at the end of the document
        assert cursor.advance([4, 5]) == (4, cursor.match_state)  # "2 3 4 5"
        assert cursor.draft(10).size == 0  # the match ends its document
        cursor.advance([6])
        assert cursor.match_length == 0
    neighbourhood = first.cursor()
    neighbourhood.advance([7, 2, 3])
    view = neighbourhood.neighbourhood(max_states=10)
    json.dumps(view)
    ids = {state["id"] for state in view["states"]}
    assert len(ids) <= 10 and {0, view["match_state"]} <= ids
    assert view["match_length"] == 3
    with pytest.raises(ValueError, match="token ids"):
        StaticSuffixAutomaton.build([[1, -1, 2]])


def test_static_empty_corpus(tmp_path):
    for documents in ([], [[]]):
        sam = StaticSuffixAutomaton.build(documents)
        sam.save(tmp_path / "empty.sam")
        loaded = StaticSuffixAutomaton.load(tmp_path / "empty.sam")
        assert loaded.num_documents == len(documents) and loaded.num_edges == 0
        assert loaded.cursor().advance([1, 2]) == (0, 0)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    documents = [rng.integers(0, 5, rng.integers(0, 50)) for _ in range(30)]
    query = rng.integers(0, 5, 300)
    for endpos in ("first", "last"):
        sam = StaticSuffixAutomaton.build(documents, endpos=endpos)
        path = tmp_path / f"{endpos}.sam"
        sam.save(path)
        loaded = StaticSuffixAutomaton.load(path)
        assert (loaded.endpos, loaded.num_documents) == (endpos, 30)
        assert loaded.nbytes == sam.nbytes
        for name, array in sam.arrays.items():
            assert np.array_equal(loaded.arrays[name], array), name
        loaded.verify()
        ours, theirs = sam.cursor(), loaded.cursor()
        for i in range(0, len(query), 3):
            assert ours.advance(query[i : i + 3]) == theirs.advance(query[i : i + 3])
            assert ours.draft(8).tolist() == theirs.draft(8).tolist()


def test_file_format_is_unchanged(tmp_path):
    """Saved files outlive the code that wrote them: magic, header and layout are the format."""
    path = tmp_path / "small.sam"
    StaticSuffixAutomaton.build([[1, 2, 3], [2, 3]]).save(path)
    data = path.read_bytes()
    assert data[:8] == b"\x93SAMDEC\n"
    header = json.loads(data[16 : 16 + int.from_bytes(data[8:16], "little")])
    assert (header["format"], header["version"]) == ("samdec.StaticSuffixAutomaton", 2)
    names = ["corpus", "doc_starts", "length", "link", "endpos", "edge_offsets", "edge_tokens",
             "edge_targets"]  # fmt: skip
    assert list(header["arrays"]) == names  # version 2 added doc_starts
    assert header["doc_ids"] == []  # and the documents' ids (none given here)
    assert all(spec["offset"] % 64 == 0 for spec in header["arrays"].values())


def test_load_rejects_corrupt_files(tmp_path):
    path = tmp_path / "good.sam"
    StaticSuffixAutomaton.build([[1, 2, 3], [2, 3, 4]]).save(path)
    data = path.read_bytes()
    cases = {
        "empty": b"",
        "magic": b"NOTASAM!" + data[8:],
        "truncated": data[: len(data) - 10],
        "header": data[:20],
        "json": data[:16] + b"{" * (len(data) - 16),
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.sam"
        bad.write_bytes(content)
        with pytest.raises(ValueError, match=re.escape(str(bad))):
            StaticSuffixAutomaton.load(bad)
    # Flipped bytes inside an array pass load() (which stays instant) but not verify().
    flipped = bytearray(data)
    flipped[-4:] = (10**6).to_bytes(4, "little")  # the last edge target: no such state
    (tmp_path / "flipped.sam").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="edge target out of range"):
        StaticSuffixAutomaton.load(tmp_path / "flipped.sam").verify()
