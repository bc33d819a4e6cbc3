"""The live view's own cost: the server's CPU time for one request through the API and for the
same request run live in the page, driven in headless Chromium.

    python scripts/live_overhead.py --out benchmarks/live_overhead.json
    python scripts/live_overhead.py --rounds 1 --max-new-tokens 16 --out /tmp/live_overhead.json

Starts `python app.py` on a free port (as tests/test_browser.py does), then, round after round
and in alternating order, sends the request through gradio_client's /generate and runs it from
the page (Generate, until the stat cards say it stopped). Around each it reads the server
process's CPU time (user + system, every thread: decoding, rendering, gradio) and, for the
page, the CPU time of the Chromium processes apart; each reading is taken SETTLE_S after the
answer, in both ways alike. The request: the page's first example prompt (or --prompt), method
sam, greedy, --max-new-tokens. Also recorded: the speed and the page's own work as the page's
stat cards report them, and the API trace's speed, which should agree with the page's.
Run it alone on the machine: anything else running makes every number larger.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from app_process import start_app, stop_app  # noqa: E402

METHOD = "sam"
METHOD_LABEL = "SAM (static + dynamic)"  # samdec.methods.TABLE["sam"].label, the page's menu
CHROMIUM = os.environ.get("SAMDEC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
SERVER_WAIT_S = 600  # the app must answer and finish its warm-up by then
RUN_TIMEOUT_MS = 300_000  # one generation on a busy CPU
SETTLE_S = 0.5  # after an answer, before the CPU is read: the server's last messages
GOAL_RATIO = 1.2  # issue #33: a live run's server CPU at most this times the API's
SPEED_CARD = "tokens / s"  # the stat cards' labels start with these (visuals.view.speed_cards)
PAGE_WORK_CARD = "the page's own work"

# Before the click: note when the stream shows a running generation (its caret), so a run
# that starts and ends between two polls is still seen to have run.
_WATCH = """() => { window.__sdRan = false;
  const box = document.querySelector('#sd-stream');
  const seen = () => { if (box.querySelector('.sd-caret')) window.__sdRan = true; };
  new MutationObserver(seen).observe(box, {subtree: true, childList: true}); }"""
_FINISHED = """() => { const box = document.querySelector('#sd-stream');
  const stats = document.querySelector('#sd-stats')?.innerText || '';
  return window.__sdRan && stats.includes('stopped') && !box.querySelector('.sd-caret'); }"""


def cpu_s(pid: int) -> float:
    """A process's CPU time so far, user + system, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chromium_cpu_s() -> float:
    """CPU time so far of the Chromium processes this script started (all still running)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name().lower():
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:  # gone between the listing and the reading
            pass
    return total


def default_prompt() -> str:
    examples = json.loads((ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
    return next(e["prompt"] for e in examples["examples"] if e.get("prompt"))


def api_request(client, prompt: str, max_new: int) -> dict:
    """One /generate: its trace's counts and speed."""
    _, trace, _ = client.predict(prompt, METHOD, max_new, api_name="/generate", temperature=0.0)
    summary = json.loads(trace)["summary"]
    return {"tokens": summary["new_tokens"], "tokens_per_s": summary["tokens_per_s"]}


def warm_api(client, prompt: str, max_new: int) -> None:
    """The first request, retried while the app says its model is still being prepared."""
    deadline = time.monotonic() + SERVER_WAIT_S
    while True:
        try:
            api_request(client, prompt, max_new)
            return
        except Exception as exc:  # gradio_client's AppError carries the server's message
            if "still being prepared" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def set_up_page(page, url: str, prompt: str, max_new: int) -> None:
    """The page with the request filled in: prompt, method, length (temperature 0 is the
    page's default)."""
    page.goto(url)
    page.wait_for_selector("#sd-generate", timeout=60_000)
    page.fill("#sd-prompt textarea", prompt)
    page.click("#sd-method input")
    page.get_by_role("option", name=METHOD_LABEL, exact=True).click()
    page.wait_for_function(
        f"() => document.querySelector('#sd-method input')?.value === {METHOD_LABEL!r}"
    )
    box = page.locator("#sd-max-new input[type=number]")
    box.fill(str(max_new))
    box.press("Enter")


def page_request(page) -> dict:
    """Generate in the page until it has finished: what its stat cards say."""
    page.evaluate(_WATCH)
    page.click("#sd-generate")
    page.wait_for_function(_FINISHED, timeout=RUN_TIMEOUT_MS)
    cards = page.eval_on_selector_all(
        "#sd-stats .sd-card",
        "cards => cards.map(c => [c.querySelector('.sd-card-k').textContent,"
        " c.querySelector('.sd-card-v').textContent])",
    )
    return read_cards(cards)


def read_cards(cards: list[list[str]]) -> dict:
    """The numbers of the page's stat cards ([label, value] each) that this script records."""
    out: dict = {"cards": dict(cards)}
    for label, value in cards:
        if label == "tokens":
            out["tokens"] = int(value)
        elif label.startswith(SPEED_CARD):
            out["tokens_per_s"], out["speed_label"] = float(value), label
        elif label.startswith(PAGE_WORK_CARD):
            out["page_work_s"] = float(value.removesuffix(" s"))
    return out


def measured(server: int, run, browser: bool = False) -> dict:
    """`run()`'s result with the server's CPU seconds, the wall seconds and, for the page,
    Chromium's CPU seconds."""
    server_before, browser_before = cpu_s(server), chromium_cpu_s() if browser else 0.0
    start = time.perf_counter()
    result = run()
    wall = time.perf_counter() - start
    time.sleep(SETTLE_S)
    result.update(server_cpu_s=round(cpu_s(server) - server_before, 3), wall_s=round(wall, 3))
    if browser:
        result["chromium_cpu_s"] = round(chromium_cpu_s() - browser_before, 3)
    return result


def rounds(url: str, server: int, prompt: str, max_new: int, count: int) -> list[dict]:
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    client = Client(url, verbose=False)
    warm_api(client, prompt, max_new)
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        set_up_page(page, url, prompt, max_new)
        page_request(page)  # the page's first run, not counted: its first drawing
        for r in range(count):
            ways = {
                "api": lambda: measured(server, lambda: api_request(client, prompt, max_new)),
                "page": lambda: measured(server, lambda: page_request(page), browser=True),
            }
            order = ["api", "page"] if r % 2 == 0 else ["page", "api"]
            row = {"first": order[0], **{way: ways[way]() for way in order}}
            row["cpu_ratio"] = round(row["page"]["server_cpu_s"] / row["api"]["server_cpu_s"], 3)
            print(f"live_overhead: round {r + 1}: {json.dumps(row)}", file=sys.stderr)
            out.append(row)
        browser.close()
    return out


def summarize(rows: list[dict]) -> dict:
    """Medians over the rounds; the headline is the median of each round's page / API ratio
    of server CPU."""

    def median(way: str, key: str) -> float | None:
        values = [r[way][key] for r in rows if r[way].get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    ratio = round(statistics.median(r["cpu_ratio"] for r in rows), 3)
    return {
        "api_server_cpu_s": median("api", "server_cpu_s"),
        "page_server_cpu_s": median("page", "server_cpu_s"),
        "cpu_ratio": ratio,
        "goal_ratio": GOAL_RATIO,
        "within_goal": ratio <= GOAL_RATIO,
        "chromium_cpu_s": median("page", "chromium_cpu_s"),
        "api_wall_s": median("api", "wall_s"),
        "page_wall_s": median("page", "wall_s"),
        "api_tokens_per_s": median("api", "tokens_per_s"),
        "page_tokens_per_s": median("page", "tokens_per_s"),
        "page_work_s": median("page", "page_work_s"),
        "same_tokens": all(r["api"]["tokens"] == r["page"].get("tokens") for r in rows),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="requests each way (interleaved)")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--prompt", default=None, help="default: the page's first example")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "live_overhead.json")
    args = ap.parse_args()
    if args.rounds < 1 or args.max_new_tokens < 1:
        sys.exit("live_overhead: --rounds and --max-new-tokens must be at least 1")
    if not Path(CHROMIUM).is_file():
        sys.exit(f"live_overhead: no Chromium at {CHROMIUM} (set SAMDEC_CHROMIUM)")
    from samdec.receipts import receipt

    prompt = args.prompt or default_prompt()
    made = receipt()  # before the app starts: this process's command line and tree
    log_path = Path(tempfile.mkdtemp(prefix="samdec-live-overhead-")) / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    app, url = start_app(log_path, SERVER_WAIT_S, env)
    try:
        rows = rounds(url, app.pid, prompt, args.max_new_tokens, args.rounds)
    except BaseException:
        print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        stop_app(app)
    result = {
        "receipt": made,
        "prompt": prompt,
        "prompt_is_the_pages_first_example": args.prompt is None,
        "method": METHOD,
        "max_new_tokens": args.max_new_tokens,
        "temperature": 0.0,
        "settle_s": SETTLE_S,
        "rounds": rows,
        "summary": summarize(rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
