"""The shared losses: the InfoNCE family (similarities, symmetric InfoNCE, the mean over pairs) and its critic."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from skcausalmm.contrastive.network import SymmetricInfoNCELoss
from skcausalmm.nn.losses import (
    cross_entropy,
    info_nce_from_logits,
    multimodal_info_nce,
    similarity_matrix,
    symmetric_info_nce,
)

GEOMETRIES = ["sphere", "box"]


def _pair(seed, n=16, d=4):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    b = a + 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return a, b


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 20), d=st.integers(1, 6), geometry=st.sampled_from(GEOMETRIES),
       temperature=st.floats(0.05, 5.0))
def test_symmetric_under_swapping_modalities(seed, n, d, geometry, temperature):
    a, b = _pair(seed, n, d)
    ab = symmetric_info_nce(a, b, temperature, geometry)
    ba = symmetric_info_nce(b, a, temperature, geometry)
    torch.testing.assert_close(ab, ba)
    # the two directed terms are different in general, their mean is what is symmetric
    _, (t1, t2) = symmetric_info_nce(a, b, temperature, geometry, return_terms=True)
    torch.testing.assert_close(0.5 * (t1 + t2), ab)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 20), d=st.integers(1, 6), temperature=st.floats(0.05, 5.0),
       tiny_row=st.booleans())
def test_sphere_loss_value_and_gradient_match_autograd_of_the_definition(seed, n, d, temperature, tiny_row):
    # the sphere's loss has its gradient written out: it must be the gradient of its definition,
    # including a row below the normalisation's floor (divided by the floor, not projected)
    a, b = _pair(seed, n, d)
    if tiny_row:
        a[0] *= 1e-12
    a.requires_grad_(True)
    b.requires_grad_(True)
    fused = symmetric_info_nce(a, b, temperature)
    reference = info_nce_from_logits(similarity_matrix(a, b) / temperature)
    torch.testing.assert_close(fused, reference)
    for got, want in zip(torch.autograd.grad(fused, (a, b)), torch.autograd.grad(reference, (a, b))):
        torch.testing.assert_close(got, want)
    if not tiny_row:  # finite differences would step over the floor's kink
        assert torch.autograd.gradcheck(lambda u, v: symmetric_info_nce(u, v, temperature), (a, b))


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("n", [2, 7, 64])
def test_constant_embeddings_give_log_n(geometry, n):
    a = torch.full((n, 3), 0.7, dtype=torch.float64)
    b = torch.full((n, 3), 0.7, dtype=torch.float64)
    assert float(symmetric_info_nce(a, b, 0.1, geometry)) == pytest.approx(math.log(n), abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 6))
def test_sphere_loss_invariant_to_common_rotation(seed, d):
    a, b = _pair(seed, 12, d)
    q = torch.as_tensor(ortho_group.rvs(d, random_state=seed), dtype=torch.float64)
    torch.testing.assert_close(symmetric_info_nce(a, b, 0.2), symmetric_info_nce(a @ q, b @ q, 0.2))


def test_box_loss_invariant_to_common_permutation_and_sign_flip_but_not_rotation():
    a, b = _pair(0, 12, 4)
    perm = torch.tensor([2, 0, 3, 1])
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    base = symmetric_info_nce(a, b, 1.0, "box")
    torch.testing.assert_close(base, symmetric_info_nce(a[:, perm] * signs, b[:, perm] * signs, 1.0, "box"))
    q = torch.as_tensor(ortho_group.rvs(4, random_state=1), dtype=torch.float64)
    assert abs(float(base - symmetric_info_nce(a @ q, b @ q, 1.0, "box"))) > 1e-4


def test_similarity_values():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(similarity_matrix(a, b, "sphere"), torch.tensor([[1.0, 2**-0.5], [0.0, 2**-0.5]]))
    torch.testing.assert_close(similarity_matrix(a, b, "box"), torch.tensor([[-2.0, -1.0], [-5.0, -2.0]]))


def test_aligned_pairs_have_lower_loss_than_shuffled():
    a, b = _pair(3, 32, 5)
    for geometry in GEOMETRIES:
        assert symmetric_info_nce(a, b, 0.5, geometry) < symmetric_info_nce(a, b[torch.randperm(32)], 0.5, geometry)


def test_bad_arguments():
    a = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="geometry"):
        symmetric_info_nce(a, a, 1.0, "torus")
    with pytest.raises(ValueError, match="temperature"):
        symmetric_info_nce(a, a, 0.0)
    with pytest.raises(ValueError, match="same shape"):
        symmetric_info_nce(a, torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least two"):
        multimodal_info_nce({"x": a})


def test_multimodal_loss_is_mean_over_pairs():
    a, b = _pair(1)
    c = b.flip(0)
    loss, pairs = multimodal_info_nce({"a": a, "b": b, "c": c}, 0.5)
    assert set(pairs) == {("a", "b"), ("a", "c"), ("b", "c")}
    expected = (symmetric_info_nce(a, b, 0.5) + symmetric_info_nce(a, c, 0.5) + symmetric_info_nce(b, c, 0.5)) / 3
    torch.testing.assert_close(loss, expected)
    crit = SymmetricInfoNCELoss(0.5)
    torch.testing.assert_close(crit({"embeddings": {"a": a, "b": b, "c": c}}), expected)
    assert set(crit.last_terms_) == {"infonce_a_b", "infonce_a_c", "infonce_b_c"}


def test_info_nce_from_logits_is_the_symmetric_loss_of_a_critic_matrix():
    a, b = _pair(2)
    logits = similarity_matrix(a, b) / 0.3
    torch.testing.assert_close(info_nce_from_logits(logits), symmetric_info_nce(a, b, 0.3))
    loss, (rows, columns) = info_nce_from_logits(logits, return_terms=True)
    torch.testing.assert_close(loss, 0.5 * (rows + columns))


# ----------------------------------------------------------------- missing modalities
def test_cross_entropy_over_present_rows_is_the_cross_entropy_of_those_rows():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    present = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    rows = present > 0
    weights, class_weight = torch.rand(6), torch.tensor([1.0, 2.0, 0.5])
    torch.testing.assert_close(cross_entropy(logits, y, present=present), cross_entropy(logits[rows], y[rows]))
    torch.testing.assert_close(
        cross_entropy(logits, y, class_weight, weights, present),
        cross_entropy(logits[rows], y[rows], class_weight, weights[rows]),
    )
    torch.testing.assert_close(cross_entropy(logits, y, present=torch.ones(6)), cross_entropy(logits, y))
    nobody = logits.clone().requires_grad_()
    loss = cross_entropy(nobody, y, present=torch.zeros(6))
    loss.backward()
    assert float(loss) == 0.0 and not nobody.grad.any()


def test_pairwise_info_nce_counts_the_rows_where_both_modalities_are_present():
    torch.manual_seed(0)
    emb = {m: torch.randn(8, 4) for m in "abc"}
    present = {"a": torch.ones(8), "b": torch.tensor([1.0] * 6 + [0.0] * 2), "c": torch.tensor([1.0] + [0.0] * 7)}
    loss, pairs = multimodal_info_nce(emb, present=present)
    assert set(pairs) == {("a", "b")}  # a pair with fewer than two common rows leaves the mean
    torch.testing.assert_close(pairs[("a", "b")], symmetric_info_nce(emb["a"][:6], emb["b"][:6]))
    torch.testing.assert_close(loss, pairs[("a", "b")])
    full, _ = multimodal_info_nce(emb, present={m: torch.ones(8) for m in emb})
    torch.testing.assert_close(full, multimodal_info_nce(emb)[0])
    empty, pairs = multimodal_info_nce(emb, present={m: torch.zeros(8) for m in emb})
    assert pairs == {} and float(empty) == 0.0


def test_sphere_loss_with_a_learned_temperature_or_an_empty_batch_takes_autograds_path():
    a, b = _pair(0, 8, 3)
    temperature = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(symmetric_info_nce(a, b, temperature), temperature)
    assert torch.isfinite(grad) and grad != 0
    assert torch.isnan(symmetric_info_nce(torch.zeros(0, 3), torch.zeros(0, 3), 0.5))
