"""Spec-Bench questions (evaluation only: never part of a static corpus)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .data import data_path, require

# Shipped with its licence beside it (samdec/data/spec_bench/LICENSE).
SPEC_BENCH = data_path("spec_bench", "question.jsonl")
CATEGORIES = ("mt_bench", "translation", "summarization", "qa", "math_reasoning", "rag")


@dataclass(frozen=True)
class Question:
    question_id: int
    category: str
    turns: tuple[str, ...]


def load_questions(path: Path | str = SPEC_BENCH) -> list[Question]:
    """Questions in Spec-Bench's JSONL format; ids 81-160 (MT-Bench) count as `mt_bench`."""
    path = Path(path)
    if path == SPEC_BENCH:
        require(path, "the shipped Spec-Bench question file")
    elif not path.is_file():
        raise FileNotFoundError(f"question file not found: {path}")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            qid, turns = int(row["question_id"]), tuple(row["turns"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: not a Spec-Bench question ({exc})") from None
        category = "mt_bench" if 81 <= qid <= 160 else str(row.get("category", "unknown"))
        out.append(Question(qid, category, turns))
    return out


def pick(questions: list[Question], per_category: int) -> list[Question]:
    """The first `per_category` questions of each category, in file order."""
    seen: dict[str, int] = {}
    chosen = []
    for q in questions:
        if seen.get(q.category, 0) < per_category:
            seen[q.category] = seen.get(q.category, 0) + 1
            chosen.append(q)
    return chosen
