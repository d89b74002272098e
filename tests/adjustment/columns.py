"""The tests' way to put 1-D columns into the table ``FrontDoorAdjustment.fit(X, y)`` takes."""

import pandas as pd


def table(x, m, a=None):
    """A DataFrame with the columns ``x``, ``m`` (and ``a``): the default roles, each column keeping its dtype."""
    columns = {"x": x, "m": m} if a is None else {"x": x, "m": m, "a": a}
    return pd.DataFrame({name: list(values) if not hasattr(values, "dtype") else values for name, values in columns.items()})
