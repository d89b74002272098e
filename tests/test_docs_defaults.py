"""The defaults table of docs/user-guide/defaults.md matches every estimator's ``get_params()`` (no fitting).

Shared columns: the first code span of a cell is the default (a Python literal; prose may follow).
The "method-specific" column: every code span ``name=value`` outside parentheses is a default;
code spans inside parentheses are explanation and are not checked.
"""

import ast
import re
from pathlib import Path

import pytest

from skcausalmm.base import package_estimators

PAGE = Path(__file__).resolve().parents[1] / "docs" / "user-guide" / "defaults.md"
SHARED = ["hidden_size", "max_epochs", "lr", "batch_size", "optimizer", "weight_decay", "early_stopping"]
METHOD = "method-specific"
ASSIGNMENT = re.compile(r"^(\w+)=(.+)$", re.S)


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table():
    """The header (column names without backticks) and the rows, each a dict of column to cell text."""
    lines = [line for line in PAGE.read_text().splitlines() if line.startswith("| estimator |")]
    assert len(lines) == 1, "the page must have one table whose first column is 'estimator'"
    all_lines = PAGE.read_text().splitlines()
    start = all_lines.index(lines[0])
    header = [c.strip("`") for c in _cells(all_lines[start])]
    rows = []
    for line in all_lines[start + 2 :]:
        if not line.startswith("|"):
            break
        # a "|" inside a code span would split a cell; the table has none (checked by the column count)
        cells = _cells(line)
        assert len(cells) == len(header), f"wrong number of cells in {line!r}"
        rows.append(dict(zip(header, cells)))
    return header, rows


def _top_level_code_spans(text):
    """The code spans of a cell that are not inside parentheses of its prose."""
    parts = text.split("`")
    assert len(parts) % 2 == 1, f"unbalanced backticks in {text!r}"
    spans, depth = [], 0
    for i, part in enumerate(parts):
        if i % 2:
            if depth == 0:
                spans.append(part)
        else:
            depth += part.count("(") - part.count(")")
            assert depth >= 0, f"unbalanced parentheses in {text!r}"
    return spans


def _estimator(cell):
    name = re.search(r"`(\w+)`", cell).group(1)
    return name, package_estimators()[name]


def test_table_has_the_shared_columns_and_every_estimator():
    header, rows = _table()
    assert header == ["estimator", *SHARED, METHOD]
    listed = [_estimator(row["estimator"])[0] for row in rows]
    assert sorted(listed) == sorted(package_estimators()), "every public estimator has one row"
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize("row", _table()[1], ids=lambda row: re.search(r"`(\w+)`", row["estimator"]).group(1))
def test_every_cell_is_the_default(row):
    name, cls = _estimator(row["estimator"])
    params = cls().get_params()
    for column in SHARED:
        value = re.search(r"`([^`]+)`", row[column]).group(1)
        assert ast.literal_eval(value) == params[column], f"{name}.{column}: table {value}, default {params[column]!r}"
    spans = _top_level_code_spans(row[METHOD])
    assert spans, f"{name}: no method-specific parameter listed"
    for span in spans:
        match = ASSIGNMENT.match(span)
        assert match, f"{name}: {span!r} is not name=value"
        param, value = match.groups()
        assert param in params and param not in SHARED, f"{name}: {param!r} is not a method-specific parameter"
        assert ast.literal_eval(value) == params[param], f"{name}.{param}: table {value}, default {params[param]!r}"


def test_the_prose_defaults_hold_for_every_estimator():
    """``name=value`` code spans outside the table (early stopping's split and patience) hold for all."""
    prose = "\n".join(line for line in PAGE.read_text().splitlines() if not line.startswith("|"))
    spans = [m.groups() for m in (ASSIGNMENT.match(s) for s in re.findall(r"`([^`]+)`", prose)) if m]
    assert spans
    for name, cls in package_estimators().items():
        params = cls().get_params()
        for param, value in spans:
            assert ast.literal_eval(value) == params[param], f"{name}.{param}: page {value}, default {params[param]!r}"
