"""The shared absent embeddings of missing modalities."""

import pytest
import torch

from skcausalmm.nn.layers import absent_embeddings, fill_absent


def test_fill_absent_puts_the_absent_embedding_where_a_modality_is_missing():
    torch.manual_seed(0)
    absent = absent_embeddings({"a": 3, "b": 2}, ["a", "b"])
    assert all(float(p.abs().sum()) == 0.0 for p in absent.values())  # zeros at first
    with torch.no_grad():
        absent["a"].fill_(7.0)
    feats = {"a": torch.randn(4, 3), "b": torch.randn(4, 2)}
    present = {"a": torch.tensor([1.0, 0.0, 1.0, 0.0]), "b": torch.ones(4)}
    out = fill_absent(feats, absent, present)
    torch.testing.assert_close(out["a"][[0, 2]], feats["a"][[0, 2]])
    torch.testing.assert_close(out["a"][[1, 3]], torch.full((2, 3), 7.0))
    torch.testing.assert_close(out["b"], feats["b"])
    assert fill_absent(feats, absent, None) is feats
    with pytest.raises(ValueError, match="handle_missing=False"):
        fill_absent(feats, None, present, owner="This toy")
