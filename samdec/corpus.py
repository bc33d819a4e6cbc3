"""The static corpus: distil the model's own answers, tokenize, build and cache the automaton.

SAM-Decoding's static automaton indexes text the model is likely to write again. The best such
text is the model's own output: `distill` runs the model greedily over instruction prompts
(GSM8K questions, Code Alpaca and Self-Instruct instructions; never Spec-Bench, which is for
evaluation) and appends each answer to a JSONL file, so an interrupted run resumes where it
stopped. Every 4th Self-Instruct prompt is held out of the corpus for tuning (`tuning_split`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .batched import greedy_answers, left_padded, supports_refill
from .data import data_path, require

# Shipped with its README (provenance, size) and licences beside it, in samdec/data/corpus/.
DEFAULT_CORPUS = data_path("corpus", "smollm2_distilled.jsonl")
# The Self-Instruct prompt files the corpus draws on (README.md beside them says which rows).
SELF_INSTRUCT_PROMPTS = tuple(
    data_path("corpus", "prompts", name)
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl")
)
# Every TUNING_EVERY-th prompt of a source (by position) is kept for tuning, never distilled.
TUNING_EVERY = 4
# The shipped corpus's sources, by the prompt file stem its ids start with ("train:12" is row
# 12 of GSM8K's train.jsonl): what the page calls them.
SOURCE_NAMES = {
    "train": "GSM8K train",
    "code_alpaca_2k": "Code Alpaca",
    "seed_tasks": "Self-Instruct seed tasks",
    "user_oriented_instructions": "Self-Instruct user-oriented",
}


def source_of(doc_id: str) -> tuple[str, str]:
    """(source name, row) of a document id "stem:row"; ("", "") for an id of another shape."""
    stem, colon, row = doc_id.rpartition(":")
    if not colon or not stem:
        return "", ""
    return SOURCE_NAMES.get(stem, stem), row


def open_text(path: Path, mode: str = "rt"):
    return gzip.open(path, mode, encoding="utf-8") if path.suffix == ".gz" else open(path, mode)


def read_prompts(path: Path) -> list[dict[str, str]]:
    """Prompts as {"id", "prompt"} from a GSM8K-style JSONL, a Code Alpaca-style JSON list or a
    Self-Instruct JSONL (an instruction with "instances"; the first instance's input is used).

    Ids are `file stem:row index`, so the source file and its row can be found again.
    """
    path = Path(path)
    rows: list[dict[str, Any]]
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    prompts = []
    for i, row in enumerate(rows):
        if "question" in row:
            prompt = row["question"]
        elif "instruction" in row:
            given = row["instances"][0] if row.get("instances") else row
            prompt = row["instruction"] + (f"\n\n{given['input']}" if given.get("input") else "")
        elif "turns" in row:
            raise ValueError(f"{path} looks like Spec-Bench: it is for evaluation, not the corpus")
        else:
            raise ValueError(f"{path}: row {i} has no 'question' or 'instruction' field")
        prompts.append({"id": f"{path.stem}:{i}", "prompt": prompt})
    return prompts


def tuning_split(prompts: list[dict[str, str]]) -> tuple[list[dict], list[dict]]:
    """(corpus part, held-out part) of one source's prompts: every 4th by position is held out.

    By position (i % 4 == 3), not by hash or shuffle, so the rule fits in a sentence and holds
    for any version of this code. Apply it to each source file before interleaving.
    """
    held = {i for i in range(len(prompts)) if i % TUNING_EVERY == TUNING_EVERY - 1}
    corpus_part = [p for i, p in enumerate(prompts) if i not in held]
    return corpus_part, [p for i, p in enumerate(prompts) if i in held]


def unused_prompts(prompts: list[dict[str, str]], corpus_path: Path = DEFAULT_CORPUS) -> list[dict]:
    """The prompts whose ids have no answer in the corpus: fair game for tuning (e.g. GSM8K)."""
    used = done_ids(Path(corpus_path))
    return [p for p in prompts if p["id"] not in used]


def distill_prompts(paths: list[Path], out_path: Path, hold_out_tuning: bool) -> list[dict]:
    """The prompts of `paths` to distil into `out_path`, interleaved; with `hold_out_tuning`,
    each file's tuning part is left out (an error if `out_path` already answers one of them)."""
    sources = [read_prompts(Path(p)) for p in paths]
    if hold_out_tuning:
        splits = [tuning_split(s) for s in sources]
        sources = [part for part, _ in splits]
        held = {p["id"] for _, out in splits for p in out}
        clash = sorted(held & done_ids(Path(out_path)))
        if clash:
            raise ValueError(f"{out_path} already answers held-out prompts: {clash[:5]}")
    prompts = interleave(*sources)
    check_unique_ids(prompts, Path(out_path))
    return prompts


def check_unique_ids(prompts: list[dict[str, str]], out_path: Path) -> None:
    """Resuming skips ids already answered: two prompts sharing an id would lose one silently."""
    seen: dict[str, str] = {}
    for p in prompts:
        if seen.setdefault(p["id"], p["prompt"]) != p["prompt"]:
            raise ValueError(f"two different prompts share the id {p['id']!r}")
    for key, prompt in done_rows(out_path):
        if prompt is not None and seen.get(key, prompt) != prompt:
            raise ValueError(f"{out_path} answers another prompt under the id {key!r}")


def interleave(*lists: list[dict[str, str]]) -> list[dict[str, str]]:
    """Round-robin, so a partial run covers every source."""
    out = []
    for i in range(max(len(x) for x in lists)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def done_rows(out_path: Path) -> Iterator[tuple[str, str | None]]:
    """(id, prompt) of each answer already in out_path; prompt None where a row lacks it."""
    if not out_path.exists():
        return
    with open_text(out_path) as f:
        for line in f:
            try:
                row = json.loads(line)
                key = row["id"]
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut by an interrupt: that prompt is simply done again
            yield key, row.get("prompt")


def done_ids(out_path: Path) -> set[str]:
    return {key for key, _ in done_rows(out_path)}


def distill(
    loaded,
    prompts: list[dict[str, str]],
    out_path: Path,
    max_new_tokens: int = 384,
    batch_size: int = 32,
    limit: int | None = None,
    progress: bool = True,
) -> int:
    """Append the model's greedy answers to out_path (JSONL); returns how many were added."""
    import torch
    from tqdm import tqdm

    done = done_ids(out_path)
    todo = [p for p in prompts if p["id"] not in done]
    if limit is not None:
        todo = todo[: max(0, limit - len(done))]
    tok = loaded.tokenizer
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    by_id = {p["id"]: p for p in todo}
    encoded = ((p["id"], loaded.encode_prompt(p["prompt"])) for p in todo)
    eos = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    if supports_refill(loaded.model):
        answers = greedy_answers(
            loaded.model, encoded, eos, tok.pad_token_id, max_new_tokens, batch_size
        )
    else:  # sliding-window caches cannot be stacked row by row: plain batches instead
        answers = _generate_in_batches(loaded, encoded, eos, max_new_tokens, batch_size)
    added = 0
    bar = tqdm(total=len(todo), disable=not progress, desc="distill", unit="answer")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "a", encoding="utf-8") as out, torch.no_grad():
        for key, answer in answers:
            prompt = by_id[key]
            text = tok.decode(answer, skip_special_tokens=True)
            out.write(json.dumps({"id": key, "prompt": prompt["prompt"], "answer": text}))
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())  # an interrupt loses only the answers still in the batch
            added += 1
            bar.update(1)
    bar.close()
    return added


def _generate_in_batches(loaded, encoded, eos: set[int], max_new_tokens: int, batch_size: int):
    """`model.generate` on fixed batches: every row runs until the batch's longest answer."""
    tok = loaded.tokenizer
    items = list(encoded)
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        input_ids, mask = left_padded([x for _, x in batch], tok.pad_token_id, loaded.model.device)
        width = input_ids.shape[1]
        generated = loaded.model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
        )[:, width:].tolist()
        for (key, _), answer in zip(batch, generated, strict=True):
            ends = [i for i, t in enumerate(answer) if t in eos]
            yield key, answer[: ends[0]] if ends else answer


def read_documents(path: Path, field: str = "answer") -> Iterator[str]:
    """Texts of a corpus file: JSONL (the `field` of each row) or plain text (blank-line split)."""
    return (text for _, text in read_labelled_documents(path, field))


def read_labelled_documents(path: Path, field: str = "answer") -> Iterator[tuple[str, str]]:
    """(id, text) of each document of a corpus file, as `read_documents`: a JSONL row's "id", or
    `file name:row` (the row counted from 0 among non-blank lines; for plain text, among its
    blank-line separated paragraphs)."""
    path = Path(path)
    name = path.name.removesuffix(".gz")
    with open_text(path) as f:
        if name.endswith(".jsonl"):
            rows = (json.loads(line) for line in f if line.strip())
            for i, row in enumerate(rows):
                text = row.get(field) or row.get("text") or ""
                if text:
                    yield str(row.get("id") or f"{path.name}:{i}"), text
        else:
            docs = (doc for doc in f.read().split("\n\n") if doc.strip())
            for i, doc in enumerate(docs):
                yield f"{path.name}:{i}", doc


def tokenize_documents(tokenizer, texts: Iterable[str], batch: int = 256) -> Iterator[list[int]]:
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == batch:
            yield from tokenizer(chunk, add_special_tokens=False)["input_ids"]
            chunk = []
    if chunk:
        yield from tokenizer(chunk, add_special_tokens=False)["input_ids"]


def build_static(tokenizer, corpus_paths: list[Path], out_path: Path, endpos: str = "first"):
    from .static_automaton import StaticSuffixAutomaton

    docs, ids = [], []
    for path in corpus_paths:
        labelled = list(read_labelled_documents(path))
        ids += [key for key, _ in labelled]
        docs.extend(tokenize_documents(tokenizer, (text for _, text in labelled)))
    sam = StaticSuffixAutomaton.build(docs, endpos=endpos, doc_ids=ids)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: two processes building the same automaton never write one file.
    with tempfile.NamedTemporaryFile(dir=out_path.parent, suffix=".tmp", delete=False) as f:
        tmp = Path(f.name)
    try:
        sam.save(tmp)
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return StaticSuffixAutomaton.load(out_path)


def tokenizer_fingerprint(tokenizer) -> str:
    probe = "The quick brown fox, 12345 def f(x): return x**2 \n\t ünïcödé"
    ids = tokenizer(probe, add_special_tokens=False)["input_ids"]
    return hashlib.sha1(f"{len(tokenizer)}|{ids}".encode()).hexdigest()[:12]


def content_key(corpus_path: Path, endpos: str) -> str:
    """A cache key from the corpus's bytes (not its path or mtime) and the build settings.

    So a source checkout, an installed wheel and a moved file share one cached automaton, and
    an edited corpus gets a new one. Hashing reads the file once (~10 ms for the shipped 4.6 MB).
    """
    digest = hashlib.sha1()
    with open(corpus_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    digest.update(f"|{endpos}".encode())
    return digest.hexdigest()[:12]


def cached_static(tokenizer, corpus_path: Path = DEFAULT_CORPUS, endpos: str = "first"):
    """The automaton of a corpus for this tokenizer, built once and kept in the cache folder."""
    from .runtime.cachefiles import cache_root

    corpus_path = Path(corpus_path)
    if corpus_path == DEFAULT_CORPUS:
        require(corpus_path, "the default static corpus")
    elif not corpus_path.is_file():
        raise FileNotFoundError(f"static corpus not found: {corpus_path}")
    from .static_automaton import FORMAT_VERSION, StaticSuffixAutomaton

    key = content_key(corpus_path, endpos)
    # The format version in the name: a file of an older version (no document ids) is never
    # taken for this one, and older code sharing the cache keeps its own file.
    name = f"{corpus_path.stem}-{tokenizer_fingerprint(tokenizer)}-{key}-v{FORMAT_VERSION}.sam"
    out = cache_root() / "static" / name
    if out.is_file():
        try:
            return StaticSuffixAutomaton.load(out)
        except ValueError:
            out.unlink()  # corrupt cache: rebuild
    from .runtime import progress

    progress.stage("building the static automaton")
    return build_static(tokenizer, [corpus_path], out, endpos=endpos)


def load_default_static(tokenizer=None):
    """The shipped corpus's automaton; FileNotFoundError naming the file if it is missing."""
    require(DEFAULT_CORPUS, "the default static corpus")
    if tokenizer is None:
        from .runtime.loading import load_model

        tokenizer = load_model().tokenizer
    return cached_static(tokenizer, DEFAULT_CORPUS)
