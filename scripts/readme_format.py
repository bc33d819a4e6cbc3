"""Formatting for the rendered documents: numbers, Markdown tables, and each run's receipt.

Every rendered paragraph names the run its numbers come from with `provenance`: the command,
the artifact's path, the date, the machine, torch and its threads, and the commit.
"""

from __future__ import annotations

import re
from datetime import datetime

# A commit that says the tree was clean: a bare hash. samdec.receipts.git_commit appends
# "+changes" when tracked files differed from it, and says "unknown" without git.
CLEAN_COMMIT = re.compile(r"[0-9a-f]{7,40}")


def x(v: float) -> str:
    return f"{v:.2f}x"


def share(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return "–" if v is None else f"{v:.0%}"


def num(v, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def date(text: str) -> str:
    """'2026-11-28 17:37 UTC' from an ISO date with a time zone; other forms as they are."""
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        return text
    return d.strftime("%Y-%m-%d %H:%M UTC") if d.utcoffset() is not None else text


def receipt_of(artifact: dict) -> dict:
    """The artifact's receipt; files from before receipts give their own command, date, machine."""
    if "receipt" in artifact:
        return artifact["receipt"]
    return {k: artifact[k] for k in ("command", "date", "machine")}


def made_from_committed_code(artifact: dict) -> bool:
    """Whether the receipt names a commit and says the tree matched it (no "+changes")."""
    commit = artifact.get("receipt", {}).get("commit") or ""
    return CLEAN_COMMIT.fullmatch(commit) is not None


def machine(m: dict) -> str:
    cpus = m.get("cpu_count") or m.get("cpus")
    where = m.get("cpu") or m.get("platform", "").split("-")[0] or "unknown CPU"
    text = f"{where}, {cpus} CPUs"
    return text + (f", GPU {m['gpu']}" if m.get("gpu") else "")


def when_and_where(artifact: dict) -> str:
    """'DATE, MACHINE, torch V (threads), commit C': the run's date and machine, as rendered."""
    r = receipt_of(artifact)
    bits = [date(r["date"]), machine(r["machine"])]
    torch = r.get("packages", {}).get("torch") or r["machine"].get("torch")
    if torch:
        m = r["machine"]
        spin = f", GOMP_SPINCOUNT {m['gomp_spincount']}" if m.get("gomp_spincount") else ""
        threads = f" ({m['torch_threads']} threads, OMP_WAIT_POLICY {m['omp_wait_policy']}{spin})"
        bits.append(f"torch {torch}" + (threads if "omp_wait_policy" in m else ""))
    if "receipt" not in artifact:
        bits.append("no package versions: the file predates receipts")
    if r.get("commit"):
        dirty = "+changes" if r["commit"].endswith("+changes") else ""
        bits.append(f"commit {r['commit'][:7]}{dirty}")
    return ", ".join(bits)


def provenance(artifact: dict, name: str) -> str:
    """'`COMMAND` (`benchmarks/NAME`; DATE, MACHINE, torch V (threads), commit C)'."""
    command = receipt_of(artifact)["command"]
    return f"`{command}` (`benchmarks/{name}`; {when_and_where(artifact)})"
