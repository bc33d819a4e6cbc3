"""The app through its named API (gradio_client) and its event handlers, on the bundled model.

One server is launched in-process on a free localhost port for the whole module.
"""

from __future__ import annotations

import os

# Importing app sets this too, but here torch may already be loaded by another test module;
# spinning OpenMP threads make a shared CPU ~50x slower (see app.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
import socket
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

PROMPT = "List three colours of the rainbow, then list them again in reverse order."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui():
    """The app's modules, with the bundled model loaded once before any call's clock starts."""
    from types import SimpleNamespace

    from samdec.ui import api, compare, controls, live, page, replay, request, runtime, tune

    runtime.RUNTIME.engine("bundled")
    return SimpleNamespace(
        api=api, compare=compare, controls=controls, live=live, page=page, replay=replay,
        request=request, runtime=runtime, tune=tune,
    )  # fmt: skip


@pytest.fixture(scope="module")
def client(ui):
    from gradio_client import Client

    demo = ui.page.build_demo()
    _, url, _ = demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **ui.page.launch_kwargs(),
    )
    try:
        yield Client(url, verbose=False)
    finally:
        demo.close()


def generate(client, prompt=PROMPT, method="sam+recycling", max_new_tokens=20, **kw):
    text, trace_json, notes = client.predict(
        prompt, method, max_new_tokens, api_name="/generate", **kw
    )
    from samdec.trace import Trace

    return text, Trace.from_dict(json.loads(trace_json)), notes


def test_api_lists_the_named_endpoints(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/generate", "/compare", "/automaton_steps"} <= set(names)


def test_generate_returns_a_trace_consistent_with_the_text(client, ui):
    text, trace, _notes = generate(client)
    runner = ui.runtime.RUNTIME.engine("bundled").runner
    assert trace.text == text
    assert runner.decode(trace.token_ids, skip_special=True) == text
    assert [t for ev in trace.steps for t in ev.new_tokens] == trace.token_ids
    assert 1 <= len(trace.token_ids) <= 20
    assert trace.summary.steps == len(trace.steps)
    assert trace.summary.new_tokens == len(trace.token_ids)
    for ev in trace.steps:
        accepted = [ev.draft_tokens[i] for i in ev.accepted_indices]
        tail = [ev.bonus_token] if ev.bonus_token >= 0 else []
        assert ev.new_tokens == (accepted + tail)[: len(ev.new_tokens)]
        assert len(ev.draft_pieces) == len(ev.draft_tokens)
    assert all(str(t) in trace.pieces for t in trace.token_ids)
    assert trace.summary.config["method"] == "sam+recycling"
    assert trace.summary.config["static_corpus"] > 0  # the shipped corpus was indexed


def test_output_equals_plain_decoding(client):
    _, ours, _ = generate(client, method="sam+recycling", max_new_tokens=16)
    _, plain, _ = generate(client, method="ar", max_new_tokens=16)
    assert ours.token_ids == plain.token_ids
    assert plain.summary.steps == len(plain.token_ids)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "sam", 8), "empty"),
        (("   \n\t ", "sam", 8), "empty"),
        ((PROMPT, "sam", 0), "from 1 to 1024"),
        ((PROMPT, "sam", 5000), "from 1 to 1024"),
        ((PROMPT, "sam", 2.5), "whole number"),
        ((PROMPT, "teleport", 8), "Unknown method"),
        ((PROMPT, "sam", 8, 5, 5, "cost", 40, -1.0), "Temperature must be between 0 and 5"),
        ((PROMPT, "sam", 8, 5, 5, "sometimes"), "Length policy must be 'cost' or 'fixed'"),
        ((PROMPT, "sam", 8, -1), "l_bias must be a whole number from 0 to 1000"),
        (("word " * 9000, "sam", 8), "reads at most"),
    ],
)
def test_bad_input_gets_a_clear_message(client, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name="/generate")
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)


OFFERED_ONLY = "This server offers only these models: bundled."


@pytest.mark.parametrize(
    "model",
    [
        "./no/such/model",
        "/etc",
        "/definitely/not/here",
        "~/.cache",
        "someone/unlisted-model",
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "not a model id!",
        "x.gguf",
    ],
)
def test_api_refuses_any_model_the_operator_did_not_list(client, ui, model):
    """One fixed sentence whatever was sent: nothing is loaded, downloaded or probed."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(PROMPT, "sam", 4, model=model, api_name="/generate")
    assert str(info.value).strip() == OFFERED_ONLY
    with pytest.raises(AppError) as info:
        client.predict(PROMPT, "sam", 4, model, api_name="/compare")
    assert str(info.value).strip() == OFFERED_ONLY
    assert not ui.runtime.RUNTIME.is_loaded(model)


def test_operator_models_come_from_the_flag_or_the_environment(ui, monkeypatch):
    monkeypatch.delenv(ui.runtime.MODELS_ENV, raising=False)
    assert ui.runtime.operator_models(None) == tuple(ui.runtime.default_models().split(","))
    assert ui.runtime.operator_models(None)[0] == "bundled"  # exact float32 stays the default
    monkeypatch.setenv(ui.runtime.MODELS_ENV, "bundled, someone/model ,bundled")
    assert ui.runtime.operator_models(None) == ("bundled", "someone/model")
    assert ui.runtime.operator_models("a/b") == ("a/b",)
    with pytest.raises(ui.runtime.UserError, match="neither"):
        ui.runtime.Runtime(models=("not a model id!",))


def test_a_fast_not_exact_model_is_labelled_and_its_runs_say_so(client, ui, monkeypatch):
    fast = "bundled@bfloat16"
    assert ui.runtime.check_model_spec(fast) == fast
    assert ui.controls.model_label(fast) == "bundled · bfloat16 (fast, not exact)"
    assert ui.controls.model_label("bundled") == "bundled · float32, exact to transformers"
    integer = ui.controls.model_label("bundled@integer")
    assert (
        integer == "bundled · GGUF integer numerics: exact to itself, not to transformers' float32"
    )
    with pytest.raises(ui.runtime.UserError, match="neither"):
        ui.runtime.check_model_spec("not a model!@bfloat16")
    from samdec import stack
    from samdec.cost import CostModel

    # The bfloat16 engine would calibrate its own cost curve first (seconds of CI time).
    monkeypatch.setattr(stack, "calibrated_cost", lambda runner, recalibrate=False: CostModel())
    monkeypatch.setattr(ui.runtime, "RUNTIME", ui.runtime.Runtime(models=("bundled", fast)))
    text, trace, notes = generate(client, method="sam", max_new_tokens=6, model=fast)
    assert "bfloat16 is a fast mode, not an exact one" in notes
    assert trace.summary.config["dtype"] == "bfloat16" and text == trace.text
    _, exact, notes = generate(client, method="sam", max_new_tokens=6, model="bundled")
    assert "not an exact one" not in notes and exact.summary.config["dtype"] == "float32"


def test_unreachable_hub_model_fails_fast(ui, monkeypatch):
    monkeypatch.setattr(ui.runtime, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ui.runtime.UserError, match="no network"):
        ui.runtime.check_model_spec("someone/not-downloaded-model")


def test_corrupt_corpus_is_reported_and_decoding_goes_on(client, ui, tmp_path, monkeypatch):
    bad = tmp_path / "corrupt.jsonl"
    bad.write_text('{"answer": "fine"}\n{this is not json\n', encoding="utf-8")
    monkeypatch.setattr(ui.runtime, "RUNTIME", ui.runtime.Runtime(corpus=bad))
    text, trace, notes = generate(client, method="sam", max_new_tokens=8)
    assert "corrupt.jsonl could not be read" in notes
    assert "dynamic automaton only" in notes
    assert trace.summary.config["static_corpus"] == 0
    assert text == trace.text and trace.token_ids


def test_two_generations_at_once_both_finish(client):
    results: dict[int, tuple] = {}
    errors: list[BaseException] = []

    def work(i: int, prompt: str) -> None:
        try:
            results[i] = generate(client, prompt=prompt, max_new_tokens=10)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(0, "Name two planets.")),
        threading.Thread(target=work, args=(1, "Name two oceans.")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert set(results) == {0, 1}
    for _, trace, _ in results.values():
        assert trace.token_ids


def test_compare_endpoint(client):
    data = json.loads(client.predict(PROMPT, "sam+recycling", 12, api_name="/compare"))
    names = [r["name"] for r in data["runs"]]
    assert names[0].startswith("plain") and "prompt lookup" in names[1]
    assert all(r["tokens_per_s"] > 0 for r in data["runs"])
    reference = data["runs"][0]["token_ids"]
    for run in data["runs"][1:]:
        assert run["identical"] is True
        assert run["token_ids"] == reference


def test_compare_endpoint_checks_identity_when_sampling(client):
    args = (PROMPT, "sam+recycling", 24, "bundled", 0.8, 7)
    data = json.loads(client.predict(*args, api_name="/compare"))
    plain, pld, ours = data["runs"]  # prompt lookup samples in the engine's loop, seeded too
    assert plain["name"].startswith("plain") and "samdec" in ours["name"]
    assert "prompt lookup" in pld["name"]
    for run in (pld, ours):
        assert run["identical"] is True and run["token_ids"] == plain["token_ids"]
    assert "temperature 0.8, seed 7" in data["note"]
    again = json.loads(client.predict(*args, api_name="/compare"))
    assert again["runs"][0]["token_ids"] == plain["token_ids"], "the seed did not repeat the text"


def test_automaton_steps_endpoint(client):
    """The playground's construction as JSON: one symbol per letter by default."""
    data = json.loads(client.predict("abcbc", api_name="/automaton_steps"))
    assert data["symbols"] == list("abcbc") and data["num_states"] == len(data["states"]) == 8
    kinds = [e["kind"] for e in data["events"]]
    assert kinds.count("clone") == 2 and kinds.count("match") == 5
    assert data["events"][-1] == {
        "kind": "match", "state": 7, "length": 2, "suffix": ["b", "c"], "earlier_end": 2,
        "draft": ["b", "c"],
    }  # fmt: skip
    words = json.loads(client.predict("to be or not to be", "words", api_name="/automaton_steps"))
    assert words["unit"] == "words" and words["events"][-1]["suffix"] == ["to", "be"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "empty"),
        (("x" * 65,), "at most 64 symbols"),
        (("abc", "syllables"), "The unit must be"),
    ],
)
def test_automaton_steps_rejects_bad_input_clearly(client, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name="/automaton_steps")
    assert message in str(info.value) and "Traceback" not in str(info.value)


# ----------------------------------------------------------------------------- UI handlers
# The handlers run here without a server: they take values by name and return updates by name.


def run_ui(ui, prompt, max_new_tokens=12, method="sam+recycling", model="bundled", **settings):
    from samdec.ui.panels import Session

    session = Session()
    values = {
        "prompt": prompt,
        "model": model,
        "method": method,
        "max_new_tokens": max_new_tokens,
        "max_states": 24,
        **settings,
    }
    return session, list(ui.live.generate_updates(values, session))


@pytest.mark.parametrize(
    ("method", "temperature", "policy"),
    [
        ("ar", 0.0, "cost"),
        ("recycling", 0.0, "fixed"),
        ("sam-dynamic", 0.0, "fixed"),
        ("sam+recycling", 0.8, "cost"),
    ],
)
def test_ui_renders_every_method(ui, method, temperature, policy):
    session, updates = run_ui(
        ui, PROMPT, max_new_tokens=8, method=method, temperature=temperature, draft_policy=policy
    )
    final = updates[-1]
    assert session.view is not None and session.view.done
    assert session.view.method == method
    assert "sd-error" not in final["notice"]
    assert final["stream"].count('class="sd-tok') == len(session.view.token_ids)
    for k in range(session.view.num_steps):
        panels = ui.replay.show_step(session, k, 24)
        assert set(panels) >= {"stream", "dyn_plot", "match_plot", "steps_plot", "inspector"}


def test_ui_settings_reach_the_engine_by_name(ui):
    """l_bias and l_threshold are both small ints: only binding by name keeps them apart."""
    session, _ = run_ui(ui, PROMPT, max_new_tokens=6, method="sam", l_bias=7, l_threshold=2)
    config = session.view.config
    assert (config["l_bias"], config["l_threshold"]) == (7, 2)
    assert config["use_static"] is True and config["static_corpus"] > 0


def test_recorded_config_says_only_what_was_used(ui):
    session, _ = run_ui(ui, PROMPT, max_new_tokens=6, method="sam-dynamic")
    assert session.view.config["static_corpus"] == 0
    assert session.view.config["use_static"] is False
    session, _ = run_ui(ui, PROMPT, max_new_tokens=6, method="sam", use_static=False)
    assert session.view.config["static_corpus"] == 0


def test_every_control_is_labelled_and_bound_by_its_setting_name(ui):
    """Each settings control is the one for its DecodeConfig field (the label comes from the
    field), and the API endpoints take the same names."""
    import inspect

    import gradio as gr

    from samdec.config import DecodeConfig, label

    with gr.Blocks():
        controls = ui.controls.build_controls([])
    fields = set(DecodeConfig.__dataclass_fields__)
    bound = set(controls.by_name) - {"prompt", "model"}
    assert bound <= fields
    assert {"method", "max_new_tokens", "l_bias", "l_threshold", "draft_policy"} <= bound
    for name in bound:
        assert controls.by_name[name].label == label(name), name
    for endpoint in (ui.api.generate, ui.api.compare):
        params = set(inspect.signature(endpoint).parameters)
        assert params <= fields | {"prompt", "model"}, endpoint


def test_ui_generation_streams_then_enables_replay(ui):
    session, updates = run_ui(ui, PROMPT)
    final = updates[-1]
    view = session.view
    assert view is not None and view.done
    assert final["stream"].count('class="sd-tok') == len(view.token_ids)
    assert "sd-error" not in final["notice"]
    assert final["slider"].maximum == max(view.num_steps - 1, 1)
    assert session.file.endswith(".json") and "download" in final
    trace = json.loads(Path(session.file).read_text(encoding="utf-8"))
    assert trace["token_ids"] == view.token_ids
    for name in ("dyn_plot", "match_plot", "steps_plot"):
        assert len(final[name].data) > 0, name
    # replay: the slider, a click on a token and the timer all drive every panel
    first = ui.replay.show_step(session, 0, 24)
    assert 'data-step="0"' in first["stream"] and "<b>Step 0</b>" in first["inspector"]

    class Click:
        _data = {"step": 1}  # noqa: RUF012

    clicked = ui.replay.click_step(session, 24, Click())
    assert clicked["slider"] == 1 and "<b>Step 1</b>" in clicked["inspector"]
    assert ui.replay.tick(session, 0, 24)["slider"] == 1
    last = ui.replay.tick(session, view.num_steps - 1, 24)
    assert set(last) == {"timer"}  # the replay stops at the end
    # the downloaded file opens again as the same replay
    reopened = ui.replay.open_trace(session.file, None, 24)
    assert (
        "Replaying" in reopened["notice"] and reopened["slider"].maximum == final["slider"].maximum
    )


@pytest.mark.parametrize(
    ("prompt", "max_new_tokens", "model", "message"),
    [
        ("  ", 12, "bundled", "empty"),
        (PROMPT, 0, "bundled", "from 1 to 1024"),
        (PROMPT, 12, "/definitely/not/here", OFFERED_ONLY),
    ],
)
def test_ui_shows_errors_in_the_page_not_tracebacks(ui, prompt, max_new_tokens, model, message):
    session, updates = run_ui(ui, prompt, max_new_tokens=max_new_tokens, model=model)
    notice = updates[-1]["notice"]
    assert "sd-error" in notice and message in notice
    assert "Traceback" not in notice
    assert session.view is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2", "Expecting"),
        ("[1, 2]", "not a trace"),
        ('{"text": "", "token_ids": [], "steps": [], "summary": {}}', "not a trace"),
    ],
)
def test_open_trace_rejects_a_bad_file(ui, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    update = ui.replay.open_trace(str(bad), None, 24)
    assert "sd-error" in update["notice"] and message in update["notice"]
    assert "Traceback" not in update["notice"]


def test_app_runs_under_a_zerogpu_style_spaces_module(tmp_path):
    """With `spaces` importable, GPU work goes through spaces.GPU and the model loads at
    start-up (as ZeroGPU expects); everything else behaves the same."""
    import subprocess
    import sys

    fake = tmp_path / "spaces.py"
    fake.write_text(
        "CALLS = []\n"
        "def GPU(duration=60):\n"
        "    def wrap(fn):\n"
        "        def inner(*a, **k):\n"
        "            CALLS.append(fn.__name__)\n"
        "            return fn(*a, **k)\n"
        "        return inner\n"
        "    return wrap\n",
        encoding="utf-8",
    )
    code = (
        "import json, spaces\n"
        "from samdec.ui import api, device, live, runtime\n"
        "from samdec.ui.panels import Session\n"
        "assert device.spaces is spaces\n"
        "runtime.RUNTIME.warm_up(zerogpu=True)\n"
        "assert runtime.RUNTIME.is_loaded('bundled')\n"
        "text, trace, notes = list(api.generate('Name a colour.', 'sam+recycling', 6))[-1]\n"
        "assert json.loads(trace)['token_ids'], trace\n"
        "s = Session()\n"
        "values = dict(prompt='Name a fruit.', method='sam', max_new_tokens=6, model='bundled')\n"
        "ups = list(live.generate_updates(values, s))\n"
        "assert s.view.done and s.view.token_ids\n"
        "assert spaces.CALLS.count('gpu_stream') == 2, spaces.CALLS\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{root}"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_tune_predicts_a_grid_and_applies_the_best_setting(ui):
    from samdec.ui.device import TUNE_BIASES, TUNE_THRESHOLDS

    values = dict(PROMPT_VALUES, method="sam+recycling", max_new_tokens=24)
    html, fig, best = ui.tune.tune_panels(values)
    heat = fig.data[0]
    assert list(heat.x) == TUNE_BIASES and list(heat.y) == TUNE_THRESHOLDS
    cells = [v for row in heat.z for v in row if v is not None]
    assert len(cells) == 100 and all(v > 0 for v in cells)
    assert max(cells) == pytest.approx(heat.z[best[1] - 1][best[0]])
    assert "Best: l_bias" in html and "Paper default (5, 5)" in html
    assert ui.tune.apply_best(best) == (best[0], best[1])
    bad_html, _, none = ui.tune.tune_panels(dict(values, prompt="   "))
    assert none is None and "prompt" in bad_html.lower()


PROMPT_VALUES = {
    "prompt": PROMPT,
    "model": "bundled",
    "draft_policy": "cost",
    "draft_len": 40,
    "use_static": True,
}


# ----------------------------------------------------------------------------- bounded work


@pytest.fixture
def one_slot(ui, monkeypatch):
    """The process's runtime with room for one running request and none waiting."""
    from samdec.ui.admission import Admission

    monkeypatch.setattr(ui.runtime.RUNTIME, "admission", Admission(running=1, waiting=0))
    return ui.runtime.RUNTIME.admission


def decode_threads() -> list:
    return [t for t in threading.enumerate() if t.name == "samdec-decode" and t.is_alive()]


def wait_until(condition, seconds: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_full_server_answers_busy(client, ui, one_slot):
    from gradio_client.exceptions import AppError

    with one_slot.turn():  # somebody else is decoding
        with pytest.raises(AppError, match="The server is busy"):
            client.predict(PROMPT, "sam", 4, api_name="/generate")
        _, updates = run_ui(ui, PROMPT, max_new_tokens=4)
        assert "The server is busy" in updates[-1]["notice"]
        with pytest.raises(ui.runtime.UserError, match="busy"):
            ui.compare.run_compare({"prompt": PROMPT, "method": "sam", "max_new_tokens": 4})
    assert one_slot.inside == 0
    text, _, _ = generate(client, max_new_tokens=4)  # the slot is free again
    assert text


def test_a_cancelled_api_call_stops_decoding_and_frees_its_slot(client, ui, one_slot):
    job = client.submit(PROMPT, "sam", 400, api_name="/generate")
    assert wait_until(lambda: one_slot.inside == 1 and decode_threads(), 60)
    assert wait_until(lambda: len(job.outputs()) >= 2, 60)  # it is streaming
    job.cancel()
    assert wait_until(lambda: one_slot.inside == 0 and not decode_threads(), 10)
    text, _, _ = generate(client, max_new_tokens=4)
    assert text


def test_a_closed_tab_stops_its_decoding_within_a_step(ui, one_slot):
    from samdec.ui.panels import Session

    session = Session()
    values = {"prompt": PROMPT, "method": "sam", "max_new_tokens": 400, "max_states": 24}
    updates = ui.live.generate_updates(values, session, owner="tab-1")
    next(u for u in updates if "stream" in u and session.view and session.view.steps)
    assert one_slot.cancel_owner("tab-1") == 1  # what closing the tab does (demo.unload)
    final = list(updates)[-1]
    assert session.view.summary.stop_reason == "cancelled"
    assert len(session.view.token_ids) < 400 and "Stopped after" in final["notice"]
    assert one_slot.inside == 0 and wait_until(lambda: not decode_threads(), 5)


def test_an_abandoned_stream_is_stopped_and_frees_its_slot(ui, one_slot):
    """A generator nobody advances any more (a client gone without a word) is closed by
    gradio, or else stopped by the decoding thread's watchdog; here: closed."""
    from samdec.ui.panels import Session

    values = {"prompt": PROMPT, "method": "sam", "max_new_tokens": 400, "max_states": 24}
    updates = ui.live.generate_updates(values, Session())
    next(u for u in updates if "stream" in u)
    assert one_slot.inside == 1
    updates.close()
    assert one_slot.inside == 0 and wait_until(lambda: not decode_threads(), 5)


def test_an_oversized_trace_upload_is_refused(ui, tmp_path, monkeypatch):
    trace = tmp_path / "big.json"
    trace.write_text((Path(__file__).parent / "data" / "trace_sam.json").read_text())
    monkeypatch.setattr(ui.replay, "MAX_TRACE_BYTES", 1000)
    update = ui.replay.open_trace(str(trace), None, 24)
    assert "larger than" in update["notice"] and "sd-error" in update["notice"]
    monkeypatch.undo()
    assert "Replaying" in ui.replay.open_trace(str(trace), None, 24)["notice"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["steps"][4].update(draft_parents=[3] * len(d["steps"][4]["draft_tokens"])),
         "draft_parents"),
        (lambda d: d["steps"][1].update(accepted_indices=[99]), "accepted_indices"),
        (lambda d: d["steps"][0].update(new_tokens=["x"]), "new_tokens"),
        (lambda d: d.update(token_ids=d["token_ids"][:-1]), "add up"),
        (lambda d: d["steps"][0].update(drafter="oracle"), "drafter"),
    ],
)  # fmt: skip
def test_a_malformed_trace_upload_is_refused(ui, tmp_path, change, message):
    data = json.loads((Path(__file__).parent / "data" / "trace_sam.json").read_text())
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    update = ui.replay.open_trace(str(bad), None, 24)
    assert "sd-error" in update["notice"] and message in update["notice"]


def test_the_decoding_thread_stops_when_nobody_reads_it(ui, monkeypatch):
    """The watchdog: a stream left suspended (a client gone without a word, its generator
    never closed) stops decoding once nobody has read it for ABANDONED_S."""
    import threading as th

    from samdec.ui import device

    monkeypatch.setattr(device, "ABANDONED_S", 0.5)
    original = device.gpu_stream

    def slow_stream(*args):  # a model slow enough that the answer outlasts ABANDONED_S
        for item in original(*args):
            time.sleep(0.1)
            yield item

    monkeypatch.setattr(device, "gpu_stream", slow_stream)
    prepared = ui.request.prepare(
        ui.request.read_request({"prompt": PROMPT, "max_new_tokens": 400})
    )
    cancel = th.Event()
    stream = device.decode_in_background(prepared.spec, prepared.ids, prepared.config, cancel)
    next(stream)  # then nobody reads on
    assert wait_until(lambda: cancel.is_set() and not decode_threads(), 20)
    stream.close()
