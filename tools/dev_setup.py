"""Install torch and skcausalmm into ``./dev``'s virtual environment, saying what it does.

``./dev setup`` creates ``.venv`` and then runs this script with the virtual environment's
python. The script upgrades pip, installs torch, then installs the package in editable mode.
Which torch build it installs is decided here (:func:`plan_attempts`, :func:`run_plan`), in
functions that take the GPU probe, the index probe and the installer as arguments, so that
``tests/test_dev_setup.py`` checks every branch without a network or a GPU:

* ``SKCAUSALMM_TORCH`` set: ``pip install`` with exactly those arguments (split like shell
  words; ``torch`` is added when they name no torch requirement), and nothing else.
* torch already installed: keep it.
* an NVIDIA GPU (``nvidia-smi -L`` lists one): the default build, ``torch>=2.2``, from the
  configured index.
* no NVIDIA GPU: PyTorch's CPU wheel index, when a short probe (``pip index versions`` with
  ``--timeout 5 --retries 0`` and a wall-clock bound) finds a torch there; otherwise the pinned
  ``torch==2.13.0`` from the configured index. On machines that mirror a CPU wheel of that
  release (this project's CI) that is the CPU build; on other machines it may be a CUDA build,
  and the script says so.

Every pip call writes its full output to the log file; a failed call prints its last lines,
and a call that succeeds prints only its ``ERROR`` lines and a count of its warnings.

Run ``python tools/dev_setup.py --plan`` to print the decision for the running interpreter
without installing anything.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "SKCAUSALMM_TORCH"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PINNED_REQUIREMENT = "torch==2.13.0"
GPU_REQUIREMENT = "torch>=2.2"
DEFAULT_INDEX = "the default index"
CPU_INDEX_NAME = "PyTorch's CPU index"
PROBE_PIP_TIMEOUT_S = 5
PROBE_WALL_TIMEOUT_S = 30
GPU_PROBE_TIMEOUT_S = 20
TAIL_LINES = 15

# pip settings that add package sources; the probe drops them so that only the probed index answers.
_SOURCE_ENV = ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_NO_INDEX", "PIP_CONFIG_FILE")


@dataclass(frozen=True)
class GpuProbe:
    """Whether an NVIDIA GPU was found, and what the probe saw."""

    found: bool
    detail: str


@dataclass(frozen=True)
class Attempt:
    """One way to install torch.

    ``pip_args`` go to ``pip install``. When ``probe_index`` is set, the index is probed first
    and the newest torch found there is pinned exactly (``torch==<version>``), so that the
    wheel comes from that index and not from another configured source.
    """

    source: str
    pip_args: tuple[str, ...] = ()
    probe_index: str | None = None


@dataclass(frozen=True)
class Plan:
    """The attempts to make, in order, and why."""

    attempts: tuple[Attempt, ...]
    reason: str


@dataclass(frozen=True)
class PipResult:
    """The outcome of one pip call: its exit status and its output."""

    ok: bool
    output: str = ""


@dataclass(frozen=True)
class IndexProbe:
    """The newest torch on an index (``None`` when the index gave none), and what the probe saw."""

    version: str | None
    detail: str


@dataclass
class Outcome:
    """What :func:`run_plan` did: the attempt that worked (if any) and notes on the others."""

    ok: bool
    attempt: Attempt | None = None
    pip_args: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- probes


def probe_gpu(which: Callable = shutil.which, run: Callable = subprocess.run) -> GpuProbe:
    """Look for an NVIDIA GPU with ``nvidia-smi -L``."""
    exe = which("nvidia-smi")
    if exe is None:
        return GpuProbe(False, "nvidia-smi not found")
    try:
        proc = run([exe, "-L"], capture_output=True, text=True, timeout=GPU_PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        return GpuProbe(False, f"nvidia-smi did not run: {exc}")
    gpus = [line.strip() for line in (proc.stdout or "").splitlines() if line.strip().startswith("GPU ")]
    if proc.returncode == 0 and gpus:
        return GpuProbe(True, gpus[0].split(" (UUID")[0])
    said = _last_line(proc.stdout) or _last_line(proc.stderr) or "no output"
    return GpuProbe(False, f"nvidia-smi -L exited {proc.returncode}: {said}")


def probe_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for an index probe: pip's other package sources and config files removed."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k not in _SOURCE_ENV}
    env["PIP_CONFIG_FILE"] = os.devnull  # pip reads no configuration file, so no extra index or find-links
    return env


def probe_index(url: str, python: str = sys.executable, run: Callable = subprocess.run, log=None) -> IndexProbe:
    """Ask ``url`` for its newest torch, within a few seconds (pip's timeout and a wall-clock bound)."""
    cmd = [python, "-m", "pip", "index", "versions", "torch", "--index-url", url,
           "--timeout", str(PROBE_PIP_TIMEOUT_S), "--retries", "0", "-vv"]
    try:
        proc = run(cmd, capture_output=True, text=True, timeout=PROBE_WALL_TIMEOUT_S, env=probe_env())
    except subprocess.TimeoutExpired:
        return IndexProbe(None, f"no answer within {PROBE_WALL_TIMEOUT_S} s")
    except OSError as exc:
        return IndexProbe(None, f"pip did not run: {exc}")
    output = (proc.stdout or "") + (proc.stderr or "")
    if log is not None:
        log.write(f"$ {shlex.join(cmd)}\n{output}\n")
        log.flush()
    found = re.search(r"^torch \(([^)\s]+)\)\s*$", proc.stdout or "", flags=re.MULTILINE)
    if proc.returncode == 0 and found:
        return IndexProbe(found.group(1), f"it has torch {found.group(1)}")
    fetch = re.search(r"Could not fetch URL \S+: (.*?)(?: - skipping)?$", output, flags=re.MULTILINE)
    return IndexProbe(None, f"unreachable ({fetch.group(1)})" if fetch else (_last_line(output) or "no torch there"))


# --------------------------------------------------------------------------- decision


def parse_user_spec(value: str) -> tuple[str, ...]:
    """Split ``SKCAUSALMM_TORCH`` into ``pip install`` arguments; add ``torch`` if it names none."""
    try:
        args = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"{ENV_VAR}={value!r} cannot be split into pip arguments: {exc}") from None
    if not args:
        raise ValueError(f"{ENV_VAR} is set but empty; unset it or give a requirement such as 'torch==2.5.1'")
    names_torch = any(a.lower().startswith("torch") or a.lower().endswith(".whl") for a in args)
    return tuple(args) if names_torch else (*args, "torch")


def plan_attempts(gpu: GpuProbe, user_spec: str | None, installed: str | None) -> Plan:
    """Decide which installs of torch to try, in order.

    Parameters
    ----------
    gpu : GpuProbe
        The result of :func:`probe_gpu`.
    user_spec : str or None
        The value of ``SKCAUSALMM_TORCH`` (``None`` or blank when unset).
    installed : str or None
        The version of torch already installed, or ``None``.
    """
    if user_spec is not None and user_spec.strip():
        return Plan((Attempt(f"{ENV_VAR}", parse_user_spec(user_spec)),), f"{ENV_VAR} is set")
    if installed is not None:
        return Plan((), f"torch {installed} is already installed")
    if gpu.found:
        return Plan((Attempt(DEFAULT_INDEX, (GPU_REQUIREMENT,)),), f"an NVIDIA GPU was found ({gpu.detail})")
    return Plan(
        (Attempt(CPU_INDEX_NAME, ("--index-url", CPU_INDEX), probe_index=CPU_INDEX),
         Attempt(DEFAULT_INDEX, (PINNED_REQUIREMENT,))),
        f"no NVIDIA GPU was found ({gpu.detail})",
    )


def run_plan(plan: Plan, install: Callable[[Sequence[str]], PipResult], probe: Callable[[str], IndexProbe],
             say: Callable[[str], None] = print) -> Outcome:
    """Make the plan's attempts in order until one installs torch.

    ``install(pip_args)`` runs ``pip install`` and ``probe(url)`` probes an index; both are
    arguments so that tests can fake them. A failed attempt's last lines of output are passed
    to ``say``.
    """
    outcome = Outcome(ok=not plan.attempts)
    for attempt in plan.attempts:
        args = attempt.pip_args
        if attempt.probe_index is not None:
            say(f"   probing {attempt.source} ({attempt.probe_index}) ...")
            found = probe(attempt.probe_index)
            if found.version is None:
                say(f"   {attempt.source}: {found.detail}; skipping it")
                outcome.notes.append(f"{attempt.source} gave no torch: {found.detail}")
                continue
            args = (*args, f"torch=={found.version}")
        say(f"   installing {shlex.join(args)} from {attempt.source} ...")
        result = install(args)
        if result.ok:
            for line in error_lines(result.output):  # e.g. dependency conflicts, reported with exit status 0
                say(f"   | {line}")
            outcome.ok, outcome.attempt, outcome.pip_args = True, attempt, args
            return outcome
        say("   that failed; the last lines pip printed:")
        for line in tail(result.output):
            say(f"   | {line}")
        error = _last_line(result.output) or "no output"
        outcome.notes.append(f"{attempt.source} failed ({shlex.join(args)}): {error}")
    return outcome


def failure_message(plan: Plan, outcome: Outcome, log_path: str | None) -> str:
    """The error printed when no attempt installed torch."""
    tried = "; ".join(outcome.notes) or "nothing was tried"
    where = f" The full pip output is in {log_path}." if log_path else ""
    return (f"error: could not install torch ({plan.reason}). Tried: {tried}.{where} "
            f"Set {ENV_VAR} to pip arguments that work on this machine, e.g. {ENV_VAR}=\"torch==2.5.1\" or "
            f"{ENV_VAR}=\"--index-url {CPU_INDEX} torch\", or install torch into the environment yourself "
            f"and run the setup again.")


def describe_build(version_py: str) -> str:
    """Name the build ('CPU build', 'CUDA 12.1 build', ...) from the text of ``torch/version.py``."""
    values = {}
    for key in ("cuda", "hip", "xpu"):
        match = re.search(rf"^{key}\s*(?::[^=]*)?=\s*(.+)$", version_py, flags=re.MULTILINE)
        try:
            values[key] = ast.literal_eval(match.group(1).strip()) if match else None
        except (ValueError, SyntaxError):
            values[key] = "?"
    if values["cuda"]:
        return f"CUDA {values['cuda']} build"
    if values["hip"]:
        return f"ROCm {values['hip']} build"
    if values["xpu"]:
        return f"XPU {values['xpu']} build"
    return "CPU build"


def summary_line(plan: Plan, outcome: Outcome, version: str | None, build: str) -> str:
    """The one line that says which build is installed and why."""
    if outcome.attempt is None:
        return f"torch {version} ({build}) is already installed; keeping it"
    why = plan.reason + "".join(f"; {note}" for note in outcome.notes)
    return f"torch {version} ({build}) installed from {outcome.attempt.source} ({shlex.join(outcome.pip_args)}): {why}"


# --------------------------------------------------------------------------- pip output


def tail(output: str, n: int = TAIL_LINES) -> list[str]:
    """The last ``n`` non-blank lines of ``output``."""
    return [line.rstrip() for line in output.splitlines() if line.strip()][-n:]


def error_lines(output: str, limit: int = 30) -> list[str]:
    """The ``ERROR`` lines of a pip output, each with the lines that continue it."""
    shown, inside = [], False
    for line in output.splitlines():
        if line.startswith("ERROR"):
            inside = True
        elif not line.strip() or line.startswith(("WARNING", "Successfully", "Collecting", "Requirement already")):
            inside = False
        if inside:
            shown.append(line.rstrip())
    return shown[:limit]


_WARNING = re.compile(r"^(WARNING|DEPRECATION)\b|\b\w*Warning: ")


def count_warnings(output: str) -> int:
    """How many warnings pip and the build backend printed (``WARNING:`` lines, Python warnings)."""
    return sum(1 for line in output.splitlines() if _WARNING.search(line.strip()))


def _last_line(text: str | None) -> str:
    lines = tail(text or "", 1)
    return lines[0].strip() if lines else ""


# --------------------------------------------------------------------------- main


class _Pip:
    """Runs pip in the running interpreter, output appended to a log file."""

    def __init__(self, log):
        self.log = log

    def __call__(self, args: Sequence[str]) -> PipResult:
        cmd = [sys.executable, "-m", "pip", "install", "--progress-bar", "off", *args]
        self.log.write(f"$ {shlex.join(cmd)}\n")
        self.log.flush()
        start = self.log.tell()
        proc = subprocess.run(cmd, stdout=self.log, stderr=subprocess.STDOUT, check=False)
        self.log.flush()
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            output = f.read()
        return PipResult(proc.returncode == 0, output)


def installed_torch() -> tuple[str | None, str]:
    """The installed torch version and its build, read without importing torch."""
    importlib.invalidate_caches()
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None, "not installed"
    spec = importlib.util.find_spec("torch")
    version_py = Path(spec.origin).parent / "version.py" if spec and spec.origin else None
    if version_py is None or not version_py.is_file():
        return version, "unknown build"
    return version, describe_build(version_py.read_text(encoding="utf-8", errors="replace"))


def _step(what: str) -> float:
    print(f"== {what}", file=sys.stderr, flush=True)
    return time.monotonic()


def _done(start: float, result: PipResult | None = None, log_path: str = "") -> None:
    extra = ""
    if result is not None:
        for line in error_lines(result.output):
            print(f"   | {line}", file=sys.stderr)
        n = count_warnings(result.output)
        extra = f"; {n} warning(s), not errors, in {log_path}" if n else ""
    print(f"   done in {time.monotonic() - start:.0f} s{extra}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", default="setup.log", help="file that receives the full pip output")
    parser.add_argument("--editable", metavar="SPEC", help="install SPEC (e.g. '.[test,docs]') in editable mode last")
    parser.add_argument("--plan", action="store_true", help="print the torch decision and install nothing")
    opts = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    installed, build = installed_torch()
    version = installed
    gpu = probe_gpu()
    try:
        plan = plan_attempts(gpu, os.environ.get(ENV_VAR), installed)
    except ValueError as exc:
        say(f"error: {exc}")
        return 2
    if opts.plan:
        print(f"torch: {plan.reason}; installed now: {installed or 'none'}")
        for attempt in plan.attempts:
            pin = f" torch==<newest there> (if {attempt.probe_index} answers)" if attempt.probe_index else ""
            print(f"   would try {attempt.source}: pip install {shlex.join(attempt.pip_args)}{pin}")
        return 0

    Path(opts.log).write_text("", encoding="utf-8")
    with open(opts.log, "a", encoding="utf-8") as log:
        pip = _Pip(log)
        start = _step("upgrading pip")
        result = pip(["--upgrade", "pip"])
        if result.ok:
            _done(start)
        else:  # an old pip still works; say so and go on
            say("   could not upgrade pip (continuing with the one there); the last lines it printed:")
            for line in tail(result.output):
                say(f"   | {line}")

        if plan.attempts:
            start = _step(f"torch: {plan.reason}; trying {', then '.join(a.source for a in plan.attempts)}")
            outcome = run_plan(plan, pip, lambda url: probe_index(url, log=log), say=say)
            if not outcome.ok:
                say(failure_message(plan, outcome, opts.log))
                return 1
            version, build = installed_torch()
            _done(start)
        else:
            outcome = Outcome(ok=True)
        say(f"== {summary_line(plan, outcome, version, build)}")
        chosen_by_user = outcome.attempt is not None and outcome.attempt.source == ENV_VAR
        if not gpu.found and build.startswith("CUDA") and not chosen_by_user:
            say(f"   note: this is a CUDA build on a machine without an NVIDIA GPU; for the smaller CPU build set "
                f"{ENV_VAR}=\"--force-reinstall --index-url {CPU_INDEX} torch\" and run the setup again")

        if opts.editable:
            start = _step(f"installing {opts.editable} in editable mode (dependencies from the configured index)")
            result = pip(["-e", opts.editable])
            if not result.ok:
                say(f"error: pip install -e {opts.editable} failed; the last lines it printed:")
                for line in tail(result.output):
                    say(f"   | {line}")
                say(f"   (full output in {opts.log})")
                return 1
            _done(start, result, opts.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
