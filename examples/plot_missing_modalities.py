"""
# Missing modalities at imbalanced rates: every classifier, per availability pattern

The bundled UCI Multiple Features data with three views of different strength (`pix`, its
240 pixel averages as a table; `fou`; `mor`). The training part is masked with the RedCore
paper's protocol at the rates 0.2, 0.5 and 0.8 (for each view exactly `floor(N * rate)` random
samples lose it, `mask_modalities`); RedCore, masked late fusion, MLA, the front door and
CausalInfoMin, each with its defaults, are then scored on the complete test part under each of
the seven availability patterns (`availability_scores`), and the figure shows accuracy per
pattern side by side. Every classifier of the package takes the masked data as it is; see
[Multimodal inputs](../../user-guide/inputs.md#missing-modalities) for what each does with a
missing modality and [RedCore](../../redcore.md) for the method built for it.

Run it as `python examples/plot_missing_modalities.py`; with `SKCAUSALMM_SMOKE=1` (or in CI,
where `CI` is set) it trains a tiny configuration in seconds.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from skcausalmm import (
    CausalInfoMinClassifier,
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MLAClassifier,
    RedCoreClassifier,
)
from skcausalmm.datasets import load_multiple_features, mask_modalities
from skcausalmm.metrics import availability_scores
from skcausalmm.plotting import plot_availability_scores

# tiny sizes with SKCAUSALMM_SMOKE=1, and in CI (CI set) unless SKCAUSALMM_SMOKE=0
SMOKE = os.environ.get("SKCAUSALMM_SMOKE", "1" if os.environ.get("CI") else "0") == "1"
EPOCHS = 2 if SMOKE else 40

X, y = load_multiple_features(views=["pix", "fou", "mor"], return_X_y=True, image=False)
if SMOKE:
    keep = np.random.RandomState(0).permutation(len(y))[:300]
    X, y = X[keep], y[keep]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

rates = {"pix": 0.2, "fou": 0.5, "mor": 0.8}
X_train_missing = mask_modalities(X_train, rates, random_state=0)
print({name: int(np.isnan(block[:, 0]).sum()) for name, block in X_train_missing.items()}, "training rows missing")

# %%
# ## Five classifiers trained on the masked data, scored per availability pattern

models = {
    "RedCore": RedCoreClassifier(max_epochs=EPOCHS, random_state=0),
    "LateFusion (masked)": LateFusionClassifier(max_epochs=EPOCHS, random_state=0),
    "MLA": MLAClassifier(max_epochs=EPOCHS, random_state=0),
    "FrontDoor": FrontDoorMultimodalClassifier(max_epochs=EPOCHS, random_state=0),
    "CausalInfoMin": CausalInfoMinClassifier(max_epochs=EPOCHS, random_state=0),
}
scores = {}
for name, model in models.items():
    model.fit(X_train_missing, y_train)
    scores[name] = availability_scores(model, X_test, y_test)
    print(f"\n{name}\n{scores[name].round(3).to_string()}")
redcore = models["RedCore"]
weights = {m: round(float(b), 3) for m, b in zip(redcore.modality_names_, redcore.supervision_weights_)}
print("\nRedCore supervision weights:", weights)

# %%
# ## Accuracy per availability pattern

ax = plot_availability_scores(scores, title="Accuracy per availability pattern (train missing 0.2/0.5/0.8)")
ax.figure.tight_layout()
plt.show()
