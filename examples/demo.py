"""Demo: multimodal classification of handwritten digits (bundled UCI Multiple Features).

The image view ``pix`` (16 x 15 pixels) is the predominant modality and the
Fourier view ``fou`` (76 features) a tabular one. A ``ModalityTransformer``
standardises the table and leaves the image alone. ``LateFusionClassifier``
and ``FrontDoorMultimodalClassifier`` (at three values of β, from one fit)
are fitted on a stratified 70/30 split and their test accuracies printed next
to a logistic regression on the concatenated views.

Run it with ``./dev demo`` (set ``SKCAUSALMM_SMOKE=1`` for a seconds-long run).
"""

import os
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier, ModalityTransformer
from skcausalmm.datasets import load_multiple_features

SMOKE = bool(os.environ.get("SKCAUSALMM_SMOKE"))


def main():
    X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    print(f"train {len(y_train)} / test {len(y_test)} samples; modalities: "
          + ", ".join(f"{k} {v.shape[1:]}" for k, v in X.items()))

    model = Pipeline([
        ("prep", ModalityTransformer({"fou": StandardScaler()})),
        ("clf", LateFusionClassifier(max_epochs=3 if SMOKE else 40, random_state=0)),
    ])
    t = time.perf_counter()
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - t
    acc = model.score(X_test, y_test)

    flat = lambda D: np.hstack([v.reshape(len(v), -1) for v in D.values()])  # noqa: E731
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(flat(X_train), y_train)

    print(f"LateFusionClassifier (pix image + fou table): test accuracy {acc:.3f}  (fit {fit_s:.1f} s)")
    print(f"logistic regression on the concatenated views: test accuracy {logreg.score(flat(X_test), y_test):.3f}")
    clf = model.named_steps["clf"]
    Xt = model.named_steps["prep"].transform(X_test)
    for name, proba in clf.modality_proba(Xt).items():
        print(f"  {name} alone (diagnostic head): {np.mean(clf.classes_[proba.argmax(1)] == y_test):.3f}")

    # The causal classifier with its defaults: pix is the predominant modality, fou the auxiliary
    # one. Both views see the same digit and nothing confounds them, which is the default role
    # (auxiliary="view"); with an auxiliary modality that reads a hidden confounder, declare
    # auxiliary="confounder" (docs/frontdoor.md). beta is used at prediction time only, so one fit
    # serves every beta.
    front_door = Pipeline([
        ("prep", ModalityTransformer({"fou": StandardScaler()})),
        ("clf", FrontDoorMultimodalClassifier(predominant="pix", max_epochs=3 if SMOKE else 40, random_state=0)),
    ])
    t = time.perf_counter()
    front_door.fit(X_train, y_train)
    fit_s = time.perf_counter() - t
    scores = {beta: front_door.set_params(clf__beta=beta).score(X_test, y_test) for beta in (0.0, 0.5, 1.0)}
    print(f"FrontDoorMultimodalClassifier (fit {fit_s:.1f} s): test accuracy "
          + ", ".join(f"β={b:g}: {s:.3f}" for b, s in scores.items()))
    print("  (β=1 is the image's own prediction, β=0 the joint one; β=0.5, the default, mixes them)")


if __name__ == "__main__":
    main()
