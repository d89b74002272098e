"""Per-modality preprocessing: scikit-learn transformers applied to single modalities."""

import contextlib
from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._compat import StrOptions
from ._core.validation import (
    FLATTENED_MODALITIES_ATTR,
    ModalityDict,
    _check_one,
    _rows,
    _to_numpy,
    check_modality_name,
    check_same_length,
)

__all__ = ["ModalityTransformer"]

_OUTPUTS = ("default", "pandas")


def _raw_values(name, value):
    """One modality as the user gave it, for its own transformer: a DataFrame stays one, strings stay strings."""
    if sp.issparse(value):
        raise TypeError(
            f"Modality {name!r} is a scipy sparse matrix; sparse input is not supported. Densify it first with "
            ".toarray()."
        )
    if isinstance(value, pd.DataFrame):
        values = value
    elif isinstance(value, pd.Series):
        values = value.to_frame()
    else:
        values = _to_numpy(name, value)
    if values.ndim < 2:
        raise ValueError(
            f"Modality {name!r} is {values.ndim}-D with shape {values.shape}; expected 2-D (n_samples, "
            "n_features). Reshape a single feature with reshape(-1, 1)."
        )
    if values.ndim > 4:
        raise ValueError(f"Modality {name!r} has {values.ndim} dimensions (shape {values.shape}); at most 4.")
    if values.shape[0] == 0:
        raise ValueError(f"Modality {name!r} is empty: it has 0 samples.")
    if any(s == 0 for s in values.shape[1:]):
        raise ValueError(f"Modality {name!r} has an empty feature axis: shape {values.shape}.")
    if isinstance(values, np.ndarray) and values.ndim > 2:
        values = values.reshape(values.shape[0], -1)  # the transformer sees one row per sample
    return values


def _missing_rows(values):
    """Rows in which every value is missing (NaN or None): the package's missing-modality convention."""
    n = values.shape[0]
    return np.asarray(pd.isna(values)).reshape(n, -1).all(axis=1)


def _take(values, rows):
    return values.iloc[rows] if hasattr(values, "iloc") else values[rows]


@contextlib.contextmanager
def _naming(name, transformer):
    """Name the modality in an inner transformer's error (scikit-learn's messages do not know it)."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        message = f"Modality {name!r} ({type(transformer).__name__}): {exc}"
        try:
            named = type(exc)(message)
        except Exception:  # an exception type with another signature
            named = (TypeError if isinstance(exc, TypeError) else ValueError)(message)
        raise named from exc


class ModalityTransformer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Apply a scikit-learn transformer to each named modality; dict in, dict out.

    Use it as the first step of a ``Pipeline`` to scale a tabular modality
    and leave an image alone, to impute the missing values inside a block
    (``SimpleImputer``) or to encode a categorical modality
    (``OneHotEncoder``). A modality that has a transformer reaches it as the
    user gave it: a DataFrame stays a DataFrame (with its column names and
    dtypes), strings and object arrays stay as they are, NaN inside a row is
    kept, and the transformer's output is converted to ``float32``.
    Modalities of more than two dimensions are flattened for their
    transformer and reshaped back when the transformer keeps the number of
    features. ``"passthrough"`` (and ``remainder="passthrough"``) modalities
    are validated as the estimators validate them (numeric, finite, no NaN
    inside a block) and converted to ``float32``.

    Missing modalities (rows in which a modality is all NaN, or all None)
    pass through untouched: each transformer is fitted on, and applied to,
    the rows where its modality is present, and the missing rows stay all
    NaN in the output. A row that is only partly NaN is present: it is the
    transformer's to handle (e.g. ``SimpleImputer``).

    Parameters
    ----------
    transformers : dict of str to transformer
        The transformer (cloned at fit) of each modality it applies to, e.g.
        ``{"tabular": StandardScaler()}``. ``"drop"`` removes a modality and
        ``"passthrough"`` keeps it unchanged.
    remainder : {"passthrough", "drop"}, default="passthrough"
        What happens to modalities not named in ``transformers``.

    Attributes
    ----------
    transformers_ : dict of str to transformer
        The fitted transformers.
    modality_shapes_ : dict of str to tuple
        Per-sample shape of each input modality seen in ``fit``.
    modality_feature_names_ : dict of str to ndarray or None
        Column names of each modality given as a DataFrame in ``fit`` (None
        for arrays).

    See Also
    --------
    sklearn.compose.ColumnTransformer : The same idea for the columns of one table.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import OneHotEncoder, StandardScaler
    >>> from skcausalmm import ModalityTransformer
    >>> rng = np.random.default_rng(0)
    >>> X = {"image": rng.random((5, 1, 8, 8)), "tabular": rng.random((5, 3)) * 100}
    >>> Xt = ModalityTransformer({"tabular": StandardScaler()}).fit_transform(X)
    >>> sorted(Xt), Xt["image"].shape, abs(round(float(Xt["tabular"].mean()), 6))
    (['image', 'tabular'], (5, 1, 8, 8), 0.0)
    >>> X = {"colour": np.array([["red"], ["blue"], ["red"]]), "size": np.array([[1.0], [2.0], [3.0]])}
    >>> prep = ModalityTransformer({"colour": OneHotEncoder(sparse_output=False)}).fit(X)
    >>> prep.transform(X)["colour"].tolist()
    [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    >>> prep.get_feature_names_out().tolist()
    ['colour__x0_blue', 'colour__x0_red', 'size__x0']
    """

    _parameter_constraints = {
        "transformers": [dict],
        "remainder": [StrOptions({"passthrough", "drop"})],
    }

    def __init__(self, transformers, *, remainder="passthrough"):
        self.transformers = transformers
        self.remainder = remainder

    # ------------------------------------------------------------------ input
    def _has_transformer(self, name):
        return not isinstance(self.transformers.get(name, self.remainder), str)

    def _data(self, X, reset):
        """Passthrough modalities validated as float32; those with a transformer (and dropped ones) as given."""
        if not isinstance(X, Mapping) or sp.issparse(X):
            raise TypeError(
                f"ModalityTransformer takes a dict of modalities (or a ModalityDict); got {type(X).__name__}."
            )
        if len(X) == 0:
            raise ValueError("X is an empty dict: at least one modality is required.")
        unknown = set(self.transformers) - set(X)
        if unknown:
            raise ValueError(
                f"`transformers` names modalities {sorted(unknown)} that are not in X (which has {sorted(X)})."
            )
        data = {}
        for name, value in X.items():
            check_modality_name(name)
            if self._has_transformer(name) or self.transformers.get(name, self.remainder) == "drop":
                data[name] = _raw_values(name, value)
            else:
                data[name] = _check_one(name, _to_numpy(name, value), allow_missing=True)
        check_same_length(data)
        missing = {name: _missing_rows(values) for name, values in data.items()}
        absent = np.logical_and.reduce(list(missing.values()))
        if absent.any():
            rows = np.flatnonzero(absent)
            raise ValueError(
                f"Every modality is missing (all NaN) in rows {_rows(rows)}; a sample needs at least one "
                "present modality. Drop those rows."
            )
        return data, missing

    # -------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Fit each modality's transformer on the rows where its modality is present.

        Parameters
        ----------
        X : dict or ModalityDict
            The modalities. A modality with a transformer may hold any values
            its transformer accepts (strings, NaN inside a row, a DataFrame).
        y : array-like of shape (n_samples,), default=None
            Passed to each transformer's ``fit``.

        Returns
        -------
        self : ModalityTransformer
        """
        self._validate_params()
        for name, tr in self.transformers.items():
            if isinstance(tr, str):
                if tr not in ("drop", "passthrough"):
                    raise ValueError(
                        f"Transformer of modality {name!r} must be an estimator, 'drop' or 'passthrough'; got {tr!r}."
                    )
            elif isinstance(tr, type) or not (hasattr(tr, "fit") and hasattr(tr, "transform")):
                what = (
                    f"the class {tr.__name__} (pass an instance: {tr.__name__}())" if isinstance(tr, type) else repr(tr)
                )
                raise TypeError(
                    f"Transformer of modality {name!r} must be a scikit-learn transformer instance (with fit "
                    f"and transform), 'drop' or 'passthrough'; got {what}."
                )
        data, missing = self._data(X, reset=True)
        self.modality_shapes_ = {
            name: tuple(np.shape(X[name])[1:]) if not isinstance(X[name], pd.Series) else (1,) for name in data
        }
        self.modality_feature_names_ = {
            name: np.asarray(X[name].columns, dtype=object) if isinstance(X[name], pd.DataFrame) else None
            for name in data
        }
        self.transformers_ = {}
        for name, tr in self.transformers.items():
            if isinstance(tr, str):
                self.transformers_[name] = tr
                continue
            present = ~missing[name]
            if not present.any():
                raise ValueError(
                    f"Modality {name!r} is missing (all NaN) in every row; its transformer cannot be fitted."
                )
            yp = None if y is None else _take(np.asarray(y), present)
            with _naming(name, tr):
                self.transformers_[name] = clone(tr).fit(_take(data[name], present), yp)
        return self

    # -------------------------------------------------------------- transform
    def _output_width(self, name, tr, values):
        try:
            return len(self._inner_names(name, tr))
        except AttributeError:
            return values.shape[1]

    def transform(self, X):
        """Transform each modality with its fitted transformer.

        Parameters
        ----------
        X : dict or ModalityDict
            The modalities seen in ``fit``, with the per-sample shapes seen in
            ``fit``.

        Returns
        -------
        Xt : ModalityDict or pandas.DataFrame
            The transformed modalities, as ``float32`` arrays; a DataFrame
            with the columns of :meth:`get_feature_names_out` after
            ``set_output(transform="pandas")``.
        """
        check_is_fitted(self, "transformers_")
        if isinstance(X, Mapping):
            missing_names = set(self.modality_shapes_) - set(X)
            if missing_names:
                raise ValueError(f"X lacks the modalities {sorted(missing_names)} seen in fit.")
            extra = set(X) - set(self.modality_shapes_)
            if extra:
                raise ValueError(
                    f"X has modalities {sorted(extra)} that were not seen in fit ({sorted(self.modality_shapes_)})."
                )
        data, missing = self._data(X, reset=False)
        for name in data:
            got = tuple(np.shape(X[name])[1:]) if not isinstance(X[name], pd.Series) else (1,)
            if got != tuple(self.modality_shapes_[name]):
                raise ValueError(
                    f"Modality {name!r} has per-sample shape {got}, but ModalityTransformer was "
                    f"fitted with {tuple(self.modality_shapes_[name])}."
                )
        out = {}
        for name in self.modality_shapes_:  # the order of fit
            values = data[name]
            tr = self.transformers_.get(name, self.remainder)
            if isinstance(tr, str) and tr == "drop":
                continue
            if isinstance(tr, str):  # passthrough: validated float32 already
                out[name] = values
                continue
            present = ~missing[name]
            if present.any():
                with _naming(name, tr):
                    part = tr.transform(_take(values, present))
            else:  # every row missing: keep the fitted output width
                part = np.empty((0, self._output_width(name, tr, values)), dtype=np.float32)
            if sp.issparse(part):
                part = part.toarray()
            elif hasattr(part, "to_numpy"):
                part = part.to_numpy()
            try:
                part = np.asarray(part, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"The transformer of modality {name!r} ({type(tr).__name__}) returned non-numeric output "
                    f"({exc}); the estimators need numbers."
                ) from None
            if part.ndim == 1:
                part = part.reshape(-1, 1)
            if part.ndim != 2 or part.shape[0] != int(present.sum()):
                raise ValueError(
                    f"The transformer of modality {name!r} returned an array of shape {part.shape} for "
                    f"{int(present.sum())} rows; it must return one row per row."
                )
            flat = np.full((len(present), part.shape[1]), np.nan, dtype=np.float32)
            flat[present] = part
            shape = self.modality_shapes_[name]
            if len(shape) > 1 and flat.shape[1] == int(np.prod(shape)):
                flat = flat.reshape((-1, *shape))
            out[name] = flat
        if self._output() == "pandas":
            return self._to_frame(out, X)
        return ModalityDict(out)

    # ------------------------------------------------------ feature names and output
    def _inner_names(self, name, tr):
        if not hasattr(tr, "get_feature_names_out"):
            raise AttributeError(
                f"The transformer of modality {name!r} ({type(tr).__name__}) has no get_feature_names_out."
            )
        return np.asarray(tr.get_feature_names_out(), dtype=object)

    def _passthrough_names(self, name):
        columns = self.modality_feature_names_.get(name)
        if columns is not None:
            return [str(c) for c in columns]
        return [f"x{i}" for i in range(int(np.prod(self.modality_shapes_[name])))]

    def get_feature_names_out(self, input_features=None):
        """Output feature names ``<modality>__<feature>``, modality by modality in the order of ``fit``.

        A modality with a transformer takes its transformer's
        ``get_feature_names_out()`` (e.g. ``colour__x0_red`` for a
        ``OneHotEncoder``; the column names when it was fitted on a
        DataFrame); a passthrough modality takes its DataFrame column names or
        ``x0``, ``x1``, ... over its flattened values (an image's pixels).

        Parameters
        ----------
        input_features : None
            Ignored: the names come from the modalities seen in ``fit``.

        Returns
        -------
        names : ndarray of str objects
            One name per output column of the flattened modalities.

        Raises
        ------
        AttributeError
            If a modality's transformer has no ``get_feature_names_out``.
        """
        check_is_fitted(self, "transformers_")
        names = []
        for name in self.modality_shapes_:
            tr = self.transformers_.get(name, self.remainder)
            if isinstance(tr, str) and tr == "drop":
                continue
            inner = self._passthrough_names(name) if isinstance(tr, str) else self._inner_names(name, tr)
            names.extend(f"{name}__{feature}" for feature in inner)
        return np.asarray(names, dtype=object)

    def set_output(self, *, transform=None):
        """Choose what ``transform`` and ``fit_transform`` return.

        Parameters
        ----------
        transform : {"default", "pandas"} or None, default=None
            ``"default"``: a :class:`ModalityDict` of arrays; ``"pandas"``: one
            DataFrame whose columns are :meth:`get_feature_names_out` (every
            modality flattened, side by side; the index of the first modality
            given as a DataFrame, if any); None leaves the setting unchanged.
            The global ``sklearn.set_config(transform_output=...)`` does not
            apply: flattening the modalities into one table must be asked
            for. The estimators of this package refuse that table without
            ``modalities=`` selectors, so a pipeline cannot silently train a
            single-modality model on it.

        Returns
        -------
        self : ModalityTransformer
        """
        if transform is None:
            return self
        if transform not in _OUTPUTS:
            raise ValueError(
                f"ModalityTransformer.set_output(transform=...) takes {list(_OUTPUTS)}; got {transform!r}."
            )
        self._sklearn_output_config = {**getattr(self, "_sklearn_output_config", {}), "transform": transform}
        return self

    def _output(self):
        # only an explicit set_output flattens: the global transform_output setting (a notebook-wide
        # "pandas") would silently turn the modalities into one table for the next step
        return getattr(self, "_sklearn_output_config", {}).get("transform") or "default"

    def _to_frame(self, out, X):
        index = next((v.index for v in X.values() if isinstance(v, (pd.DataFrame, pd.Series))), None)
        blocks = [array.reshape(array.shape[0], -1) for array in out.values()]
        frame = pd.DataFrame(np.hstack(blocks), columns=self.get_feature_names_out(), index=index)
        frame.attrs[FLATTENED_MODALITIES_ATTR] = list(out)  # an estimator refuses it as one table
        return frame

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.dict = True
        tags.input_tags.allow_nan = True  # missing (all-NaN) blocks pass through
        tags.input_tags.string = True  # a modality's own transformer may take strings
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float32"]  # every output modality is float32
        return tags
