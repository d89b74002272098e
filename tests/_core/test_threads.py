"""The thread policy: torch's intra-op threads during fit, predict and transform, and the settings."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import skcausalmm
from skcausalmm import ContrastiveICA, FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm._core import threads
from skcausalmm._core.threads import torch_threads

SMALL = dict(max_epochs=3, hidden_size=8, batch_size=32, random_state=0)


def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = {"a": rng.normal(size=(n, 5)).astype(np.float32), "b": rng.normal(size=(n, 3)).astype(np.float32)}
    return X, (X["a"][:, 0] + X["b"][:, 0] > 0).astype(int)


@pytest.fixture
def torch_default(monkeypatch):
    """A process whose torch default (at skcausalmm's import) is 2 threads, untouched by the user."""
    before = torch.get_num_threads()
    for name in threads.THREAD_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_THREADS_AT_IMPORT", 2)
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _record_threads(clf_module, seen):
    return clf_module.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))


def _fit_threads(clf, X, y):
    from skorch.callbacks import Callback

    seen = []

    class Record(Callback):
        def on_batch_begin(self, net, **kwargs):
            seen.append(torch.get_num_threads())

    clf.set_params(callbacks=[Record()]).fit(X, y)
    return seen


def test_small_networks_fit_and_predict_on_one_thread_and_the_count_is_restored(torch_default):
    X, y = _data()
    clf = LateFusionClassifier(**SMALL)
    assert set(_fit_threads(clf, X, y)) == {1}
    assert torch.get_num_threads() == 2
    seen = []
    hook = _record_threads(clf.net_.module_.head, seen)  # the fused head runs in every prediction path
    clf.predict_proba(X)
    hook.remove()
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(("idle", "expected"), [(2.0, 2), (1.6, 2), (1.0, 1), (0.2, 1), (None, 2)])
def test_large_networks_use_the_idle_cpus_up_to_torchs_count(torch_default, monkeypatch, idle, expected):
    monkeypatch.setattr(threads, "SMALL_NETWORK_FLOPS", 0)
    monkeypatch.setattr(threads, "SHORT_CALL_FLOPS", 0)
    monkeypatch.setattr(threads, "idle_cpus", lambda: idle)
    X, y = _data()
    assert set(_fit_threads(LateFusionClassifier(**SMALL), X, y)) == {expected}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(threads, "idle_cpus", lambda: 8.0)  # never more than torch's count
        assert set(_fit_threads(LateFusionClassifier(**SMALL), X, y)) == {2}


def test_short_calls_of_larger_networks_run_on_one_thread_without_measuring(torch_default, monkeypatch):
    monkeypatch.setattr(threads, "SMALL_NETWORK_FLOPS", 0)
    monkeypatch.setattr(threads, "idle_cpus", lambda: pytest.fail("a short call measured the load"))
    X, y = _data()
    assert set(_fit_threads(LateFusionClassifier(**SMALL), X, y)) == {1}


def test_idle_cpus_reads_the_system():
    idle = threads.idle_cpus(0.1)
    if not os.path.exists("/proc/stat"):
        assert idle is None
    else:
        assert 0.0 <= idle <= os.cpu_count() + 1e-9


def test_a_count_the_user_chose_is_kept(torch_default, monkeypatch):
    X, y = _data()
    torch.set_num_threads(3)  # set after skcausalmm's import: the user's choice
    assert set(_fit_threads(LateFusionClassifier(**SMALL), X, y)) == {3}
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert set(_fit_threads(LateFusionClassifier(**SMALL), X, y)) == {2}


def test_settings_an_int_and_torch(torch_default):
    X, y = _data()
    with skcausalmm.config_context(torch_threads=3):
        assert set(_fit_threads(LateFusionClassifier(**SMALL), X, y)) == {3}
    assert torch.get_num_threads() == 2
    with skcausalmm.config_context(torch_threads="torch"):
        assert set(_fit_threads(LateFusionClassifier(**SMALL), X, y)) == {2}
    assert skcausalmm.get_config() == {"torch_threads": "auto", "distributed": False}


def test_the_policy_does_not_change_results(torch_default):
    """One thread by the policy (torch at 2) and one thread by the user give the same model."""
    X, y = _data()
    by_policy = FrontDoorMultimodalClassifier(predominant="a", **SMALL).fit(X, y).predict_proba(X)
    torch.set_num_threads(1)
    by_user = FrontDoorMultimodalClassifier(predominant="a", **SMALL).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(by_policy, by_user)


def test_transform_follows_the_policy(torch_default, monkeypatch):
    X, _ = _data()
    ica = ContrastiveICA(max_epochs=2, hidden_size=8, random_state=0).fit(X)
    seen, inner = [], ica._transform_batch

    def transform_batch(*args):
        seen.append(torch.get_num_threads())
        return inner(*args)

    monkeypatch.setattr(ica, "_transform_batch", transform_batch)
    ica.transform(X)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


def test_fits_in_threads_share_the_count_and_the_last_restores_it(torch_default):
    X, y = _data()

    def fit(seed):
        return _fit_threads(LateFusionClassifier(**{**SMALL, "random_state": seed}), X, y)

    with ThreadPoolExecutor(3) as pool:
        seen = [t for counts in pool.map(fit, range(3)) for t in counts]
    assert set(seen) == {1}
    assert torch.get_num_threads() == 2


def test_torch_threads_nests_and_restores():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
        with torch_threads(None):
            assert torch.get_num_threads() == target
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(target):
        raise RuntimeError
    assert torch.get_num_threads() == before


def test_the_flop_count_is_cached_per_network(monkeypatch):
    X, y = _data()
    clf = LateFusionClassifier(**SMALL).fit(X, y)
    calls = []
    monkeypatch.setattr(threads, "_FLOPS", threads.weakref.WeakKeyDictionary())
    first = threads.forward_flops(clf.net_.module_, lambda: calls.append(1), 1)
    threads.forward_flops(clf.net_.module_, lambda: calls.append(1), 1)
    assert calls == [1] and first == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "fast"])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="torch_threads"):
        skcausalmm.set_config(torch_threads=bad)
    with pytest.raises(ValueError, match="torch_threads"), skcausalmm.config_context(torch_threads=bad):
        pass
    assert skcausalmm.get_config()["torch_threads"] == "auto"
    with pytest.raises(TypeError, match="unknown settings"):
        skcausalmm.set_config(threads=1)


def test_set_config_keeps_what_is_not_passed():
    skcausalmm.set_config(torch_threads=2)
    try:
        skcausalmm.set_config()
        assert skcausalmm.get_config()["torch_threads"] == 2
    finally:
        skcausalmm.set_config(torch_threads="auto")


def test_a_call_that_starts_while_another_holds_the_count_decides_as_it_would_alone(torch_default):
    with torch_threads(1):  # another fit, in another thread, holds one thread now
        assert threads.policy_threads("cpu", 10.0, passes=1) == 1
    assert threads.policy_threads("cpu", 10.0, passes=1) == 1
    torch.set_num_threads(3)  # the user's count
    with torch_threads(1):
        assert threads.policy_threads("cpu", 10.0, passes=1) is None
