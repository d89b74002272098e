"""Links into the docs from outside the mkdocs site resolve (no build; fast).

The site's own links, anchors included, are checked by ``./dev docs`` (``strict: true`` with
``validation: anchors: warn``). The README, the changelog, the examples, the benchmarks and the
docstrings are not part of that build: the docs pages they name exist, and the README's links to
a section (``docs/<page>.md#<anchor>``) find a heading with that anchor.
"""

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = re.compile(r"\bdocs/[\w/.-]+?\.md\b")
README_LINK = re.compile(r"\]\((docs/[\w/.-]+?\.md)(?:#([\w-]+))?\)")


def _slug(heading):
    """The anchor that mkdocs (Python-Markdown's toc) gives a heading, for plain headings."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").replace("*", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a `# comment` in code is no heading
    return {_slug(m) for m in re.findall(r"^#{1,6} +(.+?) *$", text, flags=re.M)}


def _sources():
    yield ROOT / "README.md"
    yield ROOT / "CHANGELOG.md"
    for folder in ("skcausalmm", "examples", "benchmarks", "tests", "tools"):
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield from sorted((ROOT / "docs" / "figures").glob("*.py"))


def test_docs_pages_named_outside_the_site_exist():
    missing = set()
    for source in _sources():
        for path in DOC_PATH.findall(source.read_text()):
            if "generated" not in path and not (ROOT / path).exists():
                missing.add(f"{source.relative_to(ROOT)}: {path}")
    assert not missing, sorted(missing)


def test_readme_links_into_the_docs_resolve():
    links = README_LINK.findall((ROOT / "README.md").read_text())
    assert len(links) >= 10
    broken = []
    for path, anchor in links:
        page = ROOT / path
        if not page.exists():
            broken.append(path)
        elif anchor and anchor not in _anchors(page):
            broken.append(f"{path}#{anchor}")
    assert not broken, broken


def test_slug_matches_mkdocs_for_the_headings_used_here():
    assert _slug("One assumption: what the auxiliary modality is") == "one-assumption-what-the-auxiliary-modality-is"
    assert _slug("Choosing `n_components`") == "choosing-n_components"
    assert _slug("A memory-mapped fit of a 1,500 MB table") == "a-memory-mapped-fit-of-a-1500-mb-table"
