r"""
# The confounded benchmark: in and out of distribution

[`make_confounded_multimodal`][skcausalmm.datasets.make_confounded_multimodal] samples a
front-door structural causal model with known truth: a hidden confounder $U$ drives the label
and leaves a *trace* in the predominant modality, which also shows the content $C$; the
auxiliary modality is a noisy reading of $U$. In training (and in the in-distribution test
set) the trace equals the confounder 90 % of the time; in the out-of-distribution test set it
is independent of it (`confounding=0`). An observational model learns the trace and breaks;
[`FrontDoorMultimodalClassifier`][skcausalmm.FrontDoorMultimodalClassifier] predicts
$P(y \mid do(x_p), a)$ blended by β with $P(y \mid do(x_p))$, and keeps its accuracy. The
dashed lines are the exact Bayes ceilings of
[`confounded_ceilings`][skcausalmm.datasets.confounded_ceilings].

Run it as `python examples/plot_confounded.py`; with `SKCAUSALMM_SMOKE=1` (or in CI, where
`CI` is set) it trains a tiny configuration in seconds.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm.datasets import make_confounded_multimodal

# tiny sizes with SKCAUSALMM_SMOKE=1, and in CI (CI set) unless SKCAUSALMM_SMOKE=0
SMOKE = os.environ.get("SKCAUSALMM_SMOKE", "1" if os.environ.get("CI") else "0") == "1"
n_train, n_test, epochs = (1000, 1000, 5) if SMOKE else (8000, 4000, 40)

train = make_confounded_multimodal(n_train, predominant="table", random_state=0)
test_in = make_confounded_multimodal(n_test, predominant="table", random_state=1)
test_out = make_confounded_multimodal(n_test, confounding=0.0, predominant="table", random_state=2)
print({name: block.shape for name, block in train.data.items()}, "classes:", np.unique(train.target))

# %%
# ## Fit late fusion and the front-door classifier
#
# β is used at prediction time only, so one fit of the front-door classifier serves every β.

common = dict(max_epochs=epochs, batch_size=128, random_state=0)
late = LateFusionClassifier(**common).fit(train.data, train.target)
front_door = FrontDoorMultimodalClassifier(predominant="table", dictionary_size=200 if SMOKE else 2000, **common)
front_door.fit(train.data, train.target)

scores = {"LateFusion": (late.score(test_in.data, test_in.target), late.score(test_out.data, test_out.target))}
for beta in (0.0, 0.5, 1.0):
    front_door.set_params(beta=beta)
    scores[f"FrontDoor β={beta:g}"] = (front_door.score(test_in.data, test_in.target),
                                       front_door.score(test_out.data, test_out.target))
for name, (acc_in, acc_out) in scores.items():
    print(f"{name:16s} in distribution {acc_in:.3f}   out of distribution {acc_out:.3f}")

# %%
# ## Accuracy in and out of distribution, against the Bayes ceilings

ceilings = train.ceilings
fig, ax = plt.subplots(figsize=(6.5, 3.4))
x = np.arange(len(scores))
ax.bar(x - 0.2, [s[0] for s in scores.values()], 0.4, label="in distribution (confounding 0.9)")
ax.bar(x + 0.2, [s[1] for s in scores.values()], 0.4, label="out of distribution (confounding 0)")
labels = {"content_trace_auxiliary": "(C, T, A) in", "content_auxiliary": "(C, A)", "content": "C"}
for (key, label), color in zip(labels.items(), ["C0", "C2", "C3"]):
    ax.axhline(ceilings[key]["in_distribution"], color=color, linestyle="--", linewidth=1, label=f"ceiling {label}")
ax.axhline(ceilings["content_trace_auxiliary"]["out_of_distribution"], color="C1", linestyle="--", linewidth=1,
           label="ceiling (C, T, A) out")
ax.set_xticks(x)
ax.set_xticklabels(list(scores), fontsize=8)
ax.set_ylim(0, 1)
ax.set_ylabel("accuracy")
ax.legend(fontsize=6.5, loc="upper right", ncol=2)
fig.tight_layout()
plt.show()
