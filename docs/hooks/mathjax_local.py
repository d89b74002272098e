"""MkDocs hook: serve MathJax from the site itself, so that formulas render offline.

MathJax 3 comes from the ``django-static-mathjax`` package (a plain copy of MathJax's files, no
Django needed; it is in the ``docs`` extra). After each build the hook copies the part of its
``es5`` folder that ``tex-mml-chtml.js`` needs into ``site/javascripts/mathjax/``: the combined
component itself, the CHTML output with its fonts, the TeX extensions that it loads on demand,
and the accessibility and menu components. ``mkdocs.yml`` loads
``javascripts/mathjax/tex-mml-chtml.js`` (MathJax finds the rest relative to that file).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mkdocs.exceptions import PluginError

PARTS = ["tex-mml-chtml.js", "output/chtml", "output/chtml.js", "input/tex", "input/mml", "a11y", "ui", "LICENSE"]


def _mathjax_es5() -> Path:
    try:
        import mathjax
    except ImportError as exc:
        raise PluginError(
            "MathJax is not installed: the docs serve it locally from the django-static-mathjax package "
            "(in the docs extra: pip install -e '.[docs]')."
        ) from exc
    root = Path(mathjax.__file__).parent / "static" / "mathjax"
    es5 = root / "es5"
    if not (es5 / "tex-mml-chtml.js").is_file():
        raise PluginError(f"{es5 / 'tex-mml-chtml.js'} not found: reinstall django-static-mathjax.")
    return es5


def on_post_build(config, **kwargs):
    es5 = _mathjax_es5()
    target = Path(config["site_dir"]) / "javascripts" / "mathjax"
    for part in PARTS:
        source = es5 / part if part != "LICENSE" else es5.parent / "LICENSE"
        if not source.exists():
            continue
        if source.is_dir():
            shutil.copytree(source, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / part)
