"""The decorrelation weight's schedule: raised only while the mediator measurably depends on the auxiliary input."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from skcausalmm import FrontDoorMultimodalClassifier
from skcausalmm.datasets import make_confounded_multimodal
from skcausalmm.frontdoor.losses import FrontDoorLoss, _decorrelation_excess, _decorrelation_loss
from skcausalmm.frontdoor.schedule import DecorrelationSchedule


class _History(list):
    def record(self, key, value):
        self.append((key, value))


def _net(weight=20.0, ramp=0.5, progress=1.0):
    module = SimpleNamespace(adversary_weight=weight, adversary_ramp=ramp, progress=progress)
    criterion = SimpleNamespace(measure_excess=False, last_terms_={})
    return SimpleNamespace(module_=module, criterion_=criterion, history=_History())


def _epoch(schedule, net, excesses):
    schedule.on_epoch_begin(net)
    for value in excesses:
        net.criterion_.last_terms_ = {"decor_excess": float(value)}
        schedule.on_batch_end(net, training=True)
    schedule.on_epoch_end(net)


def test_schedule_raises_the_weight_only_on_a_positive_excess():
    rng = np.random.default_rng(0)
    schedule = DecorrelationSchedule(max_weight=60.0).initialize()
    net = _net()
    _epoch(schedule, net, rng.normal(0.0, 0.01, 30) - 0.002)  # no dependence: unchanged
    assert net.module_.adversary_weight == 20.0 and net.criterion_.measure_excess
    _epoch(schedule, net, rng.normal(0.01, 0.01, 30))  # a clear excess: doubled
    assert net.module_.adversary_weight == 40.0
    _epoch(schedule, net, rng.normal(0.01, 0.01, 30))  # again, up to max_weight
    assert net.module_.adversary_weight == 60.0
    assert [value for key, value in net.history if key == "decor_weight"] == [20.0, 20.0, 40.0]


def test_schedule_waits_for_the_ramp_and_pools_batches_across_epochs():
    schedule = DecorrelationSchedule().initialize()
    net = _net(progress=0.2)  # the ramp is 0.5: pooled from 0.25 on
    _epoch(schedule, net, [1.0] * 10)  # during the ramp: not measured, not raised
    assert net.module_.adversary_weight == 20.0 and not net.criterion_.measure_excess
    net.module_.progress = 0.3
    _epoch(schedule, net, [0.011, 0.009])  # mean 0.01, standard error 0.001: raised
    assert net.module_.adversary_weight == 40.0
    _epoch(schedule, net, [0.5, -0.5, 0.01])  # weak evidence: kept, and pooled with the next epoch
    assert net.module_.adversary_weight == 40.0
    _epoch(schedule, net, [0.3] * 30)
    assert net.module_.adversary_weight == 80.0


def test_excess_is_zero_on_average_without_dependence_and_positive_with_it():
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(256, dtype=torch.long)
    independent, dependent = [], []
    for _ in range(40):
        target = torch.randn(256, 6, generator=g)
        for m, out in ((torch.randn(256, 16, generator=g), independent),
                       (torch.cat([target[:, :2] + torch.randn(256, 2, generator=g), torch.randn(256, 14, generator=g)], 1),
                        dependent)):
            outputs = {"mediator": m, "adversary_target": target, "decorrelation_conditional": False}
            out.append(float(_decorrelation_excess(outputs, y, _decorrelation_loss(outputs, y))))
    assert abs(np.mean(independent)) < 3 * np.std(independent) / np.sqrt(40)
    assert np.mean(dependent) > 10 * np.std(dependent) / np.sqrt(40)


def test_loss_measures_the_excess_only_when_asked_and_training():
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (64,), generator=g)
    outputs = {"logits": torch.randn(64, 3, generator=g), "mediator": torch.randn(64, 8, generator=g),
               "adversary_target": torch.randn(64, 4, generator=g), "decorrelation_coefficient": 20.0,
               "decorrelation_conditional": False}
    loss = FrontDoorLoss()
    loss(outputs, y)
    assert "decor" in loss.last_terms_ and "decor_excess" not in loss.last_terms_
    loss.measure_excess = True
    loss.eval()
    loss(outputs, y)
    assert "decor_excess" not in loss.last_terms_  # evaluation batches are not evidence
    loss.train()
    loss(outputs, y)
    assert "decor_excess" in loss.last_terms_


@pytest.fixture(scope="module")
def confounded():
    data = make_confounded_multimodal(300, predominant="table", random_state=0)
    return data.data, data.target


def _fit(X, y, **kwargs):
    params = dict(predominant="table", auxiliary="confounder", max_epochs=4, hidden_size=16, mediator_size=8,
                  context_size=8, auxiliary_size=8, projection_size=8, dictionary_size=50, n_prototypes=8,
                  adversary_ramp=0.0, random_state=0)
    return FrontDoorMultimodalClassifier(**{**params, **kwargs}).fit(X, y)


def test_confounder_role_schedules_the_weight(confounded):
    clf = _fit(*confounded)
    assert clf.adaptive_adversary_ is True
    weights = clf.history_[:, "decor_weight"]
    assert len(weights) == 4 and weights[0] == clf.adversary_weight_ == 20.0
    assert all(b in (a, 2 * a) for a, b in zip(weights, weights[1:]))
    assert max(weights) <= 32 * clf.adversary_weight_


def test_schedule_off_and_its_refusal(confounded):
    fixed = _fit(*confounded, adaptive_adversary=False)
    assert fixed.adaptive_adversary_ is False
    assert "decor_weight" not in fixed.history_[-1]
    view = _fit(*confounded, auxiliary="view")
    assert view.adaptive_adversary_ is False and "decor_weight" not in view.history_[-1]  # weight 0: nothing to raise
    reversal = _fit(*confounded, adversary_objective="reversal", max_epochs=1)
    assert reversal.adaptive_adversary_ is False
    with pytest.raises(ValueError, match="adaptive_adversary=True raises the weight of the decorrelation penalty"):
        _fit(*confounded, adversary_objective="reversal", adaptive_adversary=True)
