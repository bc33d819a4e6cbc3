"""The static corpus's documents: a corpus position back to its document, kept in the file,
and shown for a step the static automaton drafted (visuals/corpus_card.py).

No model: small corpora, a character tokenizer, and the engine on tests/test_engine_fake.py's
fake runner.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samdec import corpus
from samdec.automaton import SEPARATOR
from samdec.cost import CostModel
from samdec.engine import Engine
from samdec.static_automaton import _MAGIC, StaticSuffixAutomaton, _aligned
from tests.test_engine_fake import PROMPT, FakeRunner, plain_greedy
from tests.test_visuals import event
from visuals import TraceView
from visuals import corpus_card as C

documents_strategy = st.lists(st.lists(st.integers(0, 3), max_size=12), max_size=10)


def brute_document(documents: list[list[int]], position: int) -> int:
    """The document holding corpus position `position` (its tokens or its separator), by
    walking the documents one by one."""
    start = 0
    for d, doc in enumerate(documents):
        if start <= position <= start + len(doc):  # its tokens, then its separator
            return d
        start += len(doc) + 1
    raise AssertionError("position past the corpus")


@settings(deadline=None, max_examples=150)
@given(documents_strategy, st.data())
def test_the_document_of_a_position_is_the_one_brute_force_finds(documents, data):
    sam = StaticSuffixAutomaton.build(documents)
    assert sam.num_documents == len(documents) and sam.doc_starts.size == len(documents) + 1
    for position in range(sam.num_tokens):
        d = sam.document_at(position)
        assert d == brute_document(documents, position)
        start, end = sam.document_span(d)
        assert sam.corpus[start:end].tolist() == documents[d] and sam.corpus[end] == SEPARATOR
    for outside in (-1, sam.num_tokens):
        with pytest.raises(IndexError):
            sam.document_at(outside)
    # A match's end position (what the drafter reads after) lies in the document that holds
    # the matched tokens, and the draft is that document's continuation.
    query = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=8))
    cursor = sam.cursor()
    length, _ = cursor.advance(query)
    if length:
        end = cursor.match_end()
        start, stop = sam.document_span(sam.document_at(end))
        assert start <= end + 1 - length and end < stop
        assert sam.corpus[end + 1 - length : end + 1].tolist() == query[-length:]
        assert cursor.draft(20).tolist() == sam.corpus[end + 1 : stop][:20].tolist()


@settings(deadline=None, max_examples=40)
@given(documents_strategy)
def test_document_starts_and_ids_survive_save_and_load(tmp_path_factory, documents):
    path = tmp_path_factory.mktemp("docs") / "c.sam"
    ids = [f"src{d % 2}:{d}" for d in range(len(documents))]
    StaticSuffixAutomaton.build(documents, doc_ids=ids).save(path)
    loaded = StaticSuffixAutomaton.load(path)
    loaded.verify()
    assert loaded.doc_ids == tuple(ids)
    for position in range(loaded.num_tokens):
        assert loaded.document_at(position) == brute_document(documents, position)


def save_version_1(sam: StaticSuffixAutomaton, path) -> None:
    """The file as version 1 wrote it: no doc_starts, no ids (the format before this change)."""
    names = ["corpus", "length", "link", "endpos", "edge_offsets", "edge_tokens", "edge_targets"]
    layout, offset = {}, 0
    for name in names:
        offset = _aligned(offset)
        array = sam.arrays[name]
        layout[name] = dict(dtype=array.dtype.str, shape=list(array.shape), offset=offset)
        offset += array.nbytes
    header = dict(format="samdec.StaticSuffixAutomaton", version=1, endpos=sam.endpos,
                  num_documents=sam.num_documents, num_states=sam.num_states,
                  num_edges=sam.num_edges, num_tokens=sam.num_tokens, arrays=layout)  # fmt: skip
    data = json.dumps(header).encode()
    start = _aligned(len(_MAGIC) + 8 + len(data))
    with open(path, "wb") as f:
        f.write(_MAGIC + len(data).to_bytes(8, "little") + data)
        for name in names:
            f.write(b"\0" * (start + layout[name]["offset"] - f.tell()))
            f.write(np.ascontiguousarray(sam.arrays[name]).tobytes())


def test_a_version_1_file_loads_with_its_boundaries_from_the_separators(tmp_path):
    documents = [[1, 2, 3], [], [2, 3, 1, 1], [0]]
    sam = StaticSuffixAutomaton.build(documents, doc_ids=["a:0", "a:1", "b:0", "b:1"])
    save_version_1(sam, tmp_path / "old.sam")
    old = StaticSuffixAutomaton.load(tmp_path / "old.sam")
    old.verify()
    assert old.doc_starts.tolist() == sam.doc_starts.tolist() == [0, 4, 5, 10, 12]
    assert old.doc_ids == () and old.document_id(2) == ""  # version 1 kept no ids
    assert [old.document_at(p) for p in range(old.num_tokens)] == [
        brute_document(documents, p) for p in range(old.num_tokens)
    ]


def test_wrong_document_boundaries_or_ids_are_caught(tmp_path):
    path = tmp_path / "c.sam"
    StaticSuffixAutomaton.build([[1, 2], [3]], doc_ids=["x:0", "x:1"]).save(path)
    data = path.read_bytes()
    size = int.from_bytes(data[8:16], "little")
    header = json.loads(data[16 : 16 + size])
    at = _aligned(len(_MAGIC) + 8 + size)
    at += header["arrays"]["doc_starts"]["offset"] + 8  # doc_starts[1]: 3 -> 2
    bad = bytearray(data)
    bad[at : at + 8] = (2).to_bytes(8, "little")
    (tmp_path / "bad.sam").write_bytes(bytes(bad))
    loaded = StaticSuffixAutomaton.load(tmp_path / "bad.sam")  # load stays instant...
    with pytest.raises(ValueError, match="document starts"):
        loaded.verify()  # ...verify reads every array
    with pytest.raises(ValueError, match="document ids"):
        StaticSuffixAutomaton.build([[1], [2]], doc_ids=["only one"])


# ------------------------------------------------------------------------------- the corpus


class CharTokenizer:
    """One token per character (its code point): enough for build_static, no model."""

    def __len__(self) -> int:
        return 0x110000

    def __call__(self, texts, add_special_tokens=False):
        if isinstance(texts, str):
            return {"input_ids": [ord(c) for c in texts]}
        return {"input_ids": [[ord(c) for c in t] for t in texts]}


def test_documents_keep_their_ids_from_the_corpus_file(tmp_path, monkeypatch):
    jsonl = tmp_path / "answers.jsonl"
    rows = [{"id": "code_alpaca_2k:10", "answer": "print(x)"}, {"id": "train:3", "answer": ""},
            {"answer": "no id here"}, {"id": "train:4", "answer": "4 + 4 = 8"}]  # fmt: skip
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    text = tmp_path / "notes.txt"
    text.write_text("first paragraph\n\n\n\nsecond one")
    assert list(corpus.read_labelled_documents(jsonl)) == [
        ("code_alpaca_2k:10", "print(x)"), ("answers.jsonl:2", "no id here"),
        ("train:4", "4 + 4 = 8"),
    ]  # fmt: skip
    assert [key for key, _ in corpus.read_labelled_documents(text)] == ["notes.txt:0",
                                                                        "notes.txt:1"]  # fmt: skip
    sam = corpus.build_static(CharTokenizer(), [jsonl, text], tmp_path / "c.sam")
    assert sam.doc_ids == ("code_alpaca_2k:10", "answers.jsonl:2", "train:4", "notes.txt:0",
                           "notes.txt:1")  # fmt: skip
    where = sam.document_at(sam.num_tokens - 2)  # the last document's last character
    assert sam.document_id(where) == "notes.txt:1"
    assert corpus.source_of("code_alpaca_2k:10") == ("Code Alpaca", "10")
    assert corpus.source_of("train:4") == ("GSM8K train", "4")
    assert corpus.source_of("no colon") == ("", "")
    # The cache names the format version: a version 1 file there is never read for this one.
    monkeypatch.setenv("SAMDEC_CACHE", str(tmp_path / "cache"))
    cached = corpus.cached_static(CharTokenizer(), jsonl)
    (file,) = (tmp_path / "cache" / "static").glob("*.sam")
    assert file.name.endswith("-v2.sam") and cached.doc_ids[0] == "code_alpaca_2k:10"


# --------------------------------------------------------------------------- on the page


def fake_static(runner: FakeRunner) -> tuple[StaticSuffixAutomaton, list[list[int]], list[str]]:
    """The fake model's own continuations of a few prompts, each a named document."""
    prompts = [[1, 2, 3], [4, 4, 9], [3, 5, 7], [9, 1], [3, 5, 7, 11, 2], [6]]
    docs = [p + plain_greedy(runner, p, 40) for p in prompts]
    ids = [f"{'train' if i % 2 else 'code_alpaca_2k'}:{i}" for i in range(len(docs))]
    return StaticSuffixAutomaton.build(docs, doc_ids=ids), docs, ids


def holds(doc: list[int], tokens: list[int]) -> bool:
    n = len(tokens)
    return any(doc[i : i + n] == tokens for i in range(len(doc) - n + 1))


@pytest.mark.parametrize("method", ["sam", "sam-static", "sam+recycling"])
def test_a_static_steps_document_holds_its_match_and_its_draft(method):
    """The engine's trace (state_static, as recorded) leads to the document the draft was
    read from: brute force confirms it holds the match followed by the draft."""
    runner = FakeRunner()
    static, docs, ids = fake_static(runner)
    trace = Engine(runner, static, CostModel()).generate(PROMPT, method=method, max_new_tokens=80)
    view = TraceView.from_trace(trace)
    found = 0
    for ev in trace.steps:
        if not C.drafted_from_static(ev):
            continue
        origin = C.step_origin(static, view, ev.step)
        assert isinstance(origin, C.Origin), origin
        match = view.context_before(ev.step)[-ev.match_static :]
        doc = docs[origin.document]
        assert holds(doc, match + ev.draft_tokens) and origin.doc_id == ids[origin.document]
        assert origin.drafted == len(ev.draft_tokens) and origin.accepted == ev.accepted
        found += bool(ev.draft_tokens)
    assert found, "no static draft in this run: the test checked nothing"


def static_step_view(runner, static):
    trace = Engine(runner, static, CostModel()).generate(PROMPT, method="sam", max_new_tokens=80)
    view = TraceView.from_trace(trace)
    k = next(ev.step for ev in view.steps if ev.drafter == "static" and ev.accepted)
    return view, k


def test_a_trace_from_another_corpus_is_caught_not_misread():
    runner = FakeRunner()
    static, docs, _ = fake_static(runner)
    view, k = static_step_view(runner, static)
    other = StaticSuffixAutomaton.build(docs[::-1])  # the same tokens and size, moved
    assert other.num_tokens == static.num_tokens
    assert C.step_origin(other, view, k) == (
        "the loaded static corpus is not the one this run drafted from"
    )
    ev = view.steps[k]
    moved = replace(ev, draft_tokens=[(t + 1) % 20 for t in ev.draft_tokens])  # not what follows
    tampered = replace(view, steps=[*view.steps[:k], moved, *view.steps[k + 1 :]])
    assert isinstance(C.step_origin(static, view, k), C.Origin)  # the control: untouched
    assert not isinstance(C.step_origin(static, tampered, k), C.Origin)
    recorded = replace(view, config={**view.config, "static_corpus": static.num_tokens + 1})
    assert not isinstance(C.step_origin(static, recorded, k), C.Origin)
    for state in (-1, static.num_states):
        lost = replace(view, steps=[*view.steps[:k], replace(ev, state_static=state)])
        assert C.step_origin(static, lost, k) == "the step recorded no static match"


def test_the_card_and_the_line_name_the_source_the_document_and_mark_the_draft():
    runner = FakeRunner()
    static, docs, ids = fake_static(runner)
    view, k = static_step_view(runner, static)
    piece = lambda t: f"t{t} "  # noqa: E731
    origin = C.step_origin(static, view, k)
    card = C.corpus_card_html(static, view, k, piece)
    line = C.corpus_line_html(static, view, k, piece)
    source, row = corpus.source_of(ids[origin.document])
    for html in (card, line):
        assert f"document {origin.document} of documents 0–{len(docs) - 1}" in html
        assert f"({source}, row {row})" in html
        assert "Code Alpaca (3)" in html and "GSM8K train (3)" in html
    tokens = sum(map(len, docs))
    assert f"{tokens:,} tokens" in card and f"{static.num_states:,} states" in card
    marked = dict(re.findall(r'<mark class="sd-corpus-(\w+)"[^>]*>(.*?)</mark>', card))
    ev = view.steps[k]
    assert marked["match"].split() == [f"t{t}" for t in view.context_before(k)[-ev.match_static :]]
    kept = ev.draft_tokens[: ev.accepted]
    assert marked["kept"].split() == [f"t{t}" for t in kept]
    assert ("rejected" in marked) == (ev.accepted < len(ev.draft_tokens))
    # a step that did not draft from the corpus says so, and names no document
    other = next(e.step for e in view.steps if not C.drafted_from_static(e))
    assert "did not draft from the corpus" in C.corpus_card_html(static, view, other, piece)
    assert "document" not in C.corpus_line_html(static, view, other, piece).split("tokens.")[1]
    assert C.corpus_line_html(None, view, k, piece) == C.corpus_card_html(None, view, k, piece)
    assert C.corpus_line_html(None, view, k, piece) == ""


def test_a_run_without_the_static_corpus_says_so():
    runner = FakeRunner()
    static, _, _ = fake_static(runner)
    view = TraceView([1, 2], [event(drafter="dynamic")], config={"method": "sam-dynamic"})
    piece = str
    assert "does not read" in C.corpus_card_html(static, view, 0, piece)
    assert "does not read it" in C.corpus_line_html(static, view, 0, piece)
    assert "Step 0" not in C.corpus_line_html(static, view, 0, piece)


def test_the_page_renders_the_line_and_the_card_for_every_step(monkeypatch):
    from samdec.ui import panels
    from samdec.ui import runtime as rt

    runner = FakeRunner()
    static, _, _ = fake_static(runner)
    view, k = static_step_view(runner, static)
    session = panels.Session()
    session.view = view
    monkeypatch.setattr(rt.RUNTIME, "static_if_loaded", lambda spec: static)
    for ev in view.steps:
        out = panels.render(session, ev.step, 24)
        assert {"corpus_line", "static_corpus"} <= set(out) <= set(panels.STEP_PANELS)
        named = "drafted from document" in out["corpus_line"]
        assert named == (ev.drafter == "static"), ev.step
    assert "sd-corpus-kept" in panels.render(session, k, 24)["static_corpus"]
    monkeypatch.setattr(rt.RUNTIME, "static_if_loaded", lambda spec: None)
    out = panels.render(session, k, 24)
    assert out["corpus_line"] == out["static_corpus"] == ""  # no automaton: nothing to say
