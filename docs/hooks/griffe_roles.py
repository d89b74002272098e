"""Griffe extension for the API pages: Sphinx roles become cross-references, private bases disappear.

The docstrings are numpydoc, written for Sphinx as well: ``:class:`~skcausalmm.ModalityDict```,
``:func:`shapley_contributions``` and the like. mkdocstrings renders Markdown, where such a role
would show as literal text. Once the package is loaded, every docstring's roles are rewritten into
mkdocs-autorefs references (``<autoref identifier=... optional>``): the target is resolved in the
scope of the documented object, a reference links where the target is documented on some page and
stays a code span where it is not (e.g. scikit-learn's objects, or private helpers). Base classes
in private modules or with private names (``skcausalmm._base.MultimodalClassifierMixin``) are
dropped from the "Bases:" line.

Loaded by mkdocstrings through ``extensions:`` in ``mkdocs.yml``.
"""

from __future__ import annotations

import html
import re

import griffe

# :class:`x`, :py:func:`~a.b`, :meth:`Title <a.b.c>` ...
ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<body>[^`]+)`")
LINKED = {"class", "func", "meth", "mod", "attr", "data", "obj", "exc", "const", "type"}
EXPLICIT = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$")


def _is_private(path: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in path.split("."))


def _resolve(obj: griffe.Object, target: str) -> str:
    """Full path of ``target`` as Python would find it from ``obj`` (unchanged when unknown)."""
    target = target.lstrip(".")
    head, _, rest = target.partition(".")
    scope = obj
    while scope is not None:
        try:
            path = scope.resolve(head)
        except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
            scope = scope.parent
            continue
        return f"{path}.{rest}" if rest else path
    return target


def _replace_roles(obj: griffe.Object, text: str) -> str:
    def repl(match: re.Match) -> str:
        role, body = match["role"], match["body"].strip()
        explicit = EXPLICIT.match(body)
        if explicit:
            title, target = explicit["title"], explicit["target"]
        else:
            target = body
            title = body.lstrip("~.").rsplit(".", 1)[-1] if body.startswith("~") else body.lstrip(".")
        target = target.lstrip("~")
        code = f"<code>{html.escape(title)}</code>"
        if role not in LINKED:  # :term:, :ref:, :doc:, :math: ... keep the text, as code
            return code
        path = _resolve(obj, target)
        if _is_private(path):
            return code
        return f'<autoref identifier="{html.escape(path, quote=True)}" optional>{code}</autoref>'

    return ROLE.sub(repl, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in docstrings and drop private base classes, once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        seen = set()
        stack = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_alias or id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = _replace_roles(obj, obj.docstring.value)
            if obj.is_class:
                obj.bases = [base for base in obj.bases if not _is_private(_base_path(base))]
            stack.extend(member for member in obj.members.values() if not member.is_alias)


def _base_path(base) -> str:
    return getattr(base, "canonical_path", None) or str(base)
