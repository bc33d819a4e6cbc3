"""The first load on a machine: what choosing the layout holds in memory, and a choice timed
on a busy machine being timed again once it is quiet."""

from __future__ import annotations

import logging
import subprocess
import sys
import weakref

import pytest
import torch

from samdec.runtime import coded, contention, layout_choice
from samdec.runtime.cachefiles import read_record
from samdec.runtime.layout_choice import choose_layout, layout_choice_file, sharing_copy
from samdec.runtime.layouts import PackedQKV, auto_candidates
from samdec.runtime.native import available as kernel_available
from samdec.runtime.native import kernel
from tests.conftest import tiny_model


def test_a_sharing_copy_shares_every_tensor_and_a_layout_leaves_the_model_alone():
    model = tiny_model("llama", vocab=64, seed=3).model
    before = {name: p.clone() for name, p in model.named_parameters()}
    copied = sharing_copy(model)
    assert copied is not model
    pairs = zip(model.parameters(), copied.parameters(), strict=True)
    assert all(mine is theirs for mine, theirs in pairs)
    layout_choice.apply_layout(copied, "packed")
    assert any(isinstance(m, PackedQKV) for m in copied.modules())
    assert not any(isinstance(m, PackedQKV) for m in model.modules())
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name


def test_layouts_are_timed_one_besides_the_first_at_a_time(monkeypatch):
    """Each candidate is built, timed in turns with the first, and freed before the next is
    built: memory holds the model and one layout's weights, not a model per candidate."""
    model = tiny_model("llama", vocab=64, seed=3).model
    live: weakref.WeakSet = weakref.WeakSet()
    most = []
    apply = layout_choice.apply_layout

    def counted(copy, name):
        live.add(copy)
        most.append(len(live))
        apply(copy, name)

    monkeypatch.setattr(layout_choice, "apply_layout", counted)
    costs = layout_choice.layout_costs(model, ("stock", "packed", "transposed"))
    assert set(costs) == {"stock", "packed", "transposed"} and min(costs.values()) > 0
    assert most == [1, 2, 2]  # the first's copy, then one other at a time


def test_negative_control_all_copies_kept_alive_would_be_seen(monkeypatch):
    model = tiny_model("llama", vocab=64, seed=3).model
    live: weakref.WeakSet = weakref.WeakSet()
    kept, most = [], []

    def counted(copy, name):
        live.add(copy)
        kept.append(copy)  # what a measurement that held every copy would do
        most.append(len(live))

    monkeypatch.setattr(layout_choice, "apply_layout", counted)
    layout_choice.layout_costs(model, ("stock", "packed", "transposed"))
    assert most == [1, 2, 3]


def test_other_processes_are_their_busy_time_less_this_ones(monkeypatch):
    busy = iter([100.0, 103.0])  # all CPUs: 3 s busy over the watch
    own = iter([10.0, 11.0])  # of which this process: 1 s
    clock = iter([0.0, 2.0])  # over 2 s of wall time
    monkeypatch.setattr(contention, "_cpu_busy_s", lambda: next(busy))
    monkeypatch.setattr(contention, "_own_cpu_s", lambda: next(own))
    monkeypatch.setattr(contention.time, "perf_counter", lambda: next(clock))
    with contention.OtherProcesses() as watch:
        pass
    assert watch.cores == pytest.approx(1.0) and watch.busy is True


def test_a_process_spinning_beside_is_seen():
    spin = "import time\nend = time.time() + 3\nwhile time.time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", spin])
    try:
        watch = contention.others_now(1.5)
    finally:
        child.wait()
    assert watch.cores is not None and watch.cores > contention.BUSY_CORES and watch.busy


def test_a_choice_timed_on_a_busy_machine_is_used_then_timed_again_when_quiet(
    monkeypatch, tmp_path, caplog
):
    monkeypatch.setenv("SAMDEC_CACHE", str(tmp_path))
    model = tiny_model("llama", vocab=64, seed=3).model
    candidates = auto_candidates()
    timings = []

    def costs(model, names):
        timings.append(names)
        return {name: 1.0 + (name != names[-1]) for name in names}  # the last is cheapest

    class Watch:  # the machine as the test says it is
        busy_now = True

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.busy, self.cores = Watch.busy_now, (2.0 if Watch.busy_now else 0.0)

    def now():
        watch = Watch()
        watch.__exit__()
        return watch

    monkeypatch.setattr(layout_choice, "layout_costs", costs)
    monkeypatch.setattr(layout_choice, "OtherProcesses", Watch)
    monkeypatch.setattr(layout_choice, "others_now", now)
    with caplog.at_level(logging.WARNING, logger="samdec.runtime"):
        assert choose_layout(model, "tiny", "cpu", "float32") == candidates[-1]
    assert "busy" in caplog.text and "timed again" in caplog.text
    key, path = layout_choice_file("tiny", "cpu", "float32")
    assert read_record(path, key)["busy"] is True
    choose_layout(model, "tiny", "cpu", "float32")  # still busy: the kept choice is used
    assert len(timings) == 1
    Watch.busy_now = False
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="samdec.runtime"):
        choose_layout(model, "tiny", "cpu", "float32")  # quiet now: timed again
    assert len(timings) == 2 and "timing the layouts again" in caplog.text
    assert read_record(path, key)["busy"] is False
    choose_layout(model, "tiny", "cpu", "float32")  # a quiet record is kept
    assert len(timings) == 2


@pytest.mark.skipif(not kernel_available(), reason="the streamed kernel cannot be built here")
def test_a_weight_searched_for_codes_in_row_slices_finds_what_it_finds_whole(monkeypatch):
    block = kernel().BLOCK
    g = torch.Generator().manual_seed(11)
    blocks = (40, 64 // block)
    codes = torch.randint(0, 16, (*blocks, block), generator=g)
    codes[..., 0], codes[..., 1] = 0, 15  # a quantiser's block holds its extreme codes
    step = (torch.rand(blocks, generator=g) * 0.02 + 1e-3).half().float()
    offset = (torch.randn(blocks, generator=g) * 0.05).half().float()
    weight = (codes.float() * step.unsqueeze(-1) + offset.unsqueeze(-1)).reshape(40, 64)
    whole = coded.find_codes(weight)
    monkeypatch.setattr(coded, "FIND_ROWS", 16)  # three slices: 16, 16 and 8 rows
    sliced = coded.find_codes(weight)
    assert whole is not None and sliced is not None
    assert all(torch.equal(a, b) for a, b in zip(whole, sliced, strict=True))
    weight[37, 5] = torch.nextafter(weight[37, 5], torch.tensor(1.0))  # the last slice spoilt
    assert coded.find_codes(weight) is None


def deep_model():
    """16 layers, heads 16 wide (the streamed layout's row attention takes them)."""
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=16,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def test_a_deep_model_is_timed_on_copies_cut_to_a_few_layers(monkeypatch):
    """A layout is built once per candidate, on a copy of the deepest of TRIAL_DEPTHS layers,
    never on the whole model, and the model itself keeps every layer."""
    model = deep_model()
    depths = []
    apply = layout_choice.apply_layout

    def counted(copy, name):
        depths.append((name, len(copy.model.layers), copy.config.num_hidden_layers))
        apply(copy, name)

    monkeypatch.setattr(layout_choice, "apply_layout", counted)
    costs = layout_choice.layout_costs(model, ("stock", "packed"))
    assert set(costs) == {"stock", "packed"} and min(costs.values()) > 0
    deepest = max(layout_choice.TRIAL_DEPTHS)
    assert depths == [(n, deepest, deepest) for n in ("stock", "packed")]
    assert len(model.model.layers) == 16 and model.config.num_hidden_layers == 16


@pytest.mark.skipif(not kernel_available(), reason="the streamed kernel cannot be built here")
def test_a_shallower_trial_shares_the_deepest_ones_weights_and_runs_the_same_forward():
    """The trial at 2 layers is a cut of the one at 12: no weight of the layout built
    twice, and the forward the engine runs (lean-cpp), step for step the logits of a copy of
    the model cut to 2 layers on its own."""
    model = deep_model()
    ids = torch.randint(0, 64, (1, layout_choice.CHOICE_CONTEXT + 8))
    with torch.no_grad():
        trials = layout_choice._prepared(model, "streamed", ids, (2, 12))
        alone = layout_choice._prepared(model, "streamed", ids, (2,))[2]
        for forward, _ in trials.values():
            assert getattr(forward, "kind", None) == "lean-cpp"
        shallow, deep = (forward.model for forward, _ in (trials[2], trials[12]))
        assert len(shallow.model.layers) == 2 and shallow.config.num_hidden_layers == 2
        assert deep.config.num_hidden_layers == 12
        held = {id(t) for t in (*deep.parameters(), *deep.buffers())}
        assert all(id(t) in held for t in (*shallow.parameters(), *shallow.buffers()))
        step = ids[:, layout_choice.CHOICE_CONTEXT :][:, :4]
        assert torch.equal(trials[2][0](step, trials[2][1]), alone[0](step, alone[1]))


def test_negative_control_a_cut_before_the_layout_would_be_seen():
    """Cut first, then laid out: the layers read another config than the model's, whose
    attention the layout changed, and the lean forward fails its load-time check."""
    if not kernel_available():
        pytest.skip("the streamed kernel cannot be built here")
    from samdec.runtime.forward import lean_forward

    shorter = layout_choice.cut(sharing_copy(deep_model()), 2)
    layout_choice.apply_layout(shorter, "streamed")
    assert lean_forward(shorter) is None


def test_costs_are_drawn_out_to_the_whole_depth_along_a_line():
    assert layout_choice.at_depth({2: 5.0, 12: 15.0}, 30) == pytest.approx(33.0)
    assert layout_choice.at_depth({12: 15.0, 2: 5.0}, 2) == pytest.approx(5.0)
    assert layout_choice.at_depth({30: 7.0}, 30) == 7.0
    assert layout_choice.trial_depths(30) == layout_choice.TRIAL_DEPTHS
    assert layout_choice.trial_depths(4) == (4,)
