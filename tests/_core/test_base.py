"""The shared base: seeding, device, pickling, early stopping, callbacks, batching."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback

from skcausalmm import LateFusionClassifier
from skcausalmm._core.data import TensorBatchIterator, TensorDictDataset
from skcausalmm._core.device import resolve_device

from ..helpers import FAST, make_data


def test_seeding_gives_identical_predictions():
    X, y = make_data()
    p1 = LateFusionClassifier(**FAST).fit(X, y).predict_proba(X)
    p2 = LateFusionClassifier(**FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    p3 = LateFusionClassifier(**{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.allclose(p1, p3)


def test_device_auto_resolves_to_available_device():
    X, y = make_data(n=30)
    clf = LateFusionClassifier(max_epochs=1).fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert clf.device_ == expected and clf.device == "auto"
    assert next(clf.net_.module_.parameters()).device.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_pickle_roundtrip_and_clone():
    X, y = make_data()
    clf = LateFusionClassifier(**FAST).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf)
    assert not hasattr(fresh, "net_") and fresh.get_params() == clf.get_params()


def test_history_and_loss_terms_are_logged():
    X, y = make_data()
    clf = LateFusionClassifier(**FAST).fit(X, y)
    assert clf.n_epochs_ == 15 and len(clf.history_) == 15
    last = clf.history_[-1]
    for key in ("train_loss", "train_acc", "fused_ce", "ce_image", "ce_tabular", "dur"):
        assert key in last
    assert clf.history_[-1, "train_loss"] < clf.history_[0, "train_loss"]


def test_early_stopping_restores_best_weights():
    X, y = make_data(n=150)
    clf = LateFusionClassifier(early_stopping=True, n_iter_no_change=3, max_epochs=200, lr=5e-2, random_state=0).fit(X, y)
    valid = clf.history_[:, "valid_loss"]
    assert clf.n_epochs_ < 200, "early stopping never triggered"
    best = int(np.argmin(valid))
    assert clf.n_epochs_ == best + 1 + 3
    assert "valid_acc" in clf.history_[-1]
    # the restored weights reproduce the best epoch's validation loss, not the last epoch's
    valid_ds = clf.net_.train_split.keywords["valid_ds"]
    clf.net_.module_.eval()
    with torch.no_grad():
        restored = float(clf.net_.get_loss(clf.net_.infer(valid_ds.X), valid_ds.y))
    assert restored == pytest.approx(valid[best], rel=1e-4)
    assert restored != pytest.approx(valid[-1], rel=1e-4)


def test_early_stopping_split_is_stratified_and_checked():
    X, y = make_data(n=30)
    with pytest.raises(ValueError, match="validation split"):
        LateFusionClassifier(early_stopping=True, validation_fraction=0.05, max_epochs=1).fit(X, y)


def test_class_weight_changes_the_loss():
    X, y = make_data()
    plain = LateFusionClassifier(**FAST).fit(X, y)
    weighted = LateFusionClassifier(class_weight={0: 10.0, 1: 1.0, 2: 1.0}, **FAST).fit(X, y)
    assert weighted.net_.criterion_.class_weight[0] == pytest.approx(10.0)
    assert plain.net_.criterion_.class_weight is None
    balanced = LateFusionClassifier(class_weight="balanced", **FAST).fit(X, y)
    assert balanced.net_.criterion_.class_weight.shape == (3,)
    with pytest.raises(ValueError, match="not in y"):
        LateFusionClassifier(class_weight={7: 1.0}, max_epochs=1).fit(X, y)


class CountBatches(Callback):
    def initialize(self):
        self.n = 0
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        self.n += int(training)


def test_user_callbacks_are_used_and_not_mutated():
    X, y = make_data(n=100)
    cb = CountBatches().initialize()
    clf = LateFusionClassifier(callbacks=[("count", cb)], max_epochs=3, batch_size=32, random_state=0).fit(X, y)
    assert cb.n == 0  # the estimator parameter is deep-copied, never mutated
    assert dict(clf.net_.callbacks_)["count"].n == 3 * 4


def test_verbose_prints_an_epoch_table(capsys):
    X, y = make_data(n=40)
    LateFusionClassifier(max_epochs=2, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out


def test_tensor_batch_iterator_covers_every_sample_once():
    X = {"a": torch.arange(10).float()[:, None]}
    ds = TensorDictDataset(X, torch.arange(10))
    it = TensorBatchIterator(ds, batch_size=4, shuffle=True, seed=0)
    assert len(it) == 3
    epoch1 = torch.cat([yb for _, yb in it])
    epoch2 = torch.cat([yb for _, yb in it])
    assert sorted(epoch1.tolist()) == list(range(10)) and sorted(epoch2.tolist()) == list(range(10))
    assert epoch1.tolist() != epoch2.tolist()  # a new permutation each epoch
    xb, yb = next(iter(TensorBatchIterator(ds, batch_size=4)))
    assert torch.equal(xb["a"][:, 0].long(), yb) and yb.tolist() == [0, 1, 2, 3]


def test_prediction_does_not_depend_on_batch_composition():
    X, y = make_data(n=300)
    clf = LateFusionClassifier(max_epochs=2, random_state=0).fit(X, y)
    full = clf.predict_proba(X)
    parts = np.vstack([clf.predict_proba({k: v[i : i + 7] for k, v in X.items()}) for i in range(0, 300, 7)])
    np.testing.assert_array_equal(full, parts)


def test_zero_epochs_gives_an_untrained_but_usable_model():
    X, y = make_data(n=30)
    clf = LateFusionClassifier(max_epochs=0, random_state=0).fit(X, y)
    assert clf.n_epochs_ == 0 and clf.predict(X).shape == (30,)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_fit_and_cpu_unpickle(tmp_path):
    X, y = make_data()
    clf = LateFusionClassifier(device="cuda", **FAST).fit(X, y)
    assert clf.device_ == "cuda" and next(clf.net_.module_.parameters()).is_cuda
    cpu_proba = LateFusionClassifier(device="cpu", **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X), cpu_proba, atol=0.05)
    expected = clf.predict_proba(X)
    state = pickle.dumps(clf)
    # simulate a CPU-only machine: skorch maps CUDA tensors to the CPU when CUDA is unavailable
    import unittest.mock as mock

    with mock.patch("torch.cuda.is_available", return_value=False), pytest.warns(Warning):
        loaded = pickle.loads(state)
        assert next(loaded.net_.module_.parameters()).device.type == "cpu"
        assert loaded.device_ == "cpu"
        np.testing.assert_allclose(loaded.predict_proba(X), expected, atol=1e-5)


def test_hidden_size_has_an_upper_bound():
    import numpy as np
    import pytest

    from skcausalmm import LateFusionClassifier

    X = {"a": np.zeros((10, 2), dtype=np.float32)}
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="hidden_size"):
        LateFusionClassifier(hidden_size=10**6).fit(X, y)


def test_fits_in_threads_give_the_sequential_result():
    """torch's global generator is shared by threads: fits in threads must still be reproducible.

    RedCore draws dropout masks from it at every batch, so interleaved fits would disturb each other.
    """
    from concurrent.futures import ThreadPoolExecutor

    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    from skcausalmm import ModalityDict, RedCoreClassifier

    X, y = make_data()
    X = ModalityDict(X)
    settings = dict(max_epochs=4, hidden_size=16, batch_size=16, device="cpu")

    def fit(seed):
        return RedCoreClassifier(random_state=seed, **settings).fit(X, y).predict_proba(X)

    seeds = [0, 1, 2, 3, 0, 1]
    alone = [fit(seed) for seed in seeds]
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(fit, seeds))
    for a, b in zip(alone, threaded):
        np.testing.assert_array_equal(a, b)
    grid = dict(param_grid={"random_state": [0, 1, 2]}, cv=2)
    sequential = GridSearchCV(RedCoreClassifier(**settings), **grid).fit(X, y).cv_results_
    with parallel_backend("threading", n_jobs=2):
        parallel = GridSearchCV(RedCoreClassifier(**settings), n_jobs=2, **grid).fit(X, y).cv_results_
    np.testing.assert_array_equal(sequential["mean_test_score"], parallel["mean_test_score"])
