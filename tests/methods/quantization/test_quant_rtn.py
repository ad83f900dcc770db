"""RTN quantization: round-trip bound, grid edges, packing, bad inputs."""

import pytest
import torch

from arx.methods.quantization.rtn import (
    dequantize,
    expand_groups,
    pack_bits,
    pack_ternary,
    quantize_rtn,
    unpack_bits,
    unpack_ternary,
)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [8, 32])
def test_round_trip_error_at_most_half_a_step(bits, group_size):
    w = torch.randn(24, 64, generator=torch.Generator().manual_seed(bits)) * 0.3
    qw = quantize_rtn(w, bits, group_size)
    assert qw.q.dtype == torch.uint8 and int(qw.q.max()) <= 2**bits - 1
    assert torch.equal(qw.zeros, qw.zeros.round()) and int(qw.zeros.max()) <= 2**bits - 1
    err = (qw.dequantize() - w).abs()
    bound = expand_groups(qw.scales, group_size) / 2
    assert bool((err <= bound * (1 + 1e-5) + 1e-7).all()), float((err - bound).max())
    # more bits, smaller error: the bound is not vacuous
    assert float(err.max()) > 0


def test_grid_edges_clamp_and_extremes_are_exact():
    w = torch.tensor([[-1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0, -2.0]])
    qw = quantize_rtn(w, 4, 8)
    assert int(qw.q.min()) == 0 and int(qw.q.max()) == 15  # group min/max land on the grid edges
    # a weight beyond the grid (same scales/zeros) clamps to the edge instead of wrapping around
    big = w.clone()
    big[0, 6] = 100.0
    q_big = torch.clamp(torch.round(big / qw.scales[0, 0]) + qw.zeros[0, 0], 0, 15)
    assert int(q_big[0, 6]) == 15
    deq = qw.dequantize()
    assert torch.allclose(deq[0, 6], torch.tensor(3.0), atol=float(qw.scales[0, 0]) / 2)
    assert torch.allclose(deq[0, 2], torch.tensor(0.0))  # zero is exactly representable


def test_constant_group_does_not_divide_by_zero():
    qw = quantize_rtn(torch.zeros(2, 16), 4, 16)
    assert torch.isfinite(qw.scales).all() and torch.equal(qw.dequantize(), torch.zeros(2, 16))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_pack_unpack_round_trip(bits):
    codes = torch.randint(0, 2**bits, (5, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    packed = pack_bits(codes, bits)
    assert packed.shape == (5, 32 * bits // 8) and packed.dtype == torch.uint8
    assert torch.equal(unpack_bits(packed, bits), codes)


def test_pack_int4_byte_order_is_low_nibble_first():
    assert pack_bits(torch.tensor([[1, 2]], dtype=torch.uint8), 4).item() == 0x21


def test_pack_ternary_round_trip_and_codes():
    delta = torch.tensor([[-1, 0, 1, 1, 0, -1, 0, 0]])
    packed = pack_ternary(delta)
    assert packed.shape == (1, 2)
    assert packed[0, 0].item() == (0 | 1 << 2 | 2 << 4 | 2 << 6)
    assert torch.equal(unpack_ternary(packed), delta.to(torch.int8))


def test_dequantize_with_offset_factor_matches_formula():
    qw = quantize_rtn(torch.randn(4, 16), 4, 8)
    zp = torch.full_like(qw.zeros, 0.25)
    expected = expand_groups(qw.scales, 8) * (qw.q.float() - expand_groups(qw.zeros - 0.25, 8))
    assert torch.allclose(dequantize(qw.q, qw.scales, qw.zeros, 8, zp=zp), expected, atol=1e-6)


@pytest.mark.parametrize("bits", [1, 5, 16])
def test_unsupported_bits_is_a_clear_error(bits):
    with pytest.raises(ValueError, match="unsupported bit width"):
        quantize_rtn(torch.randn(4, 16), bits, 8)


def test_group_size_not_dividing_is_a_clear_error():
    with pytest.raises(ValueError, match="group_size=24 does not divide the input dimension d_in=64"):
        quantize_rtn(torch.randn(4, 64), 4, 24)


def test_pack_rejects_out_of_range_and_3_bit():
    with pytest.raises(ValueError, match="out of range"):
        pack_bits(torch.tensor([[16, 0]]), 4)
    with pytest.raises(ValueError, match="3-bit"):
        pack_bits(torch.zeros(1, 8, dtype=torch.uint8), 3)
    with pytest.raises(ValueError, match=r"\{-1, 0, 1\}"):
        pack_ternary(torch.tensor([[2, 0, 0, 0]]))
