"""On a GPU nothing is built or tried for the CPU: no AVX-512 kernel, no streamed or packed
layout, no kernel tuning, no layout timing; the stock layout, and the doctor says so.

There is no GPU here: torch is told it has one (torch.cuda.is_available) and a model's move to
"cuda" keeps it where it is, so what runs is the CPU code the load would run for a GPU, with
every CPU-only stage made to fail the test if it is reached.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samdec import doctor
from samdec.runtime import attention, coded, forward, layout_choice, loading, native
from samdec.runtime.layouts import PackedQKV, apply_layout
from tests.conftest import tiny_model


class Reached(AssertionError):
    """A CPU-only stage ran on the GPU path."""


@pytest.fixture
def cpu_stages(monkeypatch):
    """Every CPU-only stage, recording (and refusing) a call: the kernel's build, the
    layout timing, the kernel's tuning."""
    reached: list[str] = []

    def refuse(name):
        def stage(*args, **kwargs):
            reached.append(name)
            raise Reached(f"{name} ran on the GPU path")

        return stage

    for module in (native, forward, coded, attention):
        monkeypatch.setattr(module, "kernel", refuse("kernel build"))
    monkeypatch.setattr(layout_choice, "layout_costs", refuse("layout timing"))
    monkeypatch.setattr(loading, "choose_layout", refuse("layout choice"))
    monkeypatch.setattr(coded, "tune_chunking", refuse("kernel tuning"))
    return reached


@pytest.fixture
def pretend_cuda(monkeypatch):
    """torch says it has a GPU (bfloat16 capable); moving a model to it keeps it here."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "pretended GPU")
    move = nn.Module.to

    def to(self, *args, **kwargs):
        target = args[0] if args else kwargs.get("device")
        return self if str(target).startswith("cuda") else move(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "to", to)


@pytest.fixture
def tiny_folder(tmp_path):
    """A tiny random llama saved as a model folder, with a word-level tokenizer of its own."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder = tmp_path / "tiny"
    tiny_model("llama", vocab=64, seed=3).model.save_pretrained(folder)
    words = Tokenizer(models.WordLevel({f"w{i}": i for i in range(64)}, unk_token="w0"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=words, unk_token="w0").save_pretrained(folder)
    return folder


def test_a_gpu_load_runs_stock_and_builds_nothing_for_the_cpu(
    pretend_cuda, cpu_stages, tiny_folder
):
    loaded = loading.load_model(str(tiny_folder))  # device auto: the (pretended) GPU
    assert (loaded.device, loaded.dtype, loaded.layout) == ("cuda", "bfloat16", "stock")
    loaded_fp32 = loading.load_model(str(tiny_folder), device="cuda", dtype="float32")
    assert loaded_fp32.layout == "stock"  # float32 on a GPU is not timed either
    for model in (loaded, loaded_fp32):
        assert model.forward_kind in ("lean", "transformers")  # never the C++ layers
        assert not any(isinstance(m, PackedQKV) for m in model.model.modules())
    assert cpu_stages == []


def test_the_cpu_layouts_refuse_a_model_off_the_cpu_with_a_message(cpu_stages):
    model = tiny_model("llama", vocab=64, seed=3).model.to("meta")  # not on a CPU
    for layout in ("streamed", "packed"):
        with pytest.raises(ValueError, match="CPU only"):
            apply_layout(model, layout)
    assert cpu_stages == []


def test_the_doctor_says_nothing_is_built_for_the_cpu_on_a_gpu(
    pretend_cuda, cpu_stages, tiny_folder
):
    facts = doctor.report(str(tiny_folder))
    assert facts["native kernels"].startswith("not built: the model runs on cuda")
    assert facts["layout"].startswith("stock (") and "no CPU layout" in facts["layout"]
    assert cpu_stages == []


def test_negative_control_a_cpu_load_reaches_the_cpu_stages(cpu_stages, tiny_folder):
    """The same load on the CPU does reach them: the fixture would catch a GPU path that did."""
    with pytest.raises(Reached):
        loading.load_model(str(tiny_folder), device="cpu")
    assert cpu_stages == ["layout choice"]
    with pytest.raises(Reached):
        doctor.kernel_fact("cpu")
    assert cpu_stages[-1] == "kernel build"
