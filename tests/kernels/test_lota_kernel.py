"""The fused LoTA-QAF kernel: nvcc compiles it on every run (so it cannot rot), the torch reference agrees with
the quantized layers, and on a GPU the kernel agrees with the reference."""

import shutil
import subprocess

import pytest
import torch

from arx.methods.quantization import QuantLinear, TernaryLinear, quantize_rtn
from arx.methods.quantization.kernel import KERNEL_SOURCE, kernel_available, lota_gemv, lota_gemv_reference, pack_layer

NVCC = shutil.which("nvcc")


@pytest.mark.skipif(NVCC is None, reason="nvcc not on PATH: the CUDA source is not compiled in this run")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_kernel_source_compiles_with_nvcc(tmp_path, arch):
    out = tmp_path / "lota.o"
    proc = subprocess.run([NVCC, "-std=c++17", f"-arch={arch}", "-Werror", "all-warnings", "-c", str(KERNEL_SOURCE),
                           "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.stat().st_size > 0
    syms = subprocess.run(["nm", str(out)], capture_output=True, text=True).stdout if shutil.which("nm") else ""
    if syms:
        for name in ("lota_gemv_ternary_b1", "lota_gemv_merged_b16"):
            assert name in syms


def adapted_layer(d_out=48, d_in=128, group_size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = QuantLinear(quantize_rtn(torch.randn(d_out, d_in, generator=g), 4, group_size))
    layer = TernaryLinear(base, rank=8, omega=2.0, generator=g)
    with torch.no_grad():
        layer.B.copy_(torch.randint(-1, 2, layer.B.shape, generator=g).float())
    return layer


def test_reference_matches_the_adapted_and_merged_layers():
    layer = adapted_layer()
    x = torch.randn(3, 128).half()
    with torch.no_grad():
        want_unmerged = layer(x.float())
        merged = layer.merged()
        want_merged = merged(x.float())
    got_unmerged = lota_gemv_reference(x, pack_layer(layer))
    got_merged = lota_gemv_reference(x, pack_layer(merged))
    scale = want_unmerged.abs().max()
    # fp16 storage of scales and of the folded zero point z - zp is the only difference
    assert float((got_unmerged - want_unmerged).abs().max() / scale) < 5e-3
    assert float((got_merged - got_unmerged).abs().max() / scale) < 1e-5
    assert torch.equal(want_unmerged, want_merged)


def test_pack_layer_rejects_unsupported_layouts():
    with pytest.raises(ValueError, match="int4"):
        pack_layer(QuantLinear(quantize_rtn(torch.randn(4, 32), 3, 16)))
    with pytest.raises(ValueError, match="group_size % 16"):
        pack_layer(QuantLinear(quantize_rtn(torch.randn(4, 32), 4, 8)))
    with pytest.raises(TypeError, match="QuantLinear or TernaryLinear"):
        pack_layer(torch.nn.Linear(4, 4))


@pytest.mark.gpu
@pytest.mark.skipif(not kernel_available(), reason="needs a CUDA device and CuPy")
@pytest.mark.parametrize("batch", [1, 3, 8, 16])
@pytest.mark.parametrize("merged", [False, True])
def test_kernel_matches_reference_on_gpu(batch, merged):
    layer = adapted_layer(d_out=200, d_in=512, group_size=64, seed=batch)
    packed = pack_layer(layer.merged() if merged else layer).to("cuda")
    x = torch.randn(batch, 512, generator=torch.Generator().manual_seed(1)).half().cuda()
    got = lota_gemv(x, packed)
    want = lota_gemv_reference(x, packed)
    assert float((got - want).abs().max() / want.abs().max()) <= 1e-3


def test_kernel_word_layout_decodes_to_the_packed_codes():
    """Emulate the kernel's reads on CPU: uint32 little-endian words, 8 int4 codes per word at bits 4j, 16 ternary
    codes per word at bits 2j, one chunk of 16 inputs = two int4 words + one ternary word."""
    layer = adapted_layer(d_out=5, d_in=64, group_size=16)
    packed = pack_layer(layer)
    with torch.no_grad():
        delta, _ = layer.offsets()
    qw = packed.q.view(torch.int32).long() & 0xFFFFFFFF  # [N, K/8] words, as the kernel reads them
    tw = packed.t.view(torch.int32).long() & 0xFFFFFFFF  # [N, K/16]
    j8, j16 = torch.arange(8), torch.arange(16)
    q = ((qw[..., None] >> (4 * j8)) & 15).reshape(5, 64)
    t = ((tw[..., None] >> (2 * j16)) & 3).reshape(5, 64) - 1
    assert torch.equal(q, layer.base.q.long())
    assert torch.equal(t, delta.long())
