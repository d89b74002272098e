"""Scores of a fitted classifier under every availability pattern of its modalities.

A *pattern* is a non-empty set of modalities that are present; the others are
missing (their block set to NaN, the package's convention). With three
modalities there are seven patterns. RedCore (Sun et al., AAAI 2024) and the
missing-modality literature it builds on report each pattern and their
average; :func:`availability_scores` does this for any fitted classifier that
accepts missing modalities, :func:`plot_availability_scores` draws methods
side by side.
"""

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._core.registry import estimators_accepting_missing
from .._core.validation import modality_columns

__all__ = ["availability_scores", "plot_availability_scores", "availability_patterns"]

#: Name of the row that averages the patterns.
AVERAGE = "average"
#: Metric columns of :func:`availability_scores`.
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


def _final_estimator(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def availability_patterns(names):
    """All non-empty subsets of ``names``, by size, then in the order of ``names``.

    Parameters
    ----------
    names : list of str
        Modality names.

    Returns
    -------
    patterns : list of tuple of str

    Examples
    --------
    >>> availability_patterns(["a", "b", "c"])
    [('a',), ('b',), ('c',), ('a', 'b'), ('a', 'c'), ('b', 'c'), ('a', 'b', 'c')]
    """
    names = list(names)
    return [combo for size in range(1, len(names) + 1) for combo in itertools.combinations(names, size)]


class _Blocks:
    """The modality blocks of an input, and copies of it with some blocks set to NaN."""

    def __init__(self, final, X):
        if isinstance(X, Mapping):
            self.kind = "dict"
            self.container = type(X)
            self.X = {k: np.asarray(v) for k, v in X.items()}
            self.names = list(self.X)
            self.n = next(iter(self.X.values())).shape[0]
            self.present = {k: ~self._all_nan(v) for k, v in self.X.items()}
            return
        self.kind = "table"
        self.frame = X if hasattr(X, "iloc") else None
        table = X.to_numpy(dtype=np.float64, copy=True) if self.frame is not None else np.array(X, dtype=np.float64)
        if table.ndim != 2:
            raise ValueError(f"Table input must be 2-D, got shape {table.shape}.")
        self.X, self.n = table, table.shape[0]
        self.columns = modality_columns(getattr(final, "modalities", None), getattr(X, "columns", None), table.shape[1])
        self.names = list(self.columns)
        self.present = {k: ~self._all_nan(table[:, idx]) for k, idx in self.columns.items()}

    @staticmethod
    def _all_nan(array):
        flat = np.asarray(array, dtype=np.float64).reshape(array.shape[0], -1)
        return np.isnan(flat).all(axis=1)

    def masked(self, rows, pattern):
        """The selected rows with every modality outside ``pattern`` set to NaN."""
        if self.kind == "dict":
            out = {}
            for k, v in self.X.items():
                block = np.array(v[rows], dtype=np.float64 if v.dtype.kind not in "f" else v.dtype)
                if k not in pattern:
                    block[...] = np.nan
                out[k] = block
            try:
                return self.container(out)
            except TypeError:  # pragma: no cover - exotic mapping types
                return out
        out = self.X[rows].copy()
        for name, idx in self.columns.items():
            if name not in pattern:
                out[:, idx] = np.nan
        if self.frame is not None:
            return self.frame.__class__(out, columns=self.frame.columns, index=self.frame.index[rows])
        return out


def availability_scores(estimator, X, y, patterns="all"):
    """Accuracy, balanced accuracy and macro-F1 of a fitted classifier per availability pattern.

    For each pattern (a set of present modalities) every evaluated sample is
    given to the estimator with exactly that pattern's modalities present:
    the others' blocks are set to NaN. A sample is evaluated under a pattern
    when all of the pattern's modalities are present in ``X`` (with complete
    ``X``, every sample under every pattern, as in the RedCore paper's test
    protocol). The last row averages the patterns with equal weight.

    Parameters
    ----------
    estimator : fitted classifier, or a Pipeline ending in one
        It must accept missing modalities (NaN blocks) at predict time; an
        estimator of this package that does not raises a ``ValueError``.
    X : dict, ModalityDict, array-like or DataFrame
        Evaluation samples, in a form the estimator accepts. For a 2-D array
        or DataFrame the modalities are the final estimator's ``modalities``
        column selectors (one modality ``"X"`` when None).
    y : array-like of shape (n_samples,)
        True labels.
    patterns : "all" or list of iterables of str, default="all"
        The patterns to score: every non-empty subset of the modalities, or
        the given sets of modality names.

    Returns
    -------
    scores : pandas.DataFrame
        One row per pattern (index: the present modalities joined by ``"+"``)
        and a last row ``"average"``; columns ``n_modalities``,
        ``n_samples``, ``accuracy``, ``balanced_accuracy`` (the unweighted
        average recall, "UAR") and ``macro_f1``.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm import LateFusionClassifier
    >>> from skcausalmm.metrics import availability_scores
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 60)
    >>> X = {"a": y[:, None] + 0.3 * rng.normal(size=(60, 2)), "b": rng.normal(size=(60, 3))}
    >>> clf = LateFusionClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> list(availability_scores(clf, X, y).index)
    ['a', 'b', 'a+b', 'average']
    """
    final = _final_estimator(estimator)
    check_is_fitted(final)
    if getattr(final, "_supports_missing", None) is False:
        raise ValueError(
            f"{type(final).__name__} does not support missing modalities, so it cannot be scored per "
            f"availability pattern; use one that does ({', '.join(estimators_accepting_missing())})."
        )
    y = np.asarray(y)
    blocks = _Blocks(final, X)
    if y.shape[0] != blocks.n:
        raise ValueError(f"X has {blocks.n} samples but y has {y.shape[0]}.")
    fitted_names = getattr(final, "modality_names_", None)
    names = list(fitted_names) if fitted_names is not None else blocks.names
    unknown_input = set(names) - set(blocks.names)
    if unknown_input:
        raise ValueError(f"X lacks the modalities {sorted(unknown_input)} that the estimator was fitted on.")
    if isinstance(patterns, str):
        if patterns != "all":
            raise ValueError(f"patterns must be 'all' or a list of sets of modality names, got {patterns!r}.")
        chosen = availability_patterns(names)
    else:
        chosen = []
        for p in patterns:
            p = (p,) if isinstance(p, str) else tuple(p)
            if not p:
                raise ValueError("An availability pattern must name at least one present modality.")
            unknown = [m for m in p if m not in names]
            if unknown:
                raise ValueError(f"Pattern {p} names unknown modalities {unknown}; the modalities are {names}.")
            chosen.append(tuple(m for m in names if m in p))
        if not chosen:
            raise ValueError("patterns is empty.")
    rows = {}
    for pattern in chosen:
        keep = np.ones(blocks.n, dtype=bool)
        for m in pattern:
            keep &= blocks.present[m]
        label = "+".join(pattern)
        if not keep.any():
            rows[label] = {"n_modalities": len(pattern), "n_samples": 0, **{k: np.nan for k in METRICS}}
            continue
        idx = np.flatnonzero(keep)
        pred = np.asarray(estimator.predict(blocks.masked(idx, pattern)))
        truth = y[idx]
        rows[label] = {
            "n_modalities": len(pattern),
            "n_samples": int(idx.size),
            "accuracy": float(accuracy_score(truth, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(truth, pred)),
            "macro_f1": float(f1_score(truth, pred, average="macro")),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    average = {"n_modalities": np.nan, "n_samples": int(table["n_samples"].sum())}
    average.update({k: float(table[k].mean()) for k in METRICS})
    table.loc[AVERAGE] = average
    table.index.name = "pattern"
    return table


def plot_availability_scores(scores, metric="accuracy", ax=None, *, title=None, errors=None):
    """Grouped bar chart of a metric per availability pattern, methods side by side.

    Parameters
    ----------
    scores : pandas.DataFrame or dict of str to pandas.DataFrame
        Output of :func:`availability_scores` for one method, or one per
        method (the dict's keys label the bars).
    metric : {"accuracy", "balanced_accuracy", "macro_f1"}, default="accuracy"
        Column to draw.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure's axes when None.
    title : str, default=None
        Axes title.
    errors : dict of str to pandas.DataFrame, default=None
        Per method, a table of the same shape whose ``metric`` column gives
        error-bar half-lengths (e.g. the standard deviation over seeds).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from skcausalmm.plotting import plot_availability_scores
    >>> t = pd.DataFrame({"accuracy": [0.6, 0.8, 0.7]}, index=["a", "a+b", "average"])
    >>> ax = plot_availability_scores({"one": t, "two": t})
    >>> [x.get_text() for x in ax.get_xticklabels()]
    ['a', 'a+b', 'average']
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_availability_scores needs matplotlib, which is not installed. Install the "
            "'plot' extra: pip install 'skcausalmm[plot]' (or pip install matplotlib)."
        ) from exc
    if isinstance(scores, pd.DataFrame):
        scores = {"": scores}
    if not scores:
        raise ValueError("scores is empty.")
    methods = list(scores)
    first = scores[methods[0]]
    if metric not in first.columns:
        raise ValueError(f"metric {metric!r} is not a column of the scores; columns are {list(first.columns)}.")
    patterns = list(first.index)
    for name, table in scores.items():
        if list(table.index) != patterns:
            raise ValueError(f"The scores of {name!r} have patterns {list(table.index)}, expected {patterns}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(patterns) * max(1, len(methods)) / 2 + 2.0), 3.4))
    width = 0.8 / len(methods)
    x = np.arange(len(patterns))
    for i, name in enumerate(methods):
        values = scores[name][metric].to_numpy(dtype=float)
        err = None if errors is None or name not in errors else errors[name][metric].to_numpy(dtype=float)
        ax.bar(x - 0.4 + width * (i + 0.5), values, width, yerr=err, label=name or None, capsize=2)
    ax.set_xticks(x)
    ax.set_xticklabels(patterns, rotation=30, ha="right")
    if AVERAGE in patterns:
        ax.axvline(patterns.index(AVERAGE) - 0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_xlabel("present modalities")
    finite = np.concatenate([scores[n][metric].to_numpy(dtype=float) for n in methods])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        low = max(0.0, float(finite.min()) - 0.1)
        ax.set_ylim(low, min(1.0, float(finite.max()) + 0.05) if finite.max() <= 1 else None)
    if any(methods):
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    return ax
