"""Every Python code block in the README and the docs runs as written (slow: CI runs it with -m slow).

The blocks of one page run in order in one namespace, as a reader copying them top to bottom
would run them.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)

pytestmark = pytest.mark.slow


def _pages_with_code():
    return [p for p in PAGES if BLOCK.search(p.read_text())]


def test_there_are_code_blocks_to_run():
    assert len(_pages_with_code()) >= 8


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a block writes stays in a temporary folder
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}  # blocks guarded by `if __name__ == "__main__":` run too
    for i, code in enumerate(BLOCK.findall(page.read_text())):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"{page.relative_to(ROOT)} block {i} failed: {type(exc).__name__}: {exc}") from exc
