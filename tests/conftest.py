"""Test-suite set-up: plug-in test modules are imported first, so that every suite discovers their estimators."""

from . import test_plugin  # noqa: F401  (registers the toy method of the plug-in test)
