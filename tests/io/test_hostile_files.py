"""Hostile model files: load refuses them with a ValueError naming the problem, quickly, before reading what they inflate to.

Each file is crafted from a real saved model; the inflated ones hold 64 MiB of zeros deflated
to a few kilobytes. ``refused_quickly`` bounds the time and the Python memory (tracemalloc) the
refusal takes, far below the inflated size; a clean file loads within the same bounds.
"""

import json
import re
import struct
import time
import tracemalloc
import zipfile

import pytest
import torch

from skcausalmm import CausalInfoMinClassifier, LateFusionClassifier
from skcausalmm.io import archive, load, save

from .test_io import make_data, small

torch.set_num_threads(1)

#: Bytes the inflated members decompress to.
INFLATED = 64 * 2**20

#: What a refusal may take: far below INFLATED.
SECONDS, PEAK_BYTES = 1.0, 8 * 2**20

WEIGHTS, META, HISTORY = "weights.safetensors", "estimator.json", "history.json"


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """The members of a real model file (a small fitted LateFusionClassifier)."""
    X, y = make_data()
    path = save(small(LateFusionClassifier).fit(X, y), tmp_path_factory.mktemp("clean") / "model.zip")
    with zipfile.ZipFile(path) as zipped:
        return {name: zipped.read(name) for name in zipped.namelist()}


def write(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path


def split(weights):
    """``(header, data)`` of safetensors bytes."""
    (size,) = struct.unpack("<Q", weights[:8])
    return json.loads(weights[8 : 8 + size]), weights[8 + size :]


def join(header, data):
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def rebuild(weights, changes):
    """Safetensors bytes with consistent offsets, the tensors of ``changes`` ({name: (dtype, shape)}) as zeros."""
    header, data = split(weights)
    metadata = header.pop("__metadata__", None)
    entries = {name: (entry["dtype"], entry["shape"], entry["data_offsets"]) for name, entry in header.items()}
    for name, (dtype, shape) in changes.items():
        entries[name] = (dtype, shape, None)
    new_header, parts, position = {"__metadata__": metadata} if metadata else {}, [], 0
    for name, (dtype, shape, offsets) in entries.items():
        if offsets is None:
            size = {"F32": 4, "F64": 8}[dtype] * int(torch.tensor(shape).prod())
            parts.append(bytes(size))
        else:
            parts.append(data[offsets[0] : offsets[1]])
        new_header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [position, position + len(parts[-1])]}
        position += len(parts[-1])
    return join(new_header, b"".join(parts))


def refused_quickly(path, match):
    """``load(path)`` raises a ValueError matching ``match``, within SECONDS and PEAK_BYTES of Python memory."""
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(ValueError) as raised:
            load(path, device="cpu")
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < SECONDS, f"the refusal took {seconds:.2f} s ({raised.value})"
    assert peak < PEAK_BYTES, f"the refusal allocated {peak} bytes ({raised.value})"
    assert re.search(match, str(raised.value)), str(raised.value)
    return raised.value


def test_a_clean_file_loads_within_the_same_bounds(members, tmp_path):
    # the control: the bounds of refused_quickly leave room for a real load
    path = write(tmp_path / "clean.zip", members)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        loaded = load(path, device="cpu")
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert type(loaded) is LateFusionClassifier
    assert seconds < SECONDS and peak < PEAK_BYTES


# ------------------------------------------------------------------------- the weights member
def _trailing_data(weights):
    return weights + bytes(INFLATED)


def _module_tensor_too_large(weights):
    return rebuild(weights, {"module.head.weight": ("F32", [4096, 4096])})


def _optimizer_tensor_too_large(weights):
    return rebuild(weights, {"optimizer.optimizer.0.exp_avg": ("F32", [4096, 4096])})


def _extra_tensor(weights):
    return rebuild(weights, {"module.evil": ("F32", [INFLATED // 4])})


def _declared_over_the_limit(weights):
    header, data = split(weights)
    header["module.evil"] = {"dtype": "F32", "shape": [2**29], "data_offsets": [len(data), len(data) + 2**31]}
    return join(header, data + bytes(INFLATED))


def _header_length_over_the_limit(weights):
    return struct.pack("<Q", 2**30) + bytes(INFLATED)


def _overlapping_offsets(weights):
    header, data = split(weights)
    begin, end = header["module.head.weight"]["data_offsets"]
    header["module.head.weight"]["data_offsets"] = [begin - 4, end - 4]
    return join(header, data + bytes(INFLATED))


def _offsets_larger_than_the_shape(weights):
    header, data = split(weights)
    header = {k: v for k, v in header.items() if k == "__metadata__" or v["data_offsets"][1] <= len(data)}
    header["module.tail"] = {"dtype": "F32", "shape": [3, 16], "data_offsets": [len(data), len(data) + INFLATED]}
    return join(header, data + bytes(INFLATED))


def _unknown_dtype(weights):
    header, data = split(weights)
    header["module.head.weight"]["dtype"] = "C64"
    return join(header, data + bytes(INFLATED))


def _negative_shape(weights):
    header, data = split(weights)
    header["module.head.weight"]["shape"] = [-3, -16]
    return join(header, data + bytes(INFLATED))


@pytest.mark.parametrize(
    "tamper, message",
    [
        (_trailing_data, r"take \d+ bytes, but the member holds \d+ bytes of data"),
        (_module_tensor_too_large, r"module\.head\.weight has shape \(4096, 4096\), the network expects \(3, 16\)"),
        (_optimizer_tensor_too_large, r"optimizer\.optimizer\.0\.exp_avg has shape \(4096, 4096\)"),
        (_extra_tensor, "unexpected tensor 'module.evil'"),
        (_declared_over_the_limit, rf"declares \d+ bytes of tensors; the limit is {archive.MAX_WEIGHTS_BYTES} bytes"),
        (_header_length_over_the_limit, rf"header declares {2**30} bytes; the limit is {archive.MAX_HEADER_BYTES}"),
        (_overlapping_offsets, r"'module\.head\.weight' \(bytes \d+ to \d+\) overlaps the tensor before it"),
        (_offsets_larger_than_the_shape, rf"'module\.tail'.* span {INFLATED} bytes; its shape \[3, 16\] of F32 takes 192"),
        (_unknown_dtype, "'module.head.weight' has dtype 'C64'"),
        (_negative_shape, "'module.head.weight': its shape must be a list of non-negative ints"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "message",
)
def test_inflated_weights_are_refused_before_they_are_read(tamper, message, members, tmp_path):
    path = write(tmp_path / "bomb.zip", {**members, WEIGHTS: tamper(members[WEIGHTS])})
    assert path.stat().st_size < 2**20  # a small file that inflates to more than 64 MiB
    refused_quickly(path, message)


def test_a_lower_weights_limit_refuses_a_real_file(members, tmp_path, monkeypatch):
    # the limit applies to what the header declares, checked before any tensor is read
    monkeypatch.setattr(archive, "MAX_WEIGHTS_BYTES", 1024)
    path = write(tmp_path / "model.zip", members)
    refused_quickly(path, r"declares \d+ bytes of tensors; the limit is 1024 bytes")


def test_optimizer_state_cannot_multiply_the_network(members, tmp_path):
    # every state tensor has its parameter's shape, but a file may not add them without end
    extra = {f"optimizer.optimizer.0.copy{i}": ("F32", [8, 4]) for i in range(9)}
    meta = json.loads(members[META])
    meta["net"]["optimizers"]["optimizer"]["tensors"] += [f"optimizer.0.copy{i}" for i in range(9)]
    path = write(tmp_path / "copies.zip", {**members, META: json.dumps(meta), WEIGHTS: rebuild(members[WEIGHTS], extra)})
    refused_quickly(path, "parameter 0 of optimizer.optimizer holds more than 8 tensors")


# ------------------------------------------------------------------------- the zip and its JSON
@pytest.mark.parametrize("member", [META, HISTORY])
def test_a_huge_json_member_is_refused_before_it_is_read(member, members, tmp_path):
    # valid JSON (whitespace after the value) beyond the limit: a 17 MiB member in a small file
    path = write(tmp_path / "huge.zip", {**members, member: members[member] + b" " * (17 * 2**20)})
    assert path.stat().st_size < 2**20
    refused_quickly(path, rf"'{member}' declares \d+ bytes; the limit is {archive.MAX_JSON_BYTES} bytes")


def test_a_zip_of_thousands_of_members_is_refused(members, tmp_path):
    padding = {f"pad/{i:04d}": b"" for i in range(5000 - len(members))}
    path = write(tmp_path / "many.zip", {**members, **padding}, compression=zipfile.ZIP_STORED)
    refused_quickly(path, rf"a zip of 5000 members; .*the limit is {archive.MAX_MEMBERS} members")


def test_a_member_compressed_otherwise_is_refused(members, tmp_path):
    # bzip2 and lzma decompress without an output bound in zipfile: save only stores and deflates
    path = write(tmp_path / "bz2.zip", members, compression=zipfile.ZIP_BZIP2)
    refused_quickly(path, "uses zip compression method 12")


def test_deeply_nested_json_in_a_nested_estimator_is_refused(tmp_path):
    # JSON the parser takes, too deep to decode: a ValueError, not a RecursionError
    X, y = make_data()
    est = small(CausalInfoMinClassifier, method="ate", confounder_modality="b", n_confounders=3, code_size=2).fit(X, y)
    path = save(est, tmp_path / "ate.zip")
    with zipfile.ZipFile(path) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    meta = json.loads(members[META])
    assert "history" in meta["fitted"]["biased_estimator_"]["__estimator__"]
    deep = "[" * 800 + "]" * 800
    meta["fitted"]["biased_estimator_"]["__estimator__"]["history"] = "DEEP"
    text = json.dumps(meta).replace('"DEEP"', deep)
    refused_quickly(write(tmp_path / "deep.zip", {**members, META: text}), "nested too deeply")


@pytest.mark.parametrize(
    "changes, message",
    [
        (lambda n, w: {"contexts": [n * 64, w["contexts"]], "auxiliaries": [n * 64, w["auxiliaries"]],
                       "weights": [n * 64]}, r"has \d+ entries; dictionary_size=\d+ allows at most that many"),
        (lambda n, w: {"contexts": [n, w["contexts"] + 4096]}, r"contexts has shape \(\d+, \d+\); this network's"),
        (lambda n, w: {"prototype_contexts": [n + 1, w["contexts"]], "prototype_auxiliaries": [n + 1, w["auxiliaries"]],
                       "prototype_weights": [n + 1]}, r"prototypes for \d+ entries; it cannot have more"),
    ],
    ids=["too-many-entries", "wrong-width", "more-prototypes-than-entries"],
)
def test_front_door_dictionary_is_bounded_by_its_parameters(changes, message, tmp_path):
    # the dictionary's buffers take their shapes from the file: dictionary_size and the
    # network's widths bound them before a byte of them is read
    from skcausalmm import FrontDoorMultimodalClassifier

    X, y = make_data()
    est = small(FrontDoorMultimodalClassifier, auxiliary="confounder", dictionary_size=16).fit(X, y)
    path = save(est, tmp_path / "fd.zip")
    with zipfile.ZipFile(path) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    header, _ = split(members[WEIGHTS])
    prefix = "module.dictionary."
    n = header[prefix + "contexts"]["shape"][0]
    widths = {k: header[prefix + k]["shape"][1] for k in ("contexts", "auxiliaries")}
    tampered = rebuild(members[WEIGHTS], {prefix + k: ("F32", v) for k, v in changes(n, widths).items()})
    bomb = write(tmp_path / "bomb.zip", {**members, WEIGHTS: tampered})
    refused_quickly(bomb, message)
    assert type(load(path, device="cpu")) is FrontDoorMultimodalClassifier
