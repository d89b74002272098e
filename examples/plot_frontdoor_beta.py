"""
# Choosing β of the front-door classifier by cross-validation

The bundled UCI Multiple Features data: the `pix` view is the predominant modality (a
16 × 15 image), one tabular view (`fou`, renamed `"tabular"`) is auxiliary. A `Pipeline`
standardises the tabular view and trains a
[`FrontDoorMultimodalClassifier`][skcausalmm.FrontDoorMultimodalClassifier]; `GridSearchCV`
picks β. β is used at prediction time only, so after the search `set_params(beta=...)` on the
fitted model changes its predictions without refitting. See
[Front-door classifier](../../frontdoor.md) for what β blends.

Run it as `python examples/plot_frontdoor_beta.py`; with `SKCAUSALMM_SMOKE=1` (or in CI,
where `CI` is set) it trains a tiny configuration in seconds.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import FrontDoorMultimodalClassifier, ModalityDict, ModalityTransformer
from skcausalmm.datasets import load_multiple_features

# tiny sizes with SKCAUSALMM_SMOKE=1, and in CI (CI set) unless SKCAUSALMM_SMOKE=0
SMOKE = os.environ.get("SKCAUSALMM_SMOKE", "1" if os.environ.get("CI") else "0") == "1"

views, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
X = ModalityDict({"image": views["pix"], "tabular": views["fou"]})
if SMOKE:
    keep = np.random.RandomState(0).permutation(len(y))[:400]
    X, y = X[keep], y[keep]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)

# %%
# ## Grid search over β

clf = FrontDoorMultimodalClassifier(
    predominant="image",
    max_epochs=6 if SMOKE else 40,
    batch_size=128,
    dictionary_size=100 if SMOKE else 2000,
    random_state=0,
)
pipe = Pipeline([("prep", ModalityTransformer({"tabular": StandardScaler()})), ("clf", clf)])
betas = [0.0, 0.5, 1.0] if SMOKE else [0.0, 0.25, 0.5, 0.75, 1.0]
search = GridSearchCV(pipe, {"clf__beta": betas}, cv=2 if SMOKE else 3)
search.fit(X_train, y_train)

table = pd.DataFrame(search.cv_results_)[["param_clf__beta", "mean_test_score", "std_test_score"]]
print(table.to_string(index=False))
print(f"best β = {search.best_params_['clf__beta']}, test accuracy = {search.score(X_test, y_test):.3f}")

# %%
# ## β after the fact: one fitted model, every β

best = search.best_estimator_
test_scores = []
for beta in betas:
    best.set_params(clf__beta=beta)
    test_scores.append(best.score(X_test, y_test))
print("test accuracy per β (one fit):", {b: round(float(s), 3) for b, s in zip(betas, test_scores)})

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.errorbar(betas, table["mean_test_score"], yerr=table["std_test_score"], marker="o", label="CV (refit per β)")
ax.plot(betas, test_scores, "s--", label="test (one fit, set_params)")
ax.set_xlabel("β")
ax.set_ylabel("accuracy")
ax.set_title("FrontDoorMultimodalClassifier on mfeat (pix + fou)")
ax.legend()
fig.tight_layout()
plt.show()
