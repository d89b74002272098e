"""Data-parallel training (``set_config(distributed="accelerate")``): two CPU processes, gloo, loopback.

The two-process test launches ``torchrun --nproc_per_node 2`` on ``distributed_worker.py`` once
(module fixture, bounded by a timeout) and compares what each process got with each other
and with a plain single-process fit of the same global batch size.
"""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import skcausalmm
from skcausalmm import LateFusionClassifier, MLAClassifier, MMParetoClassifier, OGMGEClassifier
from skcausalmm._core.data import TensorBatchIterator, TensorDictDataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import distributed_worker as worker  # noqa: E402

needs_accelerate = pytest.mark.skipif(importlib.util.find_spec("accelerate") is None, reason="accelerate not installed")

#: 1-process vs 2-process, LateFusion: every term of its loss is a per-sample mean, so the
#: averaged gradients are the single process's up to float32 rounding (measured: about 1e-7).
EXACT_ATOL = 1e-5
#: The front door's contrastive term compares the samples of a batch with each other, and
#: each process compares those of its share: close, not equal (measured: about 1e-3).
FRONT_DOOR_ATOL = 0.02


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    env.pop("WORLD_SIZE", None)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(HERE / "distributed_worker.py"), str(out),
    ]
    try:
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the two-process run did not finish in 120 s: {exc.stdout}\n{exc.stderr}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return out


def _outputs(folder, name):
    return [dict(np.load(folder / f"{name}_{rank}.npz")) for rank in (0, 1)]


@needs_accelerate
@pytest.mark.parametrize("name", list(worker.estimators()))
def test_every_process_ends_with_the_same_model(two_processes, name):
    """Weights, history, epochs run (early stopping) and predictions: equal on both processes."""
    first, second = _outputs(two_processes, name)
    assert first.keys() == second.keys()
    assert ("decor_weight" in first) == (name == "front_door_confounder")  # the weight's schedule ran
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


@needs_accelerate
@pytest.mark.parametrize("name, atol", [("late_fusion", EXACT_ATOL), ("front_door", FRONT_DOOR_ATOL)])
def test_two_processes_match_one_process(two_processes, name, atol):
    """The same global batch in one plain process gives the same model (within ``atol``)."""
    X, y = worker.data()
    reference = worker.outputs(worker.estimators()[name].fit(X, y), X)
    got = _outputs(two_processes, name)[0]
    np.testing.assert_allclose(got["out"], reference["out"], atol=atol)
    np.testing.assert_array_equal(got["out"].argmax(1), reference["out"].argmax(1))
    if name == "late_fusion":
        for key in reference:
            if key.startswith("param.") or key == "train_loss":
                np.testing.assert_allclose(got[key], reference[key], atol=atol, err_msg=key)


@needs_accelerate
@pytest.mark.parametrize("name", ["late_fusion", "front_door", "front_door_confounder", "contrastive_ica"])
def test_model_saved_by_the_first_process_loads_in_a_plain_one(two_processes, name):
    X, _ = worker.data()
    model = skcausalmm.load(two_processes / f"{name}.zip")
    predict = getattr(model, "predict_proba", None) or model.transform
    np.testing.assert_allclose(predict(X), _outputs(two_processes, name)[0]["out"], atol=1e-6)


@needs_accelerate
def test_one_process_with_the_setting_on_trains_as_usual():
    X, y = worker.data()
    params = {"max_epochs": 2, "hidden_size": 8, "batch_size": 33, "device": "cpu", "random_state": 0}
    plain = LateFusionClassifier(**params).fit(X, y)
    with skcausalmm.config_context(distributed="accelerate"):
        shared = LateFusionClassifier(**params).fit(X, y)
    assert type(shared.net_) is type(plain.net_)  # the fitted estimator keeps the plain net
    np.testing.assert_allclose(shared.predict_proba(X), plain.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("cls", [OGMGEClassifier, MMParetoClassifier, MLAClassifier])
def test_methods_with_their_own_training_step_refuse(cls):
    X, y = worker.data()
    with skcausalmm.config_context(distributed="accelerate"):
        with pytest.raises(ValueError, match=rf"{cls.__name__} cannot train data-parallel.*own training step"):
            cls(max_epochs=1, hidden_size=8, device="cpu").fit(X, y)


def test_missing_accelerate_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)  # import accelerate now fails
    X, y = worker.data()
    with skcausalmm.config_context(distributed="accelerate"):
        with pytest.raises(RuntimeError, match=r"LateFusionClassifier.*pip install skcausalmm\[accelerate\]"):
            LateFusionClassifier(max_epochs=1, hidden_size=8, device="cpu").fit(X, y)


def test_launched_processes_without_the_setting_warn(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    X, y = worker.data()
    with pytest.warns(UserWarning, match=r"one of 2 launched processes.*distributed='accelerate'"):
        LateFusionClassifier(max_epochs=1, hidden_size=8, device="cpu").fit(X, y)


def test_bad_setting_is_refused():
    with pytest.raises(ValueError, match="distributed='gloo'"):
        skcausalmm.set_config(distributed="gloo")
    assert skcausalmm.get_config()["distributed"] is False


@pytest.mark.parametrize("n, batch_size", [(10, 4), (9, 4), (7, 3)])
def test_shares_of_the_processes_make_each_batch(n, batch_size):
    """Two processes' shares of a batch are disjoint and make the batch one process would get."""
    X = {"a": torch.arange(n, dtype=torch.float32)[:, None]}
    dataset = TensorDictDataset(X, torch.arange(n))
    whole = [yb.tolist() for _, yb in TensorBatchIterator(dataset, batch_size, shuffle=True, seed=3)]
    shares = []
    for rank in (0, 1):
        iterator = TensorBatchIterator(dataset, batch_size, shuffle=True, seed=3, rank=rank, world_size=2)
        shares.append([(yb.tolist(), iterator.shares) for _, yb in iterator])
    for batch, (rows0, (n0, total0)), (rows1, (n1, total1)) in zip(whole, *shares):
        assert total0 == total1 == len(batch) and n0 + n1 == len(batch) and abs(n0 - n1) <= 1
        assert rows0[:n0] + rows1[:n1] == batch
