"""What loading leaves resident: a layout that copies the weights lets the weights file's pages
go (samdec/runtime/memory.py), and a tensor's values never change for it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from samdec.runtime import layouts, memory

LINEAR_BYTES = 4 << 20  # at least this much of the folder's model is linear weights


def resident_bytes(path: Path) -> int:
    """Bytes of `path` resident in this process's mappings of it (summed over /proc's smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's first line
                inside = len(fields) >= 6 and fields[5] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1]) * 1024
    return total


@pytest.fixture
def wide_folder(tmp_path):
    """A small random llama, saved as safetensors, whose linear weights fill many pages."""
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
    )  # fmt: skip
    torch.manual_seed(0)
    folder = tmp_path / "wide"
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    # On disk, as loading.py's de-quantised cache is: the kernel keeps pages not yet written.
    with open(folder / "model.safetensors", "rb+") as written:
        os.fsync(written.fileno())
    return folder


def load(folder: Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    linears = sum(p.numel() * 4 for n, p in model.named_parameters() if "proj" in n)
    assert linears >= LINEAR_BYTES  # the fixture is what the test needs
    return model


def test_a_layout_lets_the_weights_file_go(wide_folder):
    model = load(wide_folder)
    file = wide_folder / "model.safetensors"
    layouts.apply_layout(model, "packed")
    # The embedding and the norms stay views of the file; every linear's pages went.
    assert resident_bytes(file) < LINEAR_BYTES / 8


def test_negative_control_pages_kept_would_be_seen(wide_folder, monkeypatch):
    monkeypatch.setattr(layouts, "page_out", lambda tensors: 0)  # what loading did before
    model = load(wide_folder)
    layouts.apply_layout(model, "packed")
    assert resident_bytes(wide_folder / "model.safetensors") >= LINEAR_BYTES


def test_pages_dropped_come_back_with_the_same_values(tmp_path):
    path = tmp_path / "floats.bin"
    values = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
    values.tofile(path)
    with open(path, "rb+") as written:
        os.fsync(written.fileno())
    mapped = torch.from_numpy(np.memmap(path, dtype=np.float32, mode="c"))
    before = mapped.clone()
    assert resident_bytes(path) >= values.nbytes * 0.9
    assert memory.page_out([mapped]) >= values.nbytes - 2 * 4096
    assert resident_bytes(path) < values.nbytes / 8
    assert torch.equal(mapped, before)  # read again from the file


def test_memory_of_the_process_itself_is_left_alone():
    own = torch.randn(1 << 20)
    before = own.clone()
    assert memory.page_out([own]) == 0
    assert torch.equal(own, before)


def mapped_floats(path: Path, seed: int) -> torch.Tensor:
    """A file of floats on disk, mapped and read once (so resident)."""
    values = np.random.default_rng(seed).standard_normal(1 << 18).astype(np.float32)
    values.tofile(path)
    with open(path, "rb+") as written:
        os.fsync(written.fileno())
    mapped = torch.from_numpy(np.memmap(path, dtype=np.float32, mode="c"))
    mapped.sum()
    return mapped


def test_a_file_mapped_after_the_last_look_is_still_found(tmp_path, monkeypatch):
    """page_out keeps the mappings it last read; a tensor outside them makes it look again."""
    looks = []
    read = memory.file_mappings
    monkeypatch.setattr(memory, "_files_seen", [])  # no ranges from earlier tests' mappings
    monkeypatch.setattr(memory, "file_mappings", lambda: looks.append(1) or read())
    first = mapped_floats(tmp_path / "first.bin", 1)
    assert memory.page_out([first]) > 0 and memory.page_out([first[: 1 << 17]]) > 0
    assert len(looks) == 1  # the second call found its span in what the first read
    second = mapped_floats(tmp_path / "second.bin", 2)  # mapped after that look
    assert memory.page_out([second]) > 0 and len(looks) == 2
    assert resident_bytes(tmp_path / "second.bin") < second.numel()  # under a quarter left
