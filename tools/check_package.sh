#!/usr/bin/env bash
# Release check (CI runs it): build the sdist and the wheel, check them, install the wheel into a
# fresh virtual environment outside the source tree, and run the demo (smoke size) and a test
# selection against the installed package.
#
#   tools/check_package.sh            uses .venv's python to build (./dev setup first)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d /tmp/skcausalmm-package.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "== building the sdist and the wheel into $WORK/dist"
.venv/bin/python -m build --sdist --wheel --outdir "$WORK/dist" . > "$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
ls -l "$WORK/dist"
echo "== twine check"
.venv/bin/python -m twine check --strict "$WORK"/dist/*
echo "== the wheel carries the licence and the bundled data"
.venv/bin/python - "$WORK"/dist/*.whl <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for needed in ("skcausalmm/data/mfeat.npz", "skcausalmm/base.py", "skcausalmm/frontdoor/estimator.py"):
    assert needed in names, f"the wheel lacks {needed}"
assert any(n.endswith("licenses/LICENSE") or n.endswith("/LICENSE") for n in names), "the wheel lacks LICENSE"
assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) for n in names), "the wheel carries repository files"
print(f"   {len(names)} files, LICENSE and data present")
PY
echo "== a fresh virtual environment outside the source tree, the wheel installed"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --upgrade pip > /dev/null
"$WORK/venv/bin/python" -m pip install -q "torch==2.13.0" > "$WORK/torch.log" 2>&1 || { tail -20 "$WORK/torch.log"; exit 1; }
"$WORK/venv/bin/python" -m pip install -q "$WORK"/dist/*.whl pytest hypothesis > "$WORK/install.log" 2>&1 || { tail -20 "$WORK/install.log"; exit 1; }
mkdir "$WORK/run"
cp examples/demo.py "$WORK/run/"
cp -r tests "$WORK/run/tests"
cp conftest.py "$WORK/run/"
printf '[pytest]\nmarkers =\n    slow: long-running tests\n    gpu: needs a CUDA device\n' > "$WORK/run/pytest.ini"
cd "$WORK/run"
"$WORK/venv/bin/python" -c "
import skcausalmm, sys
assert '$ROOT' not in skcausalmm.__file__, skcausalmm.__file__
print('   skcausalmm', skcausalmm.__version__, 'from', skcausalmm.__file__)"
echo "== the demo (smoke size) on the installed package"
SKCAUSALMM_SMOKE=1 "$WORK/venv/bin/python" demo.py
echo "== a test selection on the installed package"
"$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/test_plugin.py tests/fusion tests/io/test_io.py tests/frontdoor/test_estimator.py
echo "== package check passed"
