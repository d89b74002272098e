"""Late fusion: the network's additive logits, the absent embedding, the auxiliary heads."""

import numpy as np
import torch

from skcausalmm import LateFusionClassifier
from skcausalmm.fusion.network import LateFusionNetwork, share_logits
from skcausalmm.nn.encoders import EncoderFactory

from ..helpers import FAST, make_data


def _network(**kwargs):
    torch.manual_seed(0)
    factory = EncoderFactory({"a": (3,), "b": (1, 4, 4)}, hidden_size=8)
    return LateFusionNetwork(factory, n_classes=3, **kwargs)


def test_logit_parts_sum_to_the_fused_logits():
    net = _network(handle_missing=True).eval()
    X = {"a": torch.randn(5, 3), "b": torch.randn(5, 1, 4, 4)}
    mask = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 1], [1, 0]], dtype=torch.float32)
    with torch.no_grad():
        for availability in (None, mask):
            parts = net.logit_parts(X, availability)
            torch.testing.assert_close(sum(parts.values()), net(X, availability)["logits"])
            torch.testing.assert_close(parts, share_logits(net.head, net.encode(X, availability), net.names))


def test_a_modality_missing_at_prediction_only_contributes_its_absent_embedding():
    net = _network(handle_missing=True).eval()
    X = {"a": torch.randn(4, 3), "b": torch.randn(4, 1, 4, 4)}
    mask = torch.tensor([[1.0, 0.0]] * 4)
    with torch.no_grad():
        part = net.logit_parts(X, mask)["b"]
    # the absent embedding starts at zero: the missing modality adds only its share of the bias
    torch.testing.assert_close(part, (net.head.bias / 2).expand(4, -1))


def test_auxiliary_weight_decides_whether_the_modality_heads_train_the_encoders():
    X, y = make_data()
    probes = LateFusionClassifier(**FAST).fit(X, y)
    assert probes.net_.module_.detach_modality_heads
    joint = LateFusionClassifier(auxiliary_weight=0.5, **FAST).fit(X, y)
    assert not joint.net_.module_.detach_modality_heads
    assert {"ce_image", "ce_tabular"} <= set(joint.history_[-1])
    for clf in (probes, joint):
        accuracies = [np.mean(clf.classes_[p.argmax(1)] == y) for p in clf.modality_proba(X).values()]
        assert min(accuracies) > 0.6


def test_prediction_path_is_the_softmax_of_the_training_logits_with_and_without_a_mask():
    X, y = make_data(n=50)
    clf = LateFusionClassifier(**FAST).fit(X, y)
    module = clf.net_.module_.eval()
    batch = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in X.items()}
    mask = torch.ones(50, 2)
    mask[:5, 1] = 0
    with torch.no_grad():
        for availability in (None, mask):
            torch.testing.assert_close(
                module.predict_proba(batch, availability=availability),
                torch.softmax(module(batch, availability=availability)["logits"], dim=1),
            )
    # the estimator's predictions: complete rows are predicted alike with or without missing rows beside them
    X_missing = {k: np.array(v, dtype=np.float64) for k, v in X.items()}
    X_missing["tabular"][:5] = np.nan
    np.testing.assert_allclose(clf.predict_proba(X_missing)[5:], clf.predict_proba(X)[5:], atol=1e-6)
