"""
# Modality contributions: per-modality heads and Shapley values

Which of the six views of the bundled UCI Multiple Features digits does a fitted late-fusion
model rely on? Two diagnostics from `skcausalmm.metrics`:

* [`modality_scores`][skcausalmm.metrics.modality_scores]: the accuracy of each modality's
  own head (a linear probe on its representation), i.e. what the view can do alone;
* [`shapley_contributions`][skcausalmm.metrics.shapley_contributions]: the exact Shapley
  value of each view for the fused model's test accuracy. Absent views are replaced by the
  value the input standardisation maps to zero and the model is not refitted; the
  contributions add up to the accuracy with every view minus the accuracy with none.

Run it as `python examples/plot_modality_contributions.py`; with `SKCAUSALMM_SMOKE=1` (or in
CI, where `CI` is set) it trains a tiny configuration in seconds.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from skcausalmm import LateFusionClassifier
from skcausalmm.datasets import load_multiple_features
from skcausalmm.metrics import imbalance_summary, modality_scores, shapley_contributions
from skcausalmm.plotting import plot_contributions

# tiny sizes with SKCAUSALMM_SMOKE=1, and in CI (CI set) unless SKCAUSALMM_SMOKE=0
SMOKE = os.environ.get("SKCAUSALMM_SMOKE", "1" if os.environ.get("CI") else "0") == "1"

X, y = load_multiple_features(return_X_y=True)  # all six views; pix as an image
if SMOKE:
    keep = np.random.RandomState(0).permutation(len(y))[:400]
    X, y = X[keep], y[keep]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

clf = LateFusionClassifier(max_epochs=3 if SMOKE else 30, random_state=0).fit(X_train, y_train)
print(f"test accuracy with every view: {clf.score(X_test, y_test):.3f}")

# %%
# ## Each view alone, and its share of the fused model's accuracy

heads = modality_scores(clf, X_test, y_test)
phi = shapley_contributions(clf, X_test, y_test)
summary = imbalance_summary(phi)
for name in phi:
    print(f"{name}: head accuracy {heads[name]['accuracy']:.3f}, Shapley contribution {phi[name]:+.3f}")
print(f"dominant view: {summary['dominant']} ({summary['dominant_share']:.0%} of the positive contributions); "
      f"sum of contributions {summary['total']:.3f}")

fig, (ax_heads, ax_phi) = plt.subplots(1, 2, figsize=(8.5, 3.2))
ax_heads.bar(range(len(heads)), [s["accuracy"] for s in heads.values()], color="C1")
ax_heads.set_xticks(range(len(heads)))
ax_heads.set_xticklabels(list(heads))
ax_heads.set_ylim(0, 1)
ax_heads.set_ylabel("test accuracy")
ax_heads.set_title("Each view's own head")
plot_contributions(phi, ax=ax_phi)
ax_phi.set_ylabel("Shapley contribution (accuracy)")
ax_phi.set_title("Contributions to the fused model")
fig.tight_layout()
plt.show()
