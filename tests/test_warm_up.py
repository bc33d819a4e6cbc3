"""The app's warm-up, its status, an API call during it, and one lock per model: all with
fakes (no model is loaded), so each check is about the runtime's bookkeeping alone."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from samdec.runtime import progress
from samdec.ui import live, status
from samdec.ui import runtime as rt
from samdec.ui.errors import UserError
from samdec.ui.panels import Session


def fake_loaded(spec: str) -> SimpleNamespace:
    return SimpleNamespace(
        name=f"bundled:{spec.strip('./')}.Q4_1",
        tokenizer=None,
        layout="streamed",
        dtype="float32",
        device="cpu",
    )


class FakeEngine:
    static = None

    def __init__(self) -> None:
        self.generated = 0

    def encode(self, prompt: str) -> list[int]:
        return [1, 2]

    def generate(self, ids, config) -> None:
        self.generated += 1


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A runtime over three fake models; `gates[spec]`, when set, holds that model's load."""
    gates: dict[str, threading.Event] = {}
    loads: list[str] = []

    def load(spec: str):
        loads.append(spec)
        progress.stage("timing layouts", 2, 6)
        if spec in gates:
            assert gates[spec].wait(10), "the test never opened the gate"
        return fake_loaded(spec)

    monkeypatch.setattr(rt, "_load", load)
    monkeypatch.setattr("samdec.stack.engine_for", lambda loaded, static=None: FakeEngine())
    r = rt.Runtime(corpus=tmp_path / "absent.jsonl", models=("./a", "./b", "./c"))
    r.gates, r.loads = gates, loads
    monkeypatch.setattr(rt, "RUNTIME", r)
    yield r
    for gate in gates.values():
        gate.set()


def in_thread(fn, *args) -> threading.Thread:
    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


def wait_for(condition, seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_loaded_model_answers_while_another_loads(runtime):
    a = runtime.loaded("./a")
    runtime.gates["./b"] = threading.Event()
    loading_b = in_thread(runtime.loaded, "./b")
    wait_for(lambda: "./b" in runtime.loads)
    answered = []
    asking_a = in_thread(lambda: answered.append((runtime.loaded("./a"), runtime.engine("./a"))))
    asking_a.join(2.0)
    assert answered and answered[0][0] is a, "a request for model A waited for model B's load"
    assert loading_b.is_alive() and not runtime.is_loaded("./b")
    runtime.gates["./b"].set()
    loading_b.join(5.0)
    assert runtime.is_loaded("./b") and runtime.loads.count("./b") == 1


def test_two_requests_for_one_model_load_it_once(runtime):
    runtime.gates["./b"] = threading.Event()
    threads = [in_thread(runtime.loaded, "./b") for _ in range(3)]
    wait_for(lambda: "./b" in runtime.loads)
    runtime.gates["./b"].set()
    for t in threads:
        t.join(5.0)
    assert runtime.loads.count("./b") == 1


def test_eviction_drops_the_oldest_extra_model_and_its_engine(runtime):
    runtime.engine("./a")
    runtime.engine("./b")
    runtime.engine("./c")  # one extra model at a time: b goes
    assert runtime.is_loaded("./a") and runtime.is_loaded("./c")
    assert not runtime.is_loaded("./b") and "./b" not in runtime._engines
    assert runtime.static_if_loaded("./b") is None


def test_an_engine_made_for_a_model_evicted_meanwhile_is_not_kept(runtime, monkeypatch):
    runtime.loaded("./b")

    def engine_for_then_evict(loaded, static=None):
        runtime.loaded("./c")  # evicts b while b's engine is being made
        return FakeEngine()

    monkeypatch.setattr("samdec.stack.engine_for", engine_for_then_evict)
    engine = runtime.engine("./b")
    assert isinstance(engine, FakeEngine)
    assert "./b" not in runtime._engines and "./b" not in runtime._models


def test_warm_up_reports_its_stages_then_the_facts(runtime):
    runtime.gates["./a"] = threading.Event()
    assert status.status_text(runtime) == ("./a: loads on the first request.", False)
    runtime.warm_up()
    wait_for(lambda: runtime.warming.stage == "timing layouts 2/6")
    text, running = status.status_text(runtime)
    assert running and text == "Preparing the model: timing layouts 2/6…"
    runtime.gates["./a"].set()
    assert runtime.warming.wait(5.0) and not runtime.warming.running
    assert runtime.warming.error == "" and runtime._engines["./a"].generated == 1
    text, running = status.status_text(runtime)
    assert not running
    assert text.startswith("a · streamed layout, AVX-512 kernel · float32, exact by construction")
    assert "2 more models" in text


def test_an_api_call_during_warm_up_waits_a_bounded_time_then_says_the_stage(runtime):
    runtime.gates["./a"] = threading.Event()
    runtime.warm_up()
    wait_for(lambda: runtime.warming.stage == "timing layouts 2/6")
    start = time.monotonic()
    with pytest.raises(UserError, match=r"still being prepared \(timing layouts 2/6\); try again"):
        runtime.ready("./a", wait_s=0.3)
    assert 0.25 < time.monotonic() - start < 3.0
    runtime.ready("./b", wait_s=0.0)  # another model's request does not wait for a's warm-up
    threading.Timer(0.2, runtime.gates["./a"].set).start()
    runtime.ready("./a", wait_s=5.0)  # the warm-up ends within the wait: the call goes on
    assert runtime.is_loaded("./a")


def test_the_api_endpoint_answers_with_the_stage_during_warm_up(runtime, monkeypatch):
    import gradio as gr

    from samdec.ui import api

    monkeypatch.setattr(rt, "WARM_UP_WAIT_S", 0.2)
    runtime.gates["./a"] = threading.Event()
    runtime.warm_up()
    wait_for(lambda: runtime.warming.stage == "timing layouts 2/6")
    with pytest.raises(gr.Error, match="still being prepared"):
        list(api.generate("Name a colour.", "sam", 4, model="./a"))


def test_a_failed_warm_up_says_why_without_server_details(runtime, monkeypatch):
    def broken(spec):
        raise OSError("/secret/path/model.safetensors is damaged")

    monkeypatch.setattr(rt, "_load", broken)
    runtime.warm_up()
    assert runtime.warming.wait(5.0)
    assert runtime.warming.error == rt.WARM_UP_FAILED and "/secret" not in runtime.warming.error
    text, running = status.status_text(runtime)
    assert not running and "could not be prepared" in text
    runtime.ready("./a", wait_s=0.0)  # does not block: the request's own load reports


def test_the_page_shows_each_stage_while_it_waits(runtime):
    runtime.gates["./a"] = threading.Event()
    runtime.warm_up()
    wait_for(lambda: runtime.warming.stage == "timing layouts 2/6")
    updates = live._warming_updates(runtime, "./a", Session())
    first = next(updates)
    assert "Preparing the model: timing layouts 2/6…" in first["notice"]
    progress.stage("calibrating the cost curve")
    second = next(updates)
    assert "calibrating the cost curve" in second["notice"]
    runtime.gates["./a"].set()
    assert list(updates) == []  # ends with the warm-up
    assert list(live._warming_updates(runtime, "./a", Session())) == []
