"""Per-modality preprocessing: scikit-learn transformers applied to single modalities."""

from collections.abc import Mapping

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._compat import StrOptions
from ._validation import ModalityDict, check_modalities

__all__ = ["ModalityTransformer"]


class ModalityTransformer(TransformerMixin, BaseEstimator):
    """Apply a scikit-learn transformer to each named modality; dict in, dict out.

    Use it as the first step of a ``Pipeline`` to scale a tabular modality
    and leave an image alone. Modalities of more than two dimensions are
    flattened for their transformer and reshaped back when the transformer
    keeps the number of features.

    Missing modalities (rows in which a modality is all NaN) pass through
    untouched: each transformer is fitted on, and applied to, the rows where
    its modality is present, and the missing rows stay all NaN in the output.

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

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skcausalmm import ModalityTransformer
    >>> rng = np.random.default_rng(0)
    >>> X = {"image": rng.random((5, 1, 8, 8)), "tabular": rng.random((5, 3)) * 100}
    >>> Xt = ModalityTransformer({"tabular": StandardScaler()}).fit_transform(X)
    >>> sorted(Xt), Xt["image"].shape, abs(round(float(Xt["tabular"].mean()), 6))
    (['image', 'tabular'], (5, 1, 8, 8), 0.0)
    """

    _parameter_constraints = {
        "transformers": [dict],
        "remainder": [StrOptions({"passthrough", "drop"})],
    }

    def __init__(self, transformers, *, remainder="passthrough"):
        self.transformers = transformers
        self.remainder = remainder

    def _data(self, X, reset):
        if not isinstance(X, Mapping):
            raise TypeError(
                "ModalityTransformer takes a dict of modalities (or a ModalityDict); "
                f"got {type(X).__name__}."
            )
        data = check_modalities(X, reset=reset, allow_missing=True)
        unknown = set(self.transformers) - set(data)
        if unknown:
            raise ValueError(
                f"`transformers` names modalities {sorted(unknown)} that are not in X "
                f"(which has {sorted(data)})."
            )
        return data

    def fit(self, X, y=None):
        """Fit each modality's transformer on its modality.

        Parameters
        ----------
        X : dict or ModalityDict
            The modalities.
        y : array-like of shape (n_samples,), default=None
            Passed to each transformer's ``fit``.

        Returns
        -------
        self : ModalityTransformer
        """
        self._validate_params()
        data = self._data(X, reset=True)
        self.modality_shapes_ = {k: v.shape[1:] for k, v in data.items()}
        self.transformers_ = {}
        for name, tr in self.transformers.items():
            if isinstance(tr, str):
                if tr not in ("drop", "passthrough"):
                    raise ValueError(f"Transformer of modality {name!r} must be an estimator, 'drop' or 'passthrough'; got {tr!r}.")
                self.transformers_[name] = tr
            else:
                if isinstance(tr, type) or not (hasattr(tr, "fit") and hasattr(tr, "transform")):
                    what = f"the class {tr.__name__} (pass an instance: {tr.__name__}())" if isinstance(tr, type) else repr(tr)
                    raise TypeError(
                        f"Transformer of modality {name!r} must be a scikit-learn transformer instance (with fit "
                        f"and transform), 'drop' or 'passthrough'; got {what}."
                    )
                flat = data[name].reshape(data[name].shape[0], -1)
                present = ~np.isnan(flat[:, 0])
                if not present.any():
                    raise ValueError(f"Modality {name!r} is missing (all NaN) in every row; its transformer cannot be fitted.")
                yp = None if y is None else np.asarray(y)[present]
                self.transformers_[name] = clone(tr).fit(flat[present], yp)
        return self

    def transform(self, X):
        """Transform each modality with its fitted transformer.

        Parameters
        ----------
        X : dict or ModalityDict
            The modalities seen in ``fit``.

        Returns
        -------
        Xt : ModalityDict
            The transformed modalities.
        """
        check_is_fitted(self, "transformers_")
        data = self._data(X, reset=False)
        missing = set(self.modality_shapes_) - set(data)
        if missing:
            raise ValueError(f"X lacks the modalities {sorted(missing)} seen in fit.")
        extra = set(data) - set(self.modality_shapes_)
        if extra:
            raise ValueError(f"X has modalities {sorted(extra)} that were not seen in fit ({sorted(self.modality_shapes_)}).")
        for name, array in data.items():
            if tuple(array.shape[1:]) != tuple(self.modality_shapes_[name]):
                raise ValueError(
                    f"Modality {name!r} has per-sample shape {tuple(array.shape[1:])}, but ModalityTransformer was "
                    f"fitted with {tuple(self.modality_shapes_[name])}."
                )
        out = {}
        for name, array in data.items():
            tr = self.transformers_.get(name, self.remainder)
            if tr == "drop":
                continue
            if tr == "passthrough":
                out[name] = array
                continue
            raw = array.reshape(array.shape[0], -1)
            present = ~np.isnan(raw[:, 0])
            part = tr.transform(raw[present]) if present.any() else None
            if part is None:  # every row missing: keep the fitted output width
                width = getattr(tr, "n_features_out_", None) or raw.shape[1]
                part = np.empty((0, width), dtype=np.float32)
            part = np.asarray(part.toarray() if hasattr(part, "toarray") else part, dtype=np.float32)
            flat = np.full((array.shape[0], part.shape[1]), np.nan, dtype=np.float32)
            flat[present] = part
            if array.ndim > 2 and flat.shape[1] == int(np.prod(array.shape[1:])):
                flat = flat.reshape(array.shape)
            out[name] = flat
        return ModalityDict(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.dict = True
        tags.input_tags.allow_nan = True  # missing (all-NaN) blocks pass through
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float32"]  # every output modality is float32
        return tags
