"""The streamed layout: the same linear map, each output one vector accumulator of fused
multiply-adds in k order and one horizontal sum, so a row's result cannot depend on the rows
beside it; weights that are de-quantised codes read as their codes, with the same bits."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from samdec.runtime import coded as streaming
from samdec.runtime.coded import (
    STREAM_ROWS,
    chunked_rows,
    find_codes,
    pack_weight,
    rows_times_weight,
    set_chunked_rows,
)
from samdec.runtime.layouts import PackedMLP, PackedQKV, StreamedLinear, apply_layout
from samdec.runtime.native import available as streamed_available
from samdec.runtime.native import kernel
from tests.conftest import tiny_model

pytestmark = pytest.mark.skipif(
    not streamed_available(),
    reason="the streamed kernel cannot be built here (AVX-512, a C++ compiler)",
)


def test_a_row_computes_the_same_bits_whatever_rows_share_the_call():
    torch.manual_seed(0)
    linear = nn.Linear(576, 96, bias=False)
    streamed = StreamedLinear(linear)
    x = torch.randn(STREAM_ROWS, 576)
    with torch.no_grad():
        alone = torch.cat([streamed(x[i : i + 1]) for i in range(STREAM_ROWS)])
        for rows in (*range(2, 10), 16, 33, 129, STREAM_ROWS):  # every tile shape
            assert torch.equal(streamed(x[:rows]), alone[:rows]), rows


def test_shapes_off_the_kernels_units_are_padded_not_refused():
    """50 inputs and 37 outputs: neither a multiple of the kernel's 16-wide pieces."""
    torch.manual_seed(4)
    linear = nn.Linear(50, 37)
    streamed = StreamedLinear(linear)
    x = torch.randn(9, 50)
    with torch.no_grad():
        together = streamed(x)
        assert together.shape == (9, 37)
        assert torch.allclose(together, linear(x), atol=1e-5, rtol=1e-5)
        for i in range(9):
            assert torch.equal(streamed(x[i : i + 1]), together[i : i + 1]), i


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 8, STREAM_ROWS + 5])  # the last: a long prompt's
def test_a_streamed_linear_computes_the_linear_map(bias, rows):
    torch.manual_seed(rows)
    linear = nn.Linear(64, 96, bias=bias)
    streamed = StreamedLinear(linear)
    x = torch.randn(1, rows, 64)
    with torch.no_grad():
        assert torch.allclose(streamed(x), linear(x), atol=1e-5, rtol=1e-5)
    assert streamed.weight.shape == linear.weight.shape


def test_stacked_linears_answer_each_one_side_by_side():
    torch.manual_seed(1)
    a, b = nn.Linear(32, 40), nn.Linear(32, 24)
    x = torch.randn(3, 32)
    with torch.no_grad():
        both = StreamedLinear(a, b)(x)
        assert torch.allclose(both, torch.cat([a(x), b(x)], -1), atol=1e-5)


def test_a_model_in_the_streamed_layout_fuses_and_agrees_with_stock():
    loaded = tiny_model("llama", vocab=64, seed=3)
    ids = torch.tensor([[1, 5, 9, 2, 7]])
    with torch.no_grad():
        before = loaded.model(input_ids=ids).logits
        apply_layout(loaded.model, "streamed")
        after = loaded.model(input_ids=ids).logits
    modules = list(loaded.model.modules())
    assert not any(type(m) is nn.Linear for m in modules)
    assert any(isinstance(m, PackedMLP) and isinstance(m.gate_up, StreamedLinear) for m in modules)
    assert any(isinstance(m, PackedQKV) and isinstance(m.qkv, StreamedLinear) for m in modules)
    assert torch.allclose(before, after, atol=1e-4)


def test_threads_calling_at_once_each_get_their_own_answer():
    torch.manual_seed(2)
    streamed = StreamedLinear(nn.Linear(256, 512, bias=False))
    inputs = [torch.randn(4, 256) for _ in range(4)]
    with torch.no_grad():
        expected = [streamed(x) for x in inputs]
    wrong: list[int] = []

    def work(i: int) -> None:
        for _ in range(50):
            with torch.no_grad():
                if not torch.equal(streamed(inputs[i]), expected[i]):
                    wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


def test_the_streamed_layout_refuses_weights_it_does_not_compute():
    loaded = tiny_model("llama", vocab=64, seed=3)
    loaded.model.to(torch.bfloat16)
    with pytest.raises(ValueError, match="float32 on a CPU"):
        apply_layout(loaded.model, "streamed")


def _fp16_steps(shape, generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 0.02 + 1e-4).half().float()


def quantised(rows: int, columns: int, kind: str, seed: int = 0) -> torch.Tensor:
    """A float32 weight as a GGUF de-quantiser writes it: per row and BLOCK columns (the
    kernel's BLOCK), Q4_1's code * step + offset (codes 0..15), or Q8_0's code * step (codes
    -127..127); each block holds its extreme codes, as a quantiser's blocks do."""
    block = kernel().BLOCK
    g = torch.Generator().manual_seed(seed)
    blocks = (rows, columns // block)
    step = _fp16_steps(blocks, g)
    if kind == "q4_1":
        codes = torch.randint(0, 16, (*blocks, block), generator=g)
        codes[..., 0], codes[..., 1] = 0, 15
        offset = (torch.randn(blocks, generator=g) * 0.05).half().float()
        weight = codes.float() * step.unsqueeze(-1) + offset.unsqueeze(-1)
    else:
        codes = torch.randint(-127, 128, (*blocks, block), generator=g)
        codes[..., 0] = 127 * torch.where(torch.rand(blocks, generator=g) < 0.5, 1, -1)
        weight = codes.float() * step.unsqueeze(-1)
    return weight.reshape(rows, columns)


def coded_linear(rows: int, columns: int, kind: str, seed: int = 0) -> nn.Linear:
    linear = nn.Linear(columns, rows, bias=False)
    with torch.no_grad():
        linear.weight.copy_(quantised(rows, columns, kind, seed))
    return linear


@pytest.mark.parametrize("kind", ["q4_1", "q8_0"])
def test_quantised_weights_read_as_codes_compute_the_float32_kernels_bits(kind):
    linear = coded_linear(40, 96, kind, seed=5)
    streamed = StreamedLinear(linear)
    assert streamed.coded and streamed.code_bits == {"q4_1": 4, "q8_0": 8}[kind]
    floats = pack_weight(linear.weight)  # the same kernel reading the float32 weights
    x = torch.randn(STREAM_ROWS + 5, 96, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        for rows in (1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 33):
            expected = rows_times_weight(x[:rows], floats, 40)
            assert torch.equal(streamed(x[:rows]), expected), rows
        # A long prompt's rows, several of the kernel's row blocks, too.
        assert torch.equal(streamed(x), rows_times_weight(x, floats, 40))


def test_coded_rows_compute_the_same_bits_whatever_rows_share_the_call():
    streamed = StreamedLinear(coded_linear(48, 64, "q4_1", seed=7))
    x = torch.randn(STREAM_ROWS, 64, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        alone = torch.cat([streamed(x[i : i + 1]) for i in range(STREAM_ROWS)])
        for rows in (*range(2, 10), 16, 33, 129, STREAM_ROWS):  # every tile shape
            assert torch.equal(streamed(x[:rows]), alone[:rows]), rows


def test_a_weight_of_both_codings_is_found_block_by_block():
    """Rows of Q4_1's coding and rows of Q8_0's in one weight: no single guess fits every
    block, so each block keeps the guess that decodes to its bits (the search's slow path)."""
    weight = torch.cat([quantised(16, 64, "q4_1", seed=3), quantised(16, 64, "q8_0", seed=4)])
    found = find_codes(weight)
    assert found is not None
    codes, steps, offsets = found
    block = kernel().BLOCK
    decoded = codes.float().reshape(32, -1, block) * steps.unsqueeze(-1) + offsets.unsqueeze(-1)
    assert torch.equal(decoded.reshape(32, 64).view(torch.int32), weight.view(torch.int32))
    assert int(codes[:16].max()) < 16 < int(codes[16:].max())  # each half its own coding


@pytest.mark.parametrize(
    "spoil",
    [
        "one weight one float32 step off",  # a weight no step and offset decode to
        "steps kept in float32",  # another format's codes: not ones samdec can find
        "not quantised at all",
    ],
)
def test_weights_that_are_not_codes_stay_float32(spoil):
    weight = quantised(32, 64, "q4_1", seed=9)
    if spoil == "one weight one float32 step off":
        weight[3, 17] = torch.nextafter(weight[3, 17], torch.tensor(1.0))
    elif spoil == "steps kept in float32":
        g = torch.Generator().manual_seed(9)
        block = kernel().BLOCK
        blocks = (32, 64 // block)
        step = torch.rand(blocks, generator=g) * 0.02 + 1e-4  # not rounded to float16
        codes = torch.randint(0, 16, (*blocks, block), generator=g)
        codes[..., 0], codes[..., 1] = 0, 15
        weight = (codes.float() * step.unsqueeze(-1)).reshape(32, 64)
    else:
        weight = torch.randn(32, 64, generator=torch.Generator().manual_seed(9))
    assert find_codes(weight) is None
    linear = nn.Linear(64, 32, bias=False)
    with torch.no_grad():
        linear.weight.copy_(weight)
    streamed = StreamedLinear(linear)
    assert not streamed.coded
    x = torch.randn(3, 64)
    with torch.no_grad():
        assert torch.allclose(streamed(x), linear(x), atol=1e-5, rtol=1e-5)


def test_the_bundled_models_weights_are_codes_bit_for_bit():
    """The bundled GGUF: Q4_1 linear layers, a Q8_0 embedding (the output layer's weights)."""
    from samdec.runtime.loading import load_model

    model = load_model(layout="stock").model
    layer = model.model.layers[0]
    for weight in (layer.self_attn.q_proj.weight, layer.mlp.down_proj.weight, model.lm_head.weight):
        found = find_codes(weight)
        assert found is not None
        codes, steps, offsets = found
        blocks = codes.reshape(weight.shape[0], -1, kernel().BLOCK).float()
        decoded = (blocks * steps.unsqueeze(-1) + offsets.unsqueeze(-1)).reshape(weight.shape)
        assert torch.equal(decoded.view(torch.int32), weight.detach().view(torch.int32))
        # The kernel decodes with one fused multiply-add: the same bits, because a float16
        # step times a code is exact in float32 (streamed.cpp, `Codes`).
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            linear.weight.copy_(weight)
            streamed = StreamedLinear(linear)
            assert streamed.coded
            x = torch.randn(5, weight.shape[1], generator=torch.Generator().manual_seed(10))
            floats = rows_times_weight(x, pack_weight(weight), weight.shape[0])
            assert torch.equal(streamed(x), floats)


@pytest.fixture
def chunking_restored():
    """Whatever a test sets, the kernel's chunking afterwards is what it was."""
    before = chunked_rows()
    yield
    set_chunked_rows(before)


def test_columns_in_chunks_or_whole_compute_the_same_bits(chunking_restored):
    """Chunks are the machine's choice (`tune_chunking`), never the arithmetic's: a row's
    accumulators only wait in memory between chunks."""
    x = torch.randn(16, 576, generator=torch.Generator().manual_seed(11))  # 576: 5 chunks
    floats = nn.Linear(576, 48, bias=False)
    for linear in (floats, coded_linear(48, 576, "q4_1", seed=12), coded_linear(32, 576, "q8_0")):
        streamed = StreamedLinear(linear)
        with torch.no_grad():
            results = {}
            for setting in (kernel().TUNED_ROWS, (), (3, 8)):
                set_chunked_rows(setting)
                assert chunked_rows() == setting
                results[setting] = [streamed(x[:rows]) for rows in (*range(1, 10), 16)]
        chunks, whole, mixed = results.values()
        for a, b, c in zip(chunks, whole, mixed, strict=True):
            assert torch.equal(a, b) and torch.equal(a, c)
    # The comparison has teeth: chunks summed on their own and then added (a plausible bug)
    # give other bits.
    with torch.no_grad():
        weight = floats.weight
        parts = sum(x[:, k : k + 128] @ weight[:, k : k + 128].T for k in range(0, 576, 128))
        assert not torch.equal(parts, results[()][-1])
    with pytest.raises(RuntimeError, match="row counts"):
        set_chunked_rows([1])


def test_the_chunking_is_measured_once_and_remembered(monkeypatch, tmp_path, chunking_restored):
    monkeypatch.setenv("SAMDEC_CACHE", str(tmp_path))
    measured = []

    def costs():  # chunks cheaper for 2 rows only
        measured.append(1)
        return {rows: {"chunks": 1.0 + (rows > 2), "whole": 1.5} for rows in kernel().TUNED_ROWS}

    monkeypatch.setattr(streaming, "chunking_costs", costs)
    tune = streaming.tune_chunking.__wrapped__  # past the once-a-process cache
    assert tune() == (2,) and chunked_rows() == (2,)
    set_chunked_rows(kernel().TUNED_ROWS)
    assert tune() == (2,) and chunked_rows() == (2,) and len(measured) == 1  # read back
    (path,) = (tmp_path / "chunking").iterdir()
    path.write_text('{"chunked_rows": [1]}', encoding="utf-8")  # damaged: measured again
    assert tune() == (2,) and len(measured) == 2


def test_chunking_costs_time_both_settings_and_leave_the_kernel_as_it_was(chunking_restored):
    set_chunked_rows((4,))
    costs = streaming.chunking_costs(rounds=1)
    assert set(costs) == set(kernel().TUNED_ROWS)
    assert all(ms["chunks"] > 0 and ms["whole"] > 0 for ms in costs.values())
    assert chunked_rows() == (4,)
