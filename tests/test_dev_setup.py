"""The torch decision of ``./dev setup`` (tools/dev_setup.py), with faked probes and installs: no network."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dev_setup", ROOT / "tools" / "dev_setup.py")
ds = importlib.util.module_from_spec(_spec)
sys.modules["dev_setup"] = ds  # dataclasses look their module up by name
_spec.loader.exec_module(ds)

NO_GPU = ds.GpuProbe(False, "nvidia-smi not found")
GPU = ds.GpuProbe(True, "GPU 0: NVIDIA H200")


class FakePip:
    """Records each ``pip install`` call; answers from a list of results (``True`` for success)."""

    def __init__(self, *results):
        self.results = list(results)
        self.calls = []

    def __call__(self, args):
        self.calls.append(tuple(args))
        ok = self.results.pop(0)
        return ds.PipResult(ok, "" if ok else "Collecting torch\nERROR: Could not find a version that satisfies torch")


class FakeProbe:
    def __init__(self, version, detail="unreachable (connection error: no route)"):
        self.version, self.detail, self.urls = version, detail, []

    def __call__(self, url):
        self.urls.append(url)
        return ds.IndexProbe(self.version, f"it has torch {self.version}" if self.version else self.detail)


def run(plan, pip, probe):
    said = []
    return ds.run_plan(plan, pip, probe, say=said.append), said


# --------------------------------------------------------------------------- which attempts


def test_no_gpu_cpu_index_reachable_pins_its_newest_torch():
    plan = ds.plan_attempts(NO_GPU, None, None)
    pip, probe = FakePip(True), FakeProbe("2.9.1+cpu")
    outcome, _ = run(plan, pip, probe)
    assert outcome.ok and outcome.attempt.source == ds.CPU_INDEX_NAME
    assert probe.urls == [ds.CPU_INDEX]
    # exactly one install, pinned to the probed version, from the CPU index only
    assert pip.calls == [("--index-url", ds.CPU_INDEX, "torch==2.9.1+cpu")]
    line = ds.summary_line(plan, outcome, "2.9.1+cpu", "CPU build")
    assert "PyTorch's CPU index" in line and "no NVIDIA GPU" in line


def test_no_gpu_cpu_index_unreachable_falls_back_to_the_pin():
    plan = ds.plan_attempts(NO_GPU, None, None)
    pip, probe = FakePip(True), FakeProbe(None)
    outcome, said = run(plan, pip, probe)
    assert outcome.ok and outcome.attempt.source == ds.DEFAULT_INDEX
    assert pip.calls == [(ds.PINNED_REQUIREMENT,)]  # no install tried against the unreachable index
    assert any("unreachable" in s for s in said)
    line = ds.summary_line(plan, outcome, "2.13.0+cpu", "CPU build")
    assert "default index" in line and "unreachable" in line and "torch==2.13.0" in line


def test_no_gpu_cpu_index_install_fails_shows_error_then_falls_back():
    plan = ds.plan_attempts(NO_GPU, None, None)
    pip, probe = FakePip(False, True), FakeProbe("2.9.1+cpu")
    outcome, said = run(plan, pip, probe)
    assert outcome.ok and outcome.attempt.source == ds.DEFAULT_INDEX
    assert pip.calls == [("--index-url", ds.CPU_INDEX, "torch==2.9.1+cpu"), (ds.PINNED_REQUIREMENT,)]
    assert any("ERROR: Could not find a version" in s for s in said)  # the failed attempt's error is shown
    assert any("failed" in note for note in outcome.notes)


def test_no_attempt_works_fails_with_a_clear_message():
    plan = ds.plan_attempts(NO_GPU, None, None)
    outcome, _ = run(plan, FakePip(False), FakeProbe(None))
    assert not outcome.ok and outcome.attempt is None
    msg = ds.failure_message(plan, outcome, ".venv/setup.log")
    assert msg.startswith("error: could not install torch")
    assert ds.ENV_VAR in msg and ".venv/setup.log" in msg
    assert "unreachable" in msg and "torch==2.13.0" in msg  # says what was tried


def test_gpu_installs_the_default_build_without_probing():
    plan = ds.plan_attempts(GPU, None, None)
    pip, probe = FakePip(True), FakeProbe("2.9.1+cpu")
    outcome, _ = run(plan, pip, probe)
    assert outcome.ok and pip.calls == [(ds.GPU_REQUIREMENT,)] and probe.urls == []
    assert "NVIDIA H200" in ds.summary_line(plan, outcome, "2.9.1", "CUDA 12.8 build")


def test_gpu_install_failure_does_not_fall_back_to_cpu():
    plan = ds.plan_attempts(GPU, None, None)
    pip = FakePip(False)
    outcome, _ = run(plan, pip, FakeProbe("2.9.1+cpu"))
    assert not outcome.ok and pip.calls == [(ds.GPU_REQUIREMENT,)]


@pytest.mark.parametrize("gpu", [NO_GPU, GPU])
def test_torch_already_installed_is_kept(gpu):
    plan = ds.plan_attempts(gpu, None, "2.13.0+cpu")
    pip, probe = FakePip(), FakeProbe("2.9.1+cpu")
    outcome, _ = run(plan, pip, probe)
    assert outcome.ok and outcome.attempt is None and pip.calls == [] and probe.urls == []
    assert "already installed" in ds.summary_line(plan, outcome, "2.13.0+cpu", "CPU build")


@pytest.mark.parametrize("installed", [None, "2.13.0+cpu"])
@pytest.mark.parametrize("gpu", [NO_GPU, GPU])
def test_env_var_is_the_only_attempt(gpu, installed):
    plan = ds.plan_attempts(gpu, "--index-url https://example.org/whl torch==2.5.1", installed)
    pip, probe = FakePip(False), FakeProbe("2.9.1+cpu")
    outcome, _ = run(plan, pip, probe)
    assert pip.calls == [("--index-url", "https://example.org/whl", "torch==2.5.1")]
    assert probe.urls == [] and not outcome.ok  # no fallback when the user chose
    assert ds.ENV_VAR in plan.reason


def test_blank_env_var_counts_as_unset():
    assert ds.plan_attempts(NO_GPU, "  ", None) == ds.plan_attempts(NO_GPU, None, None)


@pytest.mark.parametrize(
    "value, args",
    [
        ("torch==2.5.1", ("torch==2.5.1",)),
        ("--index-url https://example.org/whl/cu121", ("--index-url", "https://example.org/whl/cu121", "torch")),
        ("'torch>=2.4,<2.6' --no-cache-dir", ("torch>=2.4,<2.6", "--no-cache-dir")),
        ("/wheels/torch-2.5.1-cp311-cp311-linux_x86_64.whl", ("/wheels/torch-2.5.1-cp311-cp311-linux_x86_64.whl",)),
    ],
)
def test_parse_user_spec(value, args):
    assert ds.parse_user_spec(value) == args


def test_parse_user_spec_rejects_unbalanced_quotes():
    with pytest.raises(ValueError, match=ds.ENV_VAR):
        ds.parse_user_spec("--index-url 'https://x torch")


def test_plan_requirements_agree_with_pyproject():
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_dep = [d.replace(" ", "") for d in deps if d.startswith("torch")]
    assert torch_dep == [ds.GPU_REQUIREMENT]


# --------------------------------------------------------------------------- probes


class FakeRun:
    def __init__(self, returncode=0, stdout="", stderr="", raises=None):
        self.proc = subprocess.CompletedProcess([], returncode, stdout, stderr)
        self.raises, self.kwargs, self.cmd = raises, None, None

    def __call__(self, cmd, **kwargs):
        self.cmd, self.kwargs = cmd, kwargs
        if self.raises is not None:
            raise self.raises
        return self.proc


def test_probe_gpu_without_nvidia_smi():
    assert ds.probe_gpu(which=lambda name: None, run=FakeRun()) == ds.GpuProbe(False, "nvidia-smi not found")


def test_probe_gpu_lists_a_gpu():
    fake = FakeRun(stdout="GPU 0: NVIDIA H200 (UUID: GPU-1234)\n")
    probe = ds.probe_gpu(which=lambda name: "/usr/bin/nvidia-smi", run=fake)
    assert probe == ds.GpuProbe(True, "GPU 0: NVIDIA H200") and fake.cmd[-1] == "-L"


@pytest.mark.parametrize(
    "fake, said",
    [
        (FakeRun(returncode=9, stdout="NVIDIA-SMI has failed because it couldn't communicate with the driver\n"),
         "couldn't communicate"),
        (FakeRun(returncode=6, stdout="No devices were found\n"), "No devices"),
        (FakeRun(raises=subprocess.TimeoutExpired("nvidia-smi", 20)), "did not run"),
    ],
)
def test_probe_gpu_failures_mean_no_gpu(fake, said):
    probe = ds.probe_gpu(which=lambda name: "/usr/bin/nvidia-smi", run=fake)
    assert not probe.found and said in probe.detail


def test_probe_index_reads_the_newest_version_and_is_bounded():
    fake = FakeRun(stdout="torch (2.9.1+cpu)\nAvailable versions: 2.9.1+cpu, 2.9.0+cpu\n")
    probe = ds.probe_index(ds.CPU_INDEX, python="python", run=fake)
    assert probe.version == "2.9.1+cpu"
    cmd = fake.cmd
    assert cmd[cmd.index("--index-url") + 1] == ds.CPU_INDEX
    assert cmd[cmd.index("--timeout") + 1] == "5" and cmd[cmd.index("--retries") + 1] == "0"
    assert fake.kwargs["timeout"] == ds.PROBE_WALL_TIMEOUT_S


def test_probe_index_unreachable():
    out = ("Could not fetch URL https://download.pytorch.org/whl/cpu/torch/: connection error: Failed to resolve "
           "'download.pytorch.org' - skipping\n")
    probe = ds.probe_index(ds.CPU_INDEX, run=FakeRun(returncode=1, stdout=out,
                                                     stderr="ERROR: No matching distribution found for torch\n"))
    assert probe.version is None and probe.detail.startswith("unreachable (connection error: Failed to resolve")


def test_probe_index_wall_clock_bound():
    probe = ds.probe_index(ds.CPU_INDEX, run=FakeRun(raises=subprocess.TimeoutExpired("pip", 30)))
    assert probe.version is None and "30 s" in probe.detail


def test_probe_env_drops_other_package_sources():
    environ = {"PIP_FIND_LINKS": "/opt/wheels", "PIP_EXTRA_INDEX_URL": "file:///x", "PIP_CERT": "/c", "HOME": "/h"}
    env = ds.probe_env(environ)
    assert env == {"PIP_CERT": "/c", "HOME": "/h", "PIP_CONFIG_FILE": os.devnull}


# --------------------------------------------------------------------------- output


@pytest.mark.parametrize(
    "text, build",
    [
        ("__version__ = '2.13.0+cpu'\ncuda: Optional[str] = None\nhip: Optional[str] = None\n", "CPU build"),
        ("__version__ = '2.5.1'\ncuda: Optional[str] = '12.4'\nhip: Optional[str] = None\n", "CUDA 12.4 build"),
        ("cuda = None\nhip = '6.2.41133'\n", "ROCm 6.2.41133 build"),
    ],
)
def test_describe_build(text, build):
    assert ds.describe_build(text) == build


def test_warnings_are_counted_and_errors_kept():
    output = (
        "WARNING: Location 'file:///opt/pypi/simple/skorch/' is ignored: it is neither a file nor a directory.\n"
        "  /tmp/x/setuptools/config/_apply_pyprojecttoml.py:82: BuildBackendWarning: `project.license` as a TOML\n"
        "  !!\n"
        "          Please use a simple string containing a SPDX expression for `project.license`.\n"
        "ERROR: pip's dependency resolver does not currently take into account all the packages that are installed.\n"
        "skorch 1.0 requires scipy>=1.11, but you have scipy 1.10 which is incompatible.\n"
        "Successfully installed skcausalmm-0.1.0.dev0\n"
    )
    assert ds.count_warnings(output) == 2
    shown = ds.error_lines(output)
    assert shown[0].startswith("ERROR: pip's dependency resolver") and "skorch 1.0 requires" in shown[1]
    assert not any("WARNING" in line or "SPDX" in line or "Successfully" in line for line in shown)


def test_errors_of_a_successful_install_are_shown():
    plan = ds.plan_attempts(GPU, None, None)
    conflict = "ERROR: pip's dependency resolver does not currently take into account all the packages\n"
    outcome, said = run(plan, lambda args: ds.PipResult(True, "Collecting torch\n" + conflict), FakeProbe(None))
    assert outcome.ok and any("dependency resolver" in s for s in said)


def test_tail_keeps_the_last_lines():
    assert ds.tail("a\n\nb\nc\n", n=2) == ["b", "c"]


# --------------------------------------------------------------------------- ./dev


def test_dev_script_parses_and_lists_its_commands():
    assert subprocess.run(["bash", "-n", str(ROOT / "dev")], check=False).returncode == 0
    usage = subprocess.run([str(ROOT / "dev"), "help"], capture_output=True, text=True, check=False)
    assert usage.returncode == 0
    for cmd in ("setup", "demo", "test", "docs", "bench", "lint"):
        assert f"./dev {cmd}" in usage.stdout
    assert ds.ENV_VAR in usage.stdout
    unknown = subprocess.run([str(ROOT / "dev"), "no-such-command"], capture_output=True, text=True, check=False)
    assert unknown.returncode == 2 and "unknown command" in unknown.stderr
