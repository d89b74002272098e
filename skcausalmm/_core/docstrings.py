"""Docstring fragments shared by every estimator on the multimodal base.

Every classifier documents the same input, training and device parameters
and the same fitted attributes. They are written once here; an estimator's
docstring holds the markers ``%(shared_parameters)s`` and
``%(shared_attributes)s`` where they belong, and :func:`fill_shared_docs`
substitutes them when the class is defined (so ``help()``, IDEs and the API
reference, built by inspection, all see the full text).
"""

__all__ = ["fill_shared_docs"]

SHARED_PARAMETERS = """\
    modalities : dict of str to column selector, default=None
        For 2-D array or DataFrame input: the columns of each modality
        (slice, integer indices, boolean mask or column names). ``None``
        treats such input as one tabular modality named ``"X"``; it must be
        None for dict input.
    image_shapes : dict of str to tuple of int, default=None
        For 2-D array or DataFrame input: per-sample shape to reshape a
        modality's columns into, e.g. ``{"pix": (1, 16, 15)}``.
    encoders : dict of str to str, torch.nn.Module or callable, default=None
        Per-modality encoder: a kind (``"mlp"``, ``"cnn"``, ``"rnn"``), a
        module mapping ``(n, *sample_shape)`` to ``(n, k)`` (deep-copied at
        fit, its weights used as given), or a callable
        ``f(sample_shape, out_features)`` returning one. Modalities not named
        get the default for their shape.
    standardize : bool, default=True
        Standardise every modality inside the network with statistics
        fitted on the training data's present rows: each column of a table,
        each channel of an image (each feature of a sequence with an
        ``"rnn"`` encoder). A fixed input layer, not trained; it makes raw
        features of any scale safe. Set False only when the inputs are
        already on a sensible scale and must reach the encoders unchanged.
    hidden_size : int, default=64
        Width and output size of the default encoders (1 to 16384).
    max_epochs : int, default=30
        Training epochs (an upper bound with ``early_stopping``). 0 builds the
        network without training it (a warning says so): an untrained
        reference, or a network to continue with ``partial_fit``.
    lr : float, default=3e-3
        Learning rate.
    batch_size : int, default=128
        Mini-batch size.
    optimizer : {"adam", "adamw", "sgd"} or torch optimizer class, default="adam"
        Optimiser. Adam and AdamW take torch's fused step where the installed
        build has the kernel (the same update in one kernel; a subclass keeps
        its own step). A closure-based one (``torch.optim.LBFGS``, with
        ``weight_decay=0``) re-evaluates the loss through skorch's training
        step; a method that updates its network in several steps per batch
        refuses it.
    weight_decay : float, default=0.0
        L2 penalty passed to the optimiser.
    class_weight : dict, "balanced" or None, default=None
        Class weights of the cross-entropy, as in scikit-learn.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data,
        stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs and restore the best weights.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks (deep-copied at fit).
    device : str, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU; or any torch
        device string.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order, the validation split and
        any sampling the method does; two CPU fits with the same integer give
        identical predictions.
    verbose : int, default=0
        0 silent, 1 an epoch table, 2 also a progress bar.
    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues training
        the fitted network for ``max_epochs`` more epochs on the data it is
        given (same modalities and shapes), keeping the input
        standardisation, the optimiser state and the settings resolved by
        the first fit; ``history_`` continues. False trains from scratch."""

SHARED_ATTRIBUTES = """\
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    modality_names_ : list of str
        Modalities seen in ``fit``, in order.
    modality_shapes_ : dict of str to tuple
        Per-sample shape of each modality.
    n_features_in_ : int
        Number of columns (only for array or DataFrame input).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names (only for DataFrame input with string column names).
    modality_feature_names_ : dict of str to ndarray
        Column names of each modality given as a DataFrame in a dict (only
        when there is one). Prediction refuses such a modality with its
        columns reordered, renamed or missing.
    input_scaling_ : dict of str to (ndarray, ndarray) or None
        ``(mean, scale)`` of each modality's input standardisation (None with
        ``standardize=False``).
    n_missing_ : dict of str to int
        Training rows in which each modality was missing.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch network and
        ``net_.standardizer_`` the fixed input layer.
    n_epochs_ : int
        Epochs actually run.
    device_ : str
        The device used."""

#: Defaults of the shared parameters; every estimator's signature must agree (tested).
SHARED_DEFAULTS = {
    "modalities": None,
    "image_shapes": None,
    "encoders": None,
    "standardize": True,
    "hidden_size": 64,
    "max_epochs": 30,
    "lr": 3e-3,
    "batch_size": 128,
    "optimizer": "adam",
    "weight_decay": 0.0,
    "class_weight": None,
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 5,
    "callbacks": None,
    "device": "auto",
    "random_state": None,
    "verbose": 0,
    "warm_start": False,
}


#: Shared entries a transformer (trained without labels) does not have.
CLASSIFIER_ONLY = ("class_weight", "classes_")


def _drop_entries(text, names):
    """Remove the numpydoc entries ``names`` from a block of entries."""
    lines, out, skipping = text.split("\n"), [], False
    for line in lines:
        if line.startswith("    ") and not line.startswith("     ") and " : " in line:
            skipping = line.strip().split(" : ")[0] in names
        if not skipping:
            out.append(line)
    return "\n".join(out)


def fill_shared_docs(cls=None, *, exclude=(), **defaults):
    """Class decorator: substitute the shared parameter and attribute docs.

    Use it bare (``@fill_shared_docs``) when the class keeps the shared
    defaults, or with the defaults it changes
    (``@fill_shared_docs(max_epochs=40)``): the documented default is then
    rewritten and the class records them in ``_shared_default_overrides``.
    ``exclude`` names shared entries the class does not have (a transformer
    passes :data:`CLASSIFIER_ONLY`); they are recorded in ``_shared_excluded``.
    """
    unknown = set(defaults) - set(SHARED_DEFAULTS)
    if unknown:
        raise ValueError(f"Not shared parameters: {sorted(unknown)}.")

    def decorate(klass):
        params = _drop_entries(SHARED_PARAMETERS, exclude)
        attributes = _drop_entries(SHARED_ATTRIBUTES, exclude)
        for name, value in defaults.items():
            head = f"\n    {name} : "
            start = params.index(head) + 1
            end = params.index("\n", start)
            line = params[start:end]
            params = params[:start] + line[: line.rindex("default=")] + f"default={value!r}" + params[end:]
        doc = klass.__doc__ or ""
        for marker, text in (
            ("    %(shared_parameters)s", params),
            ("    %(shared_attributes)s", attributes),
        ):
            if marker not in doc:
                raise ValueError(f"{klass.__name__}'s docstring lacks the marker {marker.strip()!r}.")
            doc = doc.replace(marker, text)
        klass.__doc__ = doc
        klass._shared_default_overrides = dict(defaults)
        klass._shared_excluded = tuple(exclude)
        return klass

    return decorate(cls) if cls is not None else decorate
