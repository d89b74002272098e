"""The front-door losses: the decorrelation penalty's estimate of what a linear probe reads."""

import pytest
import torch

from skcausalmm.frontdoor.losses import _decorrelation_loss


def test_decorrelation_penalty_measures_within_class_correlation():
    g = torch.Generator().manual_seed(0)
    n = 4000
    y = torch.randint(0, 3, (n,), generator=g)
    target = torch.randn(n, 2, generator=g) + y[:, None].float()  # the auxiliary input depends on the label
    independent = torch.randn(n, 4, generator=g)
    label_only = torch.randn(n, 4, generator=g) * 0.1 + y[:, None].float()
    leaky = torch.cat([target + 0.1 * torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g)], 1)

    def penalty(m, conditional):
        return float(_decorrelation_loss(
            {"mediator": m, "adversary_target": target, "decorrelation_conditional": conditional}, y))

    assert penalty(independent, False) < 0.01 and penalty(independent, True) < 0.01
    assert penalty(label_only, False) > 0.1  # correlated through the label ...
    assert penalty(label_only, True) < 0.01  # ... but says nothing beyond it
    assert penalty(leaky, True) > 0.2
    assert penalty(10.0 * leaky, True) == pytest.approx(penalty(leaky, True), rel=1e-4)  # scale-free
    shuffle = torch.eye(4)[[2, 0, 3, 1]] * torch.tensor([1.0, 3.0, 0.5, 2.0])
    assert penalty(leaky @ shuffle, True) == pytest.approx(penalty(leaky, True), rel=1e-3)  # units' order and scales


def test_decorrelation_penalty_sees_a_leak_spread_over_units():
    """Each unit barely correlates with the auxiliary input, their difference perfectly:
    a linear probe of m reads the leak, so the penalty must see it (a per-unit penalty does not)."""
    g = torch.Generator().manual_seed(1)
    n = 4000
    y = torch.zeros(n, dtype=torch.long)
    auxiliary = torch.randn(n, 1, generator=g)
    content = 6.0 * torch.randn(n, 1, generator=g)
    spread = torch.cat([content + auxiliary, content, torch.randn(n, 2, generator=g)], 1)
    clean = torch.cat([content, torch.randn(n, 3, generator=g)], 1)
    per_unit = float((((spread - spread.mean(0)) / spread.std(0)).T @ ((auxiliary - auxiliary.mean()) / auxiliary.std()) / n).pow(2).sum(1).mean())
    assert per_unit < 0.01  # what a per-unit penalty sees

    def penalty(m):
        return float(_decorrelation_loss(
            {"mediator": m, "adversary_target": auxiliary, "decorrelation_conditional": False}, y))

    assert penalty(spread) > 0.05 and penalty(spread) > 10 * per_unit and penalty(clean) < 0.01


@pytest.mark.parametrize("n_rows, n_columns", [(256, 40), (64, 600)])
def test_decorrelation_penalty_with_collinear_and_many_auxiliary_columns(n_rows, n_columns):
    g = torch.Generator().manual_seed(2)
    target = torch.randn(n_rows, n_columns, generator=g)
    target[:, 1] = target[:, 0]  # collinear columns, as one-hot blocks are
    y = torch.randint(0, 3, (n_rows,), generator=g)
    independent = torch.randn(n_rows, 8, generator=g, requires_grad=True)
    leaky = torch.cat([target[:, :4], torch.randn(n_rows, 4, generator=g)], 1).requires_grad_(True)
    for conditional in (False, True):
        values = {}
        for name, m in (("independent", independent), ("leaky", leaky)):
            loss = _decorrelation_loss({"mediator": m, "adversary_target": target, "decorrelation_conditional": conditional}, y)
            (grad,) = torch.autograd.grad(loss, m)
            assert torch.isfinite(loss) and torch.isfinite(grad).all()
            values[name] = float(loss.detach())
        assert values["independent"] >= 0
        if n_columns < n_rows:  # with more columns than rows chance correlations swamp the leak
            assert values["leaky"] > 3 * values["independent"]
