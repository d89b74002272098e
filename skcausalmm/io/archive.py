"""The model file as a zip archive: its members, written atomically, read by name with size limits."""

import json
import os
import uuid
import zipfile

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _load_safetensors

__all__ = ["HISTORY", "MEMBERS", "META", "WEIGHTS", "parse_json", "read_members", "read_weights", "write_archive"]

META = "estimator.json"
WEIGHTS = "weights.safetensors"
HISTORY = "history.json"
MEMBERS = (META, WEIGHTS, HISTORY)

#: Largest JSON member read (bytes); a model's JSON is far smaller.
_MAX_JSON_BYTES = 256 * 2**20


def write_archive(path, meta, weights, history):
    """Write the members (``meta``: a JSON-ready dict; ``weights``: bytes; ``history``: a JSON string or None).

    A temporary file beside the target, then an atomic rename (``open(..., "xb")`` keeps the
    umask's permissions); the temporary file is removed if anything fails. Returns the path.
    """
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as handle, zipfile.ZipFile(handle, "w") as archive:
            archive.writestr(
                META, json.dumps(meta, separators=(",", ":"), allow_nan=False), compress_type=zipfile.ZIP_DEFLATED
            )
            archive.writestr(WEIGHTS, weights, compress_type=zipfile.ZIP_STORED)
            if history is not None:
                archive.writestr(HISTORY, history, compress_type=zipfile.ZIP_DEFLATED)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_members(path):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"{path!r} is not a skcausalmm model file (not a zip archive written by save): {exc}"
        ) from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{path!r}: member {duplicated[0]!r} appears twice; the file was tampered with.")
        unknown = [n for n in names if n not in MEMBERS]
        if unknown:
            raise ValueError(
                f"{path!r}: unexpected member {unknown[0]!r}; a skcausalmm model file holds only {list(MEMBERS)}."
            )
        for required in (META, WEIGHTS):
            if required not in names:
                raise ValueError(f"{path!r}: the member {required!r} is missing; this is not a complete model file.")
        members = {}
        for info in infos:
            if info.filename != WEIGHTS and info.file_size > _MAX_JSON_BYTES:
                raise ValueError(f"{path!r}: {info.filename!r} is implausibly large ({info.file_size} bytes).")
            try:
                members[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ValueError(f"{path!r}: cannot read {info.filename!r}: {exc}") from None
    return members


def parse_json(raw, member):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also ints too long to parse
        raise ValueError(f"{member} is not valid UTF-8 JSON: {exc}") from None

def read_weights(raw):
    try:
        tensors = _load_safetensors(raw)
    except (SafetensorError, ValueError, RuntimeError, TypeError, OverflowError) as exc:
        raise ValueError(f"{WEIGHTS} is not a valid safetensors file: {exc}") from None
    for key, value in tensors.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f"{WEIGHTS}: tensor {key!r} holds NaN or infinite values.")
    return tensors
