"""Which classes are estimators of the package: what a model file may name and what the tests discover.

The package's own estimators are its public classes on the shared base (those exported by
``skcausalmm``), found by inspection as scikit-learn's ``all_estimators`` does: a new method
is known once ``skcausalmm/__init__.py`` exports it. An estimator defined outside the package
(a plug-in method) becomes known through :func:`register_estimator`; :func:`skcausalmm.load`
then rebuilds it by the name it was registered under, without importing anything.
"""

import inspect

__all__ = [
    "all_estimators",
    "estimator_class",
    "estimator_name",
    "estimators_accepting_missing",
    "known_names",
    "package_estimators",
    "register_estimator",
]

#: Estimators registered from outside the package, by the name a model file records.
_REGISTERED = {}


def _is_estimator(obj):
    from .base import BaseMultimodalEstimator

    return inspect.isclass(obj) and issubclass(obj, BaseMultimodalEstimator) and not inspect.isabstract(obj)


def package_estimators():
    """The package's public estimator classes on the shared base, by class name, in ``__all__`` order.

    Returns
    -------
    classes : dict of str to type
    """
    import skcausalmm

    classes = {}
    for name in skcausalmm.__all__:
        obj = getattr(skcausalmm, name, None)
        if _is_estimator(obj):
            classes[obj.__name__] = obj
    return classes


def register_estimator(cls):
    """Class decorator: make an estimator defined outside the package known to save/load and the tests.

    The class must be a concrete subclass of one of the package's estimator bases. It is
    recorded under ``"<module>.<qualified name>"``: :func:`skcausalmm.save` writes that name
    and :func:`skcausalmm.load` rebuilds the class from it, provided the module that defines
    it has been imported (nothing is imported from a model file).

    Parameters
    ----------
    cls : type
        The estimator class.

    Returns
    -------
    cls : type
        The class, unchanged.

    Examples
    --------
    >>> from skcausalmm import LateFusionClassifier
    >>> from skcausalmm.base import estimator_name, register_estimator
    >>> @register_estimator
    ... class MyFusion(LateFusionClassifier):
    ...     pass
    >>> estimator_name(MyFusion).endswith(".MyFusion")
    True
    """
    if not _is_estimator(cls):
        raise TypeError(
            f"register_estimator takes a concrete subclass of skcausalmm.base.BaseMultimodalEstimator, got {cls!r}."
        )
    name = f"{cls.__module__}.{cls.__qualname__}"
    if "<locals>" in name:
        raise TypeError(f"register_estimator needs a class defined at module level (importable by name), got {name}.")
    _REGISTERED[name] = cls  # a module imported again (e.g. reloaded): its newest definition wins
    return cls


def all_estimators():
    """Every known estimator class: the package's (in ``__all__`` order), then the registered ones.

    Returns
    -------
    classes : list of type
    """
    found = list(package_estimators().values())
    return found + [cls for cls in _REGISTERED.values() if cls not in found]


def estimator_name(cls):
    """The name a model file records for ``cls``, or None when the class is not known.

    Parameters
    ----------
    cls : type

    Returns
    -------
    name : str or None
        The class name for the package's estimators, the registered name otherwise.
    """
    if package_estimators().get(cls.__name__) is cls:
        return cls.__name__
    for name, registered in _REGISTERED.items():
        if registered is cls:
            return name
    return None


def estimator_class(name):
    """The known estimator class recorded under ``name`` in a model file, or None.

    Parameters
    ----------
    name : str

    Returns
    -------
    cls : type or None
    """
    if not isinstance(name, str):
        return None
    return package_estimators().get(name) or _REGISTERED.get(name)


def known_names():
    """The names a model file may record, sorted (for error messages)."""
    return sorted([*package_estimators(), *_REGISTERED])


def estimators_accepting_missing():
    """The names of the known estimators that accept missing modalities (for error messages)."""
    return [cls.__name__ for cls in all_estimators() if getattr(cls, "_supports_missing", False)]
