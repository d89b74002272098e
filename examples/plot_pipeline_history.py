"""
# A tabular + image pipeline and its training curves

The bundled UCI Multiple Features digits have six views; here the `pix` view is a 16 × 15
image and the `fou` view a table of 76 Fourier coefficients. A scikit-learn `Pipeline`
standardises the table with a [`ModalityTransformer`][skcausalmm.ModalityTransformer] (the
image passes through unchanged) and trains a
[`LateFusionClassifier`][skcausalmm.LateFusionClassifier] with early stopping on a held-out
tenth of the training data. The fitted classifier's `history_` (a skorch `History`) holds one
row per epoch, from which we plot the training and validation curves.

Run it as `python examples/plot_pipeline_history.py`; with `SKCAUSALMM_SMOKE=1` (or in CI,
where `CI` is set) it trains a tiny configuration in seconds.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import LateFusionClassifier, ModalityTransformer
from skcausalmm.datasets import load_multiple_features

# tiny sizes with SKCAUSALMM_SMOKE=1, and in CI (CI set) unless SKCAUSALMM_SMOKE=0
SMOKE = os.environ.get("SKCAUSALMM_SMOKE", "1" if os.environ.get("CI") else "0") == "1"

X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
if SMOKE:
    keep = np.random.RandomState(0).permutation(len(y))[:400]
    X, y = X[keep], y[keep]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
print({name: block.shape for name, block in X_train.items()})

# %%
# ## Fit the pipeline
#
# `early_stopping=True` holds out `validation_fraction` (10 %) of the training samples,
# records `valid_loss` and `valid_acc` each epoch, stops after `n_iter_no_change` epochs
# without improvement and restores the best weights.

model = Pipeline([
    ("prep", ModalityTransformer({"fou": StandardScaler()})),
    ("clf", LateFusionClassifier(max_epochs=8 if SMOKE else 60, early_stopping=True, n_iter_no_change=10,
                                 random_state=0)),
])
model.fit(X_train, y_train)
clf = model.named_steps["clf"]
print(f"{clf.n_epochs_} epochs; test accuracy {model.score(X_test, y_test):.3f}")

# %%
# ## Training curves from `history_`
#
# `history_[:, "train_loss"]` is the list of per-epoch values of one column.

history = clf.history_
epochs = history[:, "epoch"]
best = epochs[int(np.argmin(history[:, "valid_loss"]))]
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3.2))
ax_loss.plot(epochs, history[:, "train_loss"], label="train")
ax_loss.plot(epochs, history[:, "valid_loss"], label="validation")
ax_loss.set_ylabel("training objective")
ax_acc.plot(epochs, history[:, "train_acc"], label="train")
ax_acc.plot(epochs, history[:, "valid_acc"], label="validation")
ax_acc.set_ylabel("accuracy")
for ax in (ax_loss, ax_acc):
    ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best})")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
fig.suptitle("LateFusionClassifier on pix (image) + fou (table)")
fig.tight_layout()
plt.show()
