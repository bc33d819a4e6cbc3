"""The live view's own cost: the decoding waits while the page renders (device.Pacing), the
speed the page reports is decoding's alone, the page's work is shown apart, and the script that
measures it all (scripts/live_overhead.py) reads the page and renders its artifact."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import visuals as V
from samdec.trace import RunSummary, StepEvent, Trace
from tests.conftest import load_script
from visuals.view import LIVE_PAGE

SLOW_RENDER_S = 0.25  # what the fake slow page takes to draw


# --------------------------------------------------------------------------- lock step


def fake_decoding(steps: int, compute_s: float, log: list):
    """A stand-in for device.gpu_stream: each step computes for `compute_s` and logs when."""

    def stream(spec, ids, config, cancel=None):
        for i in range(steps):
            began = time.perf_counter()
            time.sleep(compute_s)
            log.append((began, time.perf_counter()))
            yield ("step", i)
        yield ("done", None)

    return stream


def read_slowly(device, pacing, reader_s: float) -> list:
    """Read a fake decoding, taking `reader_s` over each step (a slow page): the reader's
    busy intervals."""
    busy = []
    cancel = threading.Event()
    for batch in device.decode_in_background("fake", [1], None, cancel, pacing):
        if batch[-1][0] == "step":
            began = time.perf_counter()
            time.sleep(reader_s)
            busy.append((began, time.perf_counter()))
    return busy


def overlap_s(a: list, b: list) -> float:
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


@pytest.fixture
def fake_device(monkeypatch):
    from samdec.ui import device

    log: list = []
    monkeypatch.setattr(device, "gpu_stream", fake_decoding(6, 0.03, log))
    monkeypatch.setattr(device.rt.RUNTIME, "engine", lambda spec: None)
    return device, log


def test_paced_decoding_waits_while_the_page_works(fake_device):
    device, log = fake_device
    pacing = device.Pacing()
    busy = read_slowly(device, pacing, 0.05)
    assert len(log) == 6 and len(busy) == 6
    assert overlap_s(log, busy) < 0.005  # no step ran while the reader worked
    assert pacing.held_s >= 6 * 0.05 * 0.9  # and the decoding knows how long it waited
    computed = sum(end - began for began, end in log)
    assert computed * 0.9 <= pacing.decoding_s <= computed + 0.1  # its clock: its own work


def test_unpaced_decoding_runs_beside_the_reader(fake_device):
    """The negative control: without Pacing the steps do run while the reader works, so the
    overlap measure above can see it."""
    device, log = fake_device
    busy = read_slowly(device, None, 0.05)
    assert overlap_s(log, busy) > 0.05


def test_a_paced_decoding_nobody_reads_stops(fake_device, monkeypatch):
    device, _ = fake_device
    monkeypatch.setattr(device, "ABANDONED_S", 0.3)
    cancel = threading.Event()
    pacing = device.Pacing()
    stream = device.decode_in_background("fake", [1], None, cancel, pacing)
    next(stream)  # then nobody asks for more
    deadline = time.monotonic() + 5
    while not cancel.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cancel.is_set()
    stream.close()


# --------------------------------------------------------------------------- the cards


def finished_trace(live_page: dict | None = None) -> Trace:
    step = StepEvent(0, 3, 7, 0, 0, -1, -1, "none", "", [], [], [], 9, [9], 10.0, 40.0)
    config = {"method": "sam", **({LIVE_PAGE: live_page} if live_page else {})}
    summary = RunSummary("sam", 3, 1, 1, 1.0, 20.0, 10.0, 40.0, "eos", {}, config)
    return Trace("x", [9], [step], summary, [1, 2, 3], {"9": "x"})


def test_the_speed_card_says_what_its_time_includes():
    assert V.TraceView([], []).speed_cards() == [("tokens / s", "0.0")]  # nothing run yet
    recorded = V.TraceView.from_trace(finished_trace()).speed_cards()
    assert recorded == [("tokens / s · as the trace recorded it", "20.0")]
    live = V.TraceView.from_trace(finished_trace({"waited_ms": 500.0, "page_ms": 640.0}))
    speed, page = live.speed_cards()
    assert speed == ("tokens / s · decoding alone, not the page's work", "20.0")
    assert page[0].startswith("the page's own work") and page[1] == "0.64 s"
    stats = V.stats_html(live)
    assert "decoding alone" in stats and "0.64 s" in stats
    running = V.TraceView.from_events([1], finished_trace().steps, {}, decoding_ms=50.0, page_ms=5)
    assert running.speed_cards()[0] == ("tokens / s so far · decoding alone, not the page's work",
                                        "20.0")  # fmt: skip


def test_decoding_alone_takes_the_wait_out_of_the_clock():
    from samdec.ui.live import decoding_alone

    trace = finished_trace()
    alone = decoding_alone(trace, held_s=0.025)
    assert alone.summary.decode_ms == pytest.approx(15.0)
    assert alone.summary.tokens_per_s == pytest.approx(1 / 0.025)
    assert alone.summary.config[LIVE_PAGE] == {"waited_ms": 25.0}
    assert trace.summary.decode_ms == 40.0  # the engine's trace itself is left as it was


# --------------------------------------------------------------------------- the live page


@pytest.mark.model
def test_the_live_speed_leaves_out_a_slow_pages_rendering(monkeypatch):
    """A page that takes SLOW_RENDER_S to draw its figures, drawn at every step: the engine's
    own clock counts those waits (the decoding did wait), the speed the page shows does not,
    and the page's work is on a card of its own."""
    from samdec.ui import device, live
    from samdec.ui.panels import Session

    raw: list = []
    original = device.gpu_stream

    def recording_stream(*args):
        for item in original(*args):
            if item[0] == "done":
                raw.append(item[1])
            yield item

    during: list[bool] = []

    def slow_render(*args, **kwargs):
        during.append(not raw)  # drawn while the decoding was still going
        time.sleep(SLOW_RENDER_S)
        return {}

    monkeypatch.setattr(device, "gpu_stream", recording_stream)
    monkeypatch.setattr(live, "render", slow_render)
    monkeypatch.setattr(live, "LIVE_FIGURE_EVERY_S", 0.0)
    monkeypatch.setattr(live, "LIVE_PAGE_SHARE", 1e9)  # every step, whatever it costs
    session = Session()
    values = {"prompt": "List three colours of the rainbow.", "method": "sam",
              "max_new_tokens": 8, "max_states": 24, "temperature": 0.0}  # fmt: skip
    updates = list(live.generate_updates(values, session))
    assert "sd-error" not in updates[-1]["notice"]
    waits = sum(during)
    assert waits >= 2 and len(during) == waits + 1  # every live step, then the final drawing
    engine, shown = raw[0].summary, session.view.summary
    assert engine.decode_ms >= waits * SLOW_RENDER_S * 1000  # the decoding waited for the page
    taken_out = engine.decode_ms - shown.decode_ms
    assert taken_out >= waits * SLOW_RENDER_S * 1000 * 0.95
    model_work = sum(ev.verify_ms + ev.draft_us / 1000 for ev in session.view.steps)
    assert shown.decode_ms >= model_work * 0.95  # nothing of the model's own work left out
    seconds = (shown.prefill_ms + shown.decode_ms) / 1000
    assert shown.tokens_per_s == pytest.approx(shown.new_tokens / seconds)
    assert session.view.page_ms >= (waits + 1) * SLOW_RENDER_S * 1000
    assert "decoding alone" in updates[-1]["stats"]
    saved = json.loads(Path(session.file).read_text(encoding="utf-8"))
    assert saved["summary"]["tokens_per_s"] == pytest.approx(shown.tokens_per_s)
    assert saved["summary"]["config"][LIVE_PAGE]["page_ms"] == pytest.approx(
        session.view.page_ms, abs=0.1
    )


# --------------------------------------------------------------------------- the script


def round_row(api_cpu: float, page_cpu: float, page_tokens: int = 40) -> dict:
    return {
        "first": "api",
        "api": {"tokens": 40, "tokens_per_s": 30.0, "server_cpu_s": api_cpu, "wall_s": 1.4},
        "page": {"tokens": page_tokens, "tokens_per_s": 29.0, "page_work_s": 0.2,
                 "server_cpu_s": page_cpu, "wall_s": 1.8, "chromium_cpu_s": 0.9},
        "cpu_ratio": round(page_cpu / api_cpu, 3),
    }  # fmt: skip


def test_the_script_reads_the_pages_cards():
    script = load_script("live_overhead")
    cards = [["tokens", "40"], ["steps (forward passes)", "17"],
             ["tokens / s · decoding alone, not the page's work", "29.5"],
             ["the page's own work · rendering, not in the speed", "0.21 s"],
             ["draft tokens accepted", "23 / 51"]]  # fmt: skip
    read = script.read_cards(cards)
    assert (read["tokens"], read["tokens_per_s"], read["page_work_s"]) == (40, 29.5, 0.21)
    assert read["speed_label"].endswith("not the page's work")


def test_the_script_summary_and_its_rendered_block(tmp_path):
    script = load_script("live_overhead")
    rows = [round_row(1.0, 1.1), round_row(1.0, 1.3), round_row(2.0, 2.2)]
    summary = script.summarize(rows)
    assert summary["cpu_ratio"] == 1.1 and summary["within_goal"] is True
    assert summary["api_server_cpu_s"] == 1.0 and summary["page_server_cpu_s"] == 1.3
    assert summary["same_tokens"] is True
    above = script.summarize([round_row(1.0, 1.5), round_row(1.0, 1.3, page_tokens=39)])
    assert above["within_goal"] is False and above["same_tokens"] is False

    rr = load_script("render_readme")
    receipt = {"command": "python scripts/live_overhead.py --out benchmarks/live_overhead.json",
               "date": "2026-12-06 18:00 UTC", "commit": "0123456789abcdef",
               "machine": {"cpu": "AMD EPYC", "cpu_count": 2, "torch_threads": 2,
                           "omp_wait_policy": "default"},
               "packages": {"torch": "2.13.0+cpu"}}  # fmt: skip
    artifact = {"receipt": receipt, "prompt": "p", "method": "sam", "max_new_tokens": 96,
                "temperature": 0.0, "rounds": rows, "summary": summary,
                "prompt_is_the_pages_first_example": True}  # fmt: skip
    (tmp_path / "live_overhead.json").write_text(json.dumps(artifact))
    body = rr.render_block("live-overhead", tmp_path)
    assert "1.10x the API's" in body and "within the goal of at most 1.2x" in body
    assert "the page's first example prompt" in body
    assert "1.00 s through the API, 1.30 s in the page" in body
    assert "| 3 (api first) | 2.00 s |" in body and "2026-12-06" in body
    artifact["summary"] = above
    (tmp_path / "live_overhead.json").write_text(json.dumps(artifact))
    body = rr.render_block("live-overhead", tmp_path)
    assert "above the goal" in body and "did not generate the same number" in body
