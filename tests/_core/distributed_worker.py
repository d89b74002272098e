"""One process of the data-parallel test (tests/_core/test_distributed.py), run by ``torchrun``.

Every process fits the same estimators on the same data with
``set_config(distributed="accelerate")`` and writes what it got to ``<out>/<name>_<rank>.npz``;
the first process also saves each model with :func:`skcausalmm.save`.
"""

import os
import sys

import numpy as np


def data():
    """The data every process (and the single-process reference) trains on: 199 rows, two modalities."""
    rng = np.random.RandomState(0)
    X = {"a": rng.randn(199, 5), "b": rng.randn(199, 3)}
    y = (X["a"][:, 0] + X["b"][:, 1] > 0).astype(int)
    return X, y


def estimators():
    """``{name: unfitted estimator}``: tiny networks, a batch size that leaves unequal and empty shares."""
    from skcausalmm import (
        CausalInfoMinClassifier,
        ContrastiveICA,
        FrontDoorMultimodalClassifier,
        LateFusionClassifier,
        RedCoreClassifier,
    )

    common = {"hidden_size": 8, "batch_size": 33, "device": "cpu"}
    return {
        "late_fusion": LateFusionClassifier(max_epochs=4, random_state=0, **common),
        # no random_state: the first process's seed is taken; early stopping decides the same everywhere
        "late_fusion_early": LateFusionClassifier(
            max_epochs=8, early_stopping=True, n_iter_no_change=2, lr=0.05, **common
        ),
        "front_door": FrontDoorMultimodalClassifier(
            max_epochs=3, warmup_epochs=2, n_prototypes=4, dictionary_size=50, mediator_size=8, context_size=8,
            auxiliary_size=8, projection_size=8, random_state=0, **common,
        ),
        # the decorrelation weight's schedule pools every process's batches before it decides
        "front_door_confounder": FrontDoorMultimodalClassifier(
            predominant="a", auxiliary="confounder", adversary_ramp=0.0, max_epochs=3, n_prototypes=4,
            dictionary_size=50, mediator_size=8, context_size=8, auxiliary_size=8, projection_size=8,
            random_state=0, **common,
        ),
        "contrastive_ica": ContrastiveICA(max_epochs=2, random_state=0, **common),
        "infomin": CausalInfoMinClassifier(max_epochs=2, random_state=0, **common),
        "redcore": RedCoreClassifier(max_epochs=2, random_state=0, **common),
    }


def outputs(estimator, X):
    """What the test compares: predictions (or features) and the network's weights."""
    predict = getattr(estimator, "predict_proba", None) or estimator.transform
    state = estimator.net_.module_.state_dict()
    return {
        "out": predict(X),
        "train_loss": np.asarray(estimator.history_[:, "train_loss"], dtype=float),
        "n_epochs": np.asarray(estimator.n_epochs_),
        **({"decor_weight": np.asarray(estimator.history_[:, "decor_weight"], dtype=float)}
           if "decor_weight" in estimator.history_[-1] else {}),
        **{f"param.{k}": v.detach().cpu().numpy() for k, v in state.items()},
    }


def main(out):
    import skcausalmm

    skcausalmm.set_config(distributed="accelerate")
    rank = int(os.environ["RANK"])
    X, y = data()
    for name, estimator in estimators().items():
        estimator.fit(X, y)
        np.savez(os.path.join(out, f"{name}_{rank}.npz"), **outputs(estimator, X))
        if rank == 0:
            skcausalmm.save(estimator, os.path.join(out, f"{name}.zip"))


if __name__ == "__main__":
    main(sys.argv[1])
