"""Every estimator of the package documents and defaults its shared parameters the same way."""

import inspect

import pytest

from skcausalmm._core.docstrings import SHARED_DEFAULTS
from skcausalmm.base import package_estimators

CLASSIFIERS = list(package_estimators().values())


def test_every_multimodal_classifier_is_listed():
    assert len(CLASSIFIERS) >= 5


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
def test_shared_parameters_defaults_and_docs(cls):
    params = inspect.signature(cls.__init__).parameters
    expected = {
        name: value for name, value in {**SHARED_DEFAULTS, **cls._shared_default_overrides}.items()
        if name not in cls._shared_excluded
    }
    for name, default in expected.items():
        assert name in params, f"{cls.__name__} lacks the shared parameter {name}"
        assert params[name].default == default, f"{cls.__name__}.{name} default differs"
    doc = cls.__doc__
    assert "%(" not in doc, "unfilled docstring marker"
    for name, default in cls._shared_default_overrides.items():
        assert f"{name} : " in doc and f"default={default!r}" in doc
    for name in params:
        if name != "self":
            assert f"\n    {name} : " in doc, f"{cls.__name__} does not document {name}"
    for section in ("Parameters", "Attributes", "Examples"):
        assert f"\n    {section}\n    ---" in doc
    assert set(cls._parameter_constraints) >= set(p for p in params if p != "self")
