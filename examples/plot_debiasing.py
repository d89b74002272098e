"""
# Debiasing a classifier that leans on a shortcut: CausalInfoMin (TE-D, ATE-D)

The bundled UCI Multiple Features digits: the `pix` image and the `fou` table are the real
views; `make_shortcut_multimodal` (`skcausalmm.datasets`) adds a `shortcut` modality that
agrees with the label 90 % of the time in training and in the in-distribution test set, and
carries no information in the out-of-distribution test set (same held-out digits). A
late-fusion model learns the shortcut and loses accuracy out of distribution;
`CausalInfoMinClassifier` learns a confounder representation and removes it, by total-effect
debiasing (`method="te"`) or by a backdoor adjustment over a k-means dictionary of confounder
codes (`method="ate"`, which finds the shortcut modality from its first stage and keeps it out
of the debiased model).
`spurious_sufficiency` (`skcausalmm.metrics`) measures how much of each model's prediction the
shortcut alone reproduces. See [CausalInfoMin](../../infomin.md) for the method.

Run it as `python examples/plot_debiasing.py`; with `SKCAUSALMM_SMOKE=1` (or in CI, where
`CI` is set) it trains a tiny configuration in seconds.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from skcausalmm import CausalInfoMinClassifier, LateFusionClassifier
from skcausalmm.datasets import make_shortcut_multimodal
from skcausalmm.metrics import spurious_sufficiency

# tiny sizes with SKCAUSALMM_SMOKE=1, and in CI (CI set) unless SKCAUSALMM_SMOKE=0
SMOKE = os.environ.get("SKCAUSALMM_SMOKE", "1" if os.environ.get("CI") else "0") == "1"
EPOCHS = 1 if SMOKE else 20

data = make_shortcut_multimodal(views=["pix", "fou"], shortcut="modality", p_train=0.9, random_state=0)
train, test_id, test_ood = data.train, data.test_id, data.test_ood
if SMOKE:  # a few hundred training digits
    keep = np.random.RandomState(0).permutation(len(train.target))[:300]
    train = type(train)(data=train.data[keep], target=train.target[keep])

# %%
# ## Late fusion, TE-D and ATE-D on the same training set

models = {
    "LateFusion": LateFusionClassifier(max_epochs=EPOCHS, random_state=0),
    "TE-D": CausalInfoMinClassifier(method="te", max_epochs=EPOCHS, random_state=0),
    "ATE-D": CausalInfoMinClassifier(method="ate", max_epochs=EPOCHS, random_state=0),
}
results = {}
for name, model in models.items():
    model.fit(train.data, train.target)
    suff = spurious_sufficiency(model, test_id.data, test_id.target, "shortcut")
    results[name] = (model.score(test_id.data, test_id.target), model.score(test_ood.data, test_ood.target), suff)
    print(f"{name:10s} in-dist {results[name][0]:.3f}  out-of-dist {results[name][1]:.3f}  "
          f"spurious sufficiency {suff['sufficiency']:.3f} (predictions kept by the shortcut alone: "
          f"{suff['unchanged']:.2f})")

# which modality ATE-D took for the confounder, and why (each modality's score; 0.985 or more
# with nearly discrete features marks a shortcut)
ate = models["ATE-D"]
print(f"ATE-D confounder modalities: {ate.confounder_modalities_}; scores: "
      + ", ".join(f"{m} {v:.3f}" for m, v in ate.confounder_scores_.items()))
# what ATE-D's dictionary captured: each prototype's share of training samples per shortcut label
assign = ate.confounder_assignments(train.data)
purity = sum(np.bincount(train.data["shortcut"][assign == c, :10].argmax(1)).max() for c in np.unique(assign))
print(f"ATE-D dictionary: {len(ate.confounder_dictionary_)} prototypes; share of training samples whose prototype's "
      f"majority shortcut label is theirs: {purity / len(assign):.2f}")

# %%
# ## Accuracy in and out of distribution

fig, ax = plt.subplots(figsize=(5, 3.2))
x = np.arange(len(results))
ax.bar(x - 0.2, [r[0] for r in results.values()], 0.4, label="in distribution")
ax.bar(x + 0.2, [r[1] for r in results.values()], 0.4, label="out of distribution (shortcut uninformative)")
ax.set_xticks(x)
ax.set_xticklabels(list(results))
ax.set_ylim(0, 1)
ax.set_ylabel("accuracy")
ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()
plt.show()
