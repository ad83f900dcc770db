"""t-SignSGD: schedule, exact quantile, single-step semantics and a toy problem with a known ternary answer."""

import pytest
import torch

from arx.methods.quantization.tsignsgd import TSignSGD, quantile, sigma_schedule


def test_quantile_matches_torch_quantile():
    x = torch.randn(1001, generator=torch.Generator().manual_seed(0))
    for q in (0.0, 0.5, 0.95, 0.999, 1.0):
        assert torch.allclose(quantile(x, q), torch.quantile(x, q))


def test_sigma_schedule_endpoints_and_phases():
    assert sigma_schedule(0, 100) == pytest.approx(0.95)
    assert sigma_schedule(80, 100) == pytest.approx(0.999)
    assert sigma_schedule(100, 100) == pytest.approx(0.9999)
    assert sigma_schedule(40, 100) == pytest.approx(0.95 + 0.5 * 0.049)


def test_one_step_moves_only_top_entries_by_one_level():
    p = torch.nn.Parameter(torch.zeros(100))
    p.grad = torch.linspace(-1, 1, 100)  # largest |g| at both ends
    opt = TSignSGD([p], total_steps=10, sigma0=0.95)
    opt.step()
    moved = p.detach() != 0
    # |g| > 0.95-quantile of |g|: the 4 largest magnitudes (2 ties at each end: -1, 1, -0.98, 0.98)
    assert int(moved.sum()) == 4
    assert p[0].item() == 1.0 and p[-1].item() == -1.0  # against the gradient sign
    p.grad = torch.full((100,), -5.0)  # all ties -> nothing exceeds the quantile
    opt.step()
    assert int((p.detach() != 0).sum()) == 4


def test_stays_ternary_under_repeated_pushes():
    p = torch.nn.Parameter(torch.ones(50))
    p.grad = -torch.linspace(0.1, 5, 50)
    opt = TSignSGD([p], total_steps=5)
    for _ in range(5):
        opt.step()
    assert set(p.detach().unique().tolist()) <= {-1.0, 0.0, 1.0}


def test_toy_problem_reaches_known_ternary_optimum():
    """min Σ w_i (θ_i − θ*_i)² over ternary θ, distinct weights w_i: the answer is θ = θ*."""
    g = torch.Generator().manual_seed(0)
    target = torch.randint(-1, 2, (400,), generator=g).float()
    weights = torch.rand(400, generator=g) + 0.5
    theta = torch.nn.Parameter(torch.zeros(400))
    opt = TSignSGD([theta], total_steps=60)
    for _ in range(60):
        opt.zero_grad()
        (weights * (theta - target) ** 2).sum().backward()
        opt.step()
    assert torch.equal(theta.detach(), target)


def test_rejects_non_ternary_parameters_and_bad_schedule():
    with pytest.raises(ValueError, match="ternary"):
        TSignSGD([torch.nn.Parameter(torch.tensor([0.5]))], total_steps=3)
    with pytest.raises(ValueError, match="sigma0 <= sigma1 <= sigma2"):
        TSignSGD([torch.nn.Parameter(torch.zeros(2))], total_steps=3, sigma0=0.99, sigma1=0.9)
    with pytest.raises(ValueError, match="total_steps"):
        TSignSGD([torch.nn.Parameter(torch.zeros(2))], total_steps=0)
