"""The skorch side: the one batching helper, the input layer in the net, the per-method nets."""

import numpy as np
import torch

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm._core.batching import iter_batches
from skcausalmm._core.data import AVAILABILITY_KEY
from skcausalmm._core.net import drop_modalities
from skcausalmm.datasets import mask_modalities

from ..helpers import FAST, make_data


def test_iter_batches_covers_rows_in_order_and_pads():
    data = {"a": np.arange(10, dtype=np.float32).reshape(10, 1), "b": torch.arange(20.0).reshape(10, 2)}
    batches = list(iter_batches(data, 4, pad=True))
    assert [n for _, n in batches] == [4, 4, 2]
    assert all(b["a"].shape == (4, 1) and b["b"].shape == (4, 2) for b, _ in batches)
    last, n_valid = batches[-1]
    assert last["a"][:n_valid].ravel().tolist() == [8.0, 9.0] and last["a"][n_valid:].abs().sum() == 0
    order = torch.tensor([9, 0, 5, 1, 2, 3, 4, 6, 7, 8])
    first, _ = next(iter_batches(data, 3, order=order))
    assert first["a"].ravel().tolist() == [9.0, 0.0, 5.0]
    assert first["b"][0].tolist() == [18.0, 19.0]


def test_net_standardizes_and_passes_the_mask_only_where_supported():
    X, y = make_data(n=60)
    X["tabular"] = X["tabular"] * 1000 + 50
    clf = LateFusionClassifier(max_epochs=1, random_state=0).fit(X, y)
    batch = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in X.items()}
    batch[AVAILABILITY_KEY] = torch.ones(60, 2)
    modalities, mask = clf.net_.prepare_batch(batch)
    assert AVAILABILITY_KEY not in modalities and mask.shape == (60, 2)
    standardized = modalities["tabular"].numpy()
    np.testing.assert_allclose(standardized.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(standardized.std(0), 1, rtol=1e-3)
    assert clf.net_.pass_availability is True


def test_prediction_time_parameters_are_checked_once_per_call(monkeypatch):
    X, y = make_data(n=600)
    clf = FrontDoorMultimodalClassifier(predominant="tabular", max_epochs=1, hidden_size=8, dictionary_size=16).fit(X, y)
    calls = []
    original = FrontDoorMultimodalClassifier._predict_params
    monkeypatch.setattr(FrontDoorMultimodalClassifier, "_predict_params", lambda self: calls.append(1) or original(self))
    clf.predict_proba(X)  # three prediction batches
    assert len(calls) == 1


def test_skorch_scoring_callbacks_work_on_dict_input():
    from skorch.callbacks import EarlyStopping, EpochScoring, GradientNormClipping, LRScheduler

    X, y = make_data(n=90)
    callbacks = [
        ("train_accuracy", EpochScoring("accuracy", on_train=True, name="train_accuracy", lower_is_better=False)),
        ("valid_accuracy", EpochScoring("accuracy", name="valid_accuracy", lower_is_better=False)),
        ("valid_bacc", EpochScoring("balanced_accuracy", name="valid_bacc", lower_is_better=False)),
        ("clip", GradientNormClipping(1.0)),
        ("lr", LRScheduler(policy="StepLR", step_size=1, gamma=0.5)),
        ("stop", EarlyStopping(monitor="valid_bacc", lower_is_better=False, patience=50)),
    ]
    clf = LateFusionClassifier(max_epochs=4, early_stopping=True, callbacks=callbacks, random_state=0).fit(X, y)
    last = clf.history_[-1]
    # the scorers see the same batch outputs as the built-in per-epoch accuracies
    assert abs(last["train_accuracy"] - last["train_acc"]) < 1e-12
    assert abs(last["valid_accuracy"] - last["valid_acc"]) < 1e-12
    assert 0.0 <= last["valid_bacc"] <= 1.0 and "valid_bacc_best" in last
    assert clf.net_.optimizer_.param_groups[0]["lr"] < clf.lr  # the scheduler ran


def test_checkpoint_and_progress_bar_callbacks_on_dict_input(tmp_path, capsys):
    from skorch.callbacks import Checkpoint, ProgressBar

    X, y = make_data(n=90)
    callbacks = [Checkpoint(dirname=str(tmp_path), monitor="valid_loss_best"), ProgressBar()]
    LateFusionClassifier(max_epochs=2, early_stopping=True, callbacks=callbacks, random_state=0).fit(X, y)
    assert {"params.pt", "optimizer.pt", "history.json"} <= {p.name for p in tmp_path.iterdir()}
    assert "it/s" in capsys.readouterr().err  # the bar was drawn


def test_per_batch_events_reach_every_callback_that_defines_them():
    from skorch.callbacks import Callback

    calls = []

    class Defines(Callback):
        def on_batch_end(self, net, **kwargs):
            calls.append("class")

    class Silent(Callback):
        pass

    silent = Silent()
    silent.on_batch_begin = lambda *a, **k: calls.append("instance")
    X, y = make_data(n=40)
    LateFusionClassifier(max_epochs=1, batch_size=20, early_stopping=False, random_state=0,
                         callbacks=[Defines(), silent]).fit(X, y)
    assert calls == ["instance", "class"] * 2  # two batches; Silent's on_batch_end is the empty base method


def test_training_mode_is_set_on_every_part_and_frozen_parts_stay_frozen():
    X, y = make_data(n=40)
    clf = LateFusionClassifier(max_epochs=1, random_state=0).fit(X, y)
    net = clf.net_
    net.module_.eval()
    next(iter(net.module_.children())).train()  # a part left in the other mode
    net._set_training(True)
    assert all(m.training for m in net.module_.modules())
    net._set_training(False)
    assert not any(m.training for m in net.module_.modules())


def test_pickled_net_keeps_its_print_sink_and_optimizer_setters(capsys):
    import pickle

    from skorch.callbacks import PrintLog

    X, y = make_data(n=60)
    clf = LateFusionClassifier(max_epochs=1, random_state=0).fit(X, y)
    state = clf.net_.__getstate__()
    assert "virtual_params_" not in state  # functools.partial objects: rebuilt on load
    printlog = dict(clf.net_.callbacks_)["print_log"]
    assert isinstance(printlog, PrintLog) and printlog.__getstate__()["sink"] != print
    loaded = pickle.loads(pickle.dumps(clf))
    assert dict(loaded.net_.callbacks_)["print_log"].sink is print
    loaded.net_.set_params(lr=0.25)
    assert loaded.net_.optimizer_.param_groups[0]["lr"] == 0.25
    from skcausalmm._core.net import PrintLog as OurPrintLog

    custom = OurPrintLog(sink=len)
    custom.__setstate__(custom.__getstate__())
    assert custom.sink is len


def test_drop_modalities_keeps_a_modality_per_row_and_drops_at_the_rate():
    torch.manual_seed(0)
    availability = torch.ones(20_000, 3)
    availability[:5000, 0] = 0.0  # rows with two modalities
    availability[5000:6000, 1:] = 0.0  # rows with one: never emptied
    dropped = drop_modalities(availability, 0.3)
    assert (dropped <= availability).all() and (dropped.sum(1) >= 1).all()
    torch.testing.assert_close(dropped[5000:6000], availability[5000:6000])
    full = dropped[6000:]
    # each present modality is dropped with probability 0.3, except when the whole row would go (0.3**3)
    assert abs(1 - float(full.mean()) - 0.3 * (1 - 0.3**2)) < 0.01
    torch.testing.assert_close(drop_modalities(availability, 0.0), availability)


def test_modality_dropout_trains_only_with_missing_training_data():
    X, y = make_data(n=60)
    fast = {**FAST, "max_epochs": 1}
    complete = LateFusionClassifier(**fast).fit(X, y)
    assert complete.net_.modality_dropout == 0.0  # complete data: the fit is what it always was
    masked = LateFusionClassifier(**fast).fit(mask_modalities(X, 0.3, random_state=0), y)
    assert masked.net_.modality_dropout == LateFusionClassifier._modality_dropout > 0
    # never at prediction: repeated predictions agree
    np.testing.assert_array_equal(masked.predict_proba(X), masked.predict_proba(X))
    # a fit that continues the network follows the data of that fit
    warm = LateFusionClassifier(**fast, warm_start=True).fit(X, y)
    assert warm.fit(mask_modalities(X, 0.3, random_state=0), y).net_.modality_dropout > 0
    assert warm.fit(X, y).net_.modality_dropout == 0.0


def test_adam_steps_are_fused_where_torch_has_the_kernel_and_other_optimizers_are_left_alone():
    from skcausalmm._core.checks import _fused_supported, fused_optimizer_params

    X, y = make_data(n=60)
    fused = _fused_supported(torch.optim.Adam, "cpu")
    for optimizer in ("adam", "adamw"):
        clf = LateFusionClassifier(max_epochs=1, optimizer=optimizer, random_state=0).fit(X, y)
        assert clf.net_.optimizer_.defaults.get("fused") == (True if fused else None)
    assert LateFusionClassifier(max_epochs=1, optimizer="sgd", random_state=0).fit(X, y).net_.optimizer_.defaults.get(
        "fused"
    ) in (None, False)

    class OwnStep(torch.optim.Adam):  # a subclass may override the step: not fused behind its back
        pass

    assert fused_optimizer_params(OwnStep, "cpu") == {}
    # the fused step is the same update: a fit with it and one without predict alike
    a = LateFusionClassifier(max_epochs=5, random_state=0).fit(X, y)
    b = LateFusionClassifier(max_epochs=5, optimizer=OwnStep, random_state=0).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-4)


def test_assign_gradient_keeps_the_parameter_layout():
    from skcausalmm._core.net import assign_gradient

    param = torch.nn.Parameter(torch.randn(4, 3, 2, 2))
    grad = torch.randn(4, 3, 2, 2).contiguous(memory_format=torch.channels_last)
    assign_gradient(param, grad)
    assert param.grad.stride() == param.stride()
    torch.testing.assert_close(param.grad, grad)
    same = torch.randn(4, 3, 2, 2)
    assign_gradient(param, same)
    assert param.grad is same  # already in the parameter's layout: no copy


def test_complete_training_data_carry_no_availability_mask():
    X, y = make_data(n=40)
    clf = LateFusionClassifier(max_epochs=1, random_state=0).fit(X, y)
    data = {k: np.asarray(v, dtype=np.float32) for k, v in X.items()}
    complete = clf._to_tensors(data, np.ones((40, 2), dtype=bool), "cpu")
    assert AVAILABILITY_KEY not in complete
    missing = np.ones((40, 2), dtype=bool)
    missing[0, 1] = False
    assert AVAILABILITY_KEY in clf._to_tensors(data, missing, "cpu")
