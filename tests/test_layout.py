"""The package's layout: one folder per method family, shared code that names no estimator, tests mirrored."""

import ast
from pathlib import Path

import pytest

from skcausalmm.base import package_estimators

PACKAGE = Path(__file__).resolve().parents[1] / "skcausalmm"
TESTS = Path(__file__).resolve().parent

#: The method families, each a folder with its estimators, networks, losses and training steps.
FAMILIES = ("fusion", "imbalance", "frontdoor", "adjustment", "missing", "debiasing", "contrastive")

#: Shared code, written for every method: it may not know any of them.
SHARED = ("_core", "nn", "io", "metrics")


def _code_names(path):
    """Every identifier, attribute, imported name and non-docstring string constant of a module."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.update(node.name.split("."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            names.update(node.value.replace(".", " ").replace("(", " ").split())
    return names


def _imported_packages(path, folder):
    """The first-level subpackages of skcausalmm that a module of ``folder`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            depth = len(path.relative_to(PACKAGE).parts) - 1  # folders between the module and the package root
            if node.level == 0 and parts[0] == "skcausalmm" and len(parts) > 1:
                found.add(parts[1])
            elif node.level == depth + 1 and parts[0]:
                found.add(parts[0])
            elif 0 < node.level <= depth and folder != "":
                found.add(folder)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("skcausalmm."))
    return found


def test_the_package_top_level_names_the_method_families():
    entries = {p.name for p in PACKAGE.iterdir() if not p.name.startswith("__")}
    assert set(FAMILIES) <= entries
    assert {*SHARED, "datasets"} <= entries
    modules = {name for name in entries if name.endswith(".py")}
    assert modules == {"_compat.py", "base.py", "model_selection.py", "plotting.py", "transformers.py"}


@pytest.mark.parametrize("folder", SHARED)
def test_shared_code_names_no_estimator_and_imports_no_family(folder):
    estimators = set(package_estimators())
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names = _code_names(path)
        assert not names & estimators, f"{path.relative_to(PACKAGE)} names {sorted(names & estimators)}"
        families = _imported_packages(path, folder) & set(FAMILIES)
        assert not families, f"{path.relative_to(PACKAGE)} imports the family {sorted(families)}"


def test_tests_mirror_the_package():
    for folder in (*FAMILIES, *SHARED, "datasets"):
        assert list((TESTS / folder).glob("test_*.py")), f"tests/{folder}/ has no tests"


def test_paths_named_in_the_docs_exist():
    """The docs, the README and the docstrings point readers at test and benchmark files: those files exist."""
    import re

    root = PACKAGE.parent
    sources = [root / "README.md", *sorted((root / "docs").glob("**/*.md")), *sorted(PACKAGE.glob("**/*.py"))]
    missing = set()
    for source in sources:
        if "generated" in source.parts:
            continue
        for path in re.findall(r"\b((?:tests|benchmarks|examples|tools)/[\w/]+\.(?:py|sh))", source.read_text()):
            if not (root / path).exists():
                missing.add(f"{source.relative_to(root)}: {path}")
    assert not missing, sorted(missing)
