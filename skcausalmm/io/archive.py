"""The model file as a zip archive: its members, written atomically, read by name with size limits.

Reading trusts no size the file declares. Before anything is decompressed, the zip's central
directory (its size and member count) and each member's declared size are checked against the
limits below; members are then read as streams that stop at the limit, whatever the zip headers
say. The weights member is opened by its safetensors header alone (bounded, checked: dtypes,
shapes, contiguous offsets that fill the member exactly); a tensor's bytes are read only when
:mod:`~skcausalmm.io.state` has checked its name, shape and dtype against the rebuilt network it
is loaded into (:meth:`Weights.read`). Every refusal is a ``ValueError`` naming the member, the
size found and the limit.

The limits are module attributes, read at each :func:`~skcausalmm.io.load`: a trusted file
beyond them loads after raising the limit (e.g. ``skcausalmm.io.archive.MAX_WEIGHTS_BYTES``).
"""

import json
import math
import os
import struct
import uuid
import zipfile
import zlib
from collections import Counter

import torch

__all__ = [
    "HISTORY",
    "MAX_DIRECTORY_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_JSON_BYTES",
    "MAX_MEMBERS",
    "MAX_WEIGHTS_BYTES",
    "MEMBERS",
    "META",
    "WEIGHTS",
    "ModelFile",
    "TensorSpec",
    "Weights",
    "parse_json",
    "write_archive",
]

META = "estimator.json"
WEIGHTS = "weights.safetensors"
HISTORY = "history.json"
MEMBERS = (META, WEIGHTS, HISTORY)

#: Most members a zip may list to be opened at all (a model file has three; up to this many,
#: an unexpected one is refused by name).
MAX_MEMBERS = 16

#: Largest central directory read (bytes); three members take a few hundred.
MAX_DIRECTORY_BYTES = 2**20

#: Largest JSON member, decompressed (bytes): a model's JSON takes kilobytes, a history about
#: 65 bytes a batch; parsing this much JSON already takes a fraction of a second and ~25 times
#: its size in memory.
MAX_JSON_BYTES = 16 * 2**20

#: Largest safetensors header of the weights member (bytes); it takes about 100 bytes a tensor.
MAX_HEADER_BYTES = 4 * 2**20

#: Largest total size of the tensors the weights header declares (bytes): the networks of the
#: package, with their optimiser state, take megabytes. Each tensor is also checked against the
#: network it is loaded into before its bytes are read; this limit bounds the rest (the buffers a
#: module sizes from the file, such as the front-door dictionary).
MAX_WEIGHTS_BYTES = 2**30

#: Bytes decompressed at a time.
_CHUNK = 2**20

#: safetensors dtypes a model file may hold, with their torch dtype and size in bytes.
_DTYPES = {
    "BOOL": (torch.bool, 1),
    "U8": (torch.uint8, 1),
    "I8": (torch.int8, 1),
    "I16": (torch.int16, 2),
    "I32": (torch.int32, 4),
    "I64": (torch.int64, 8),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "F32": (torch.float32, 4),
    "F64": (torch.float64, 8),
}

_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, zlib.error)


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


def parse_json(raw, member):
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{member} is nested too deeply to be a model file's JSON.") from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also ints too long to parse
        raise ValueError(f"{member} is not valid UTF-8 JSON: {exc}") from None


def _directory(handle):
    """``(member count, central directory bytes)`` from the zip's end records, or None if it has none."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    tail_size = min(size, 22 + 65535)  # the end record and the longest comment
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries, directory_size, directory_offset = struct.unpack("<HLL", tail[at + 10 : at + 20])
    if entries == 0xFFFF or 0xFFFFFFFF in (directory_size, directory_offset):  # zip64: its own end record
        locator = at - 20
        record = locator - 56
        if record < 0 or tail[locator : locator + 4] != b"PK\x06\x07" or tail[record : record + 4] != b"PK\x06\x06":
            return None
        entries, directory_size = struct.unpack("<QQ", tail[record + 24 : record + 40])
    return entries, directory_size


class ModelFile:
    """An open model file: its members checked by name and declared size, read on demand with hard limits.

    A context manager; ``FileNotFoundError`` propagates, any other failure to open it as a
    model file is a ``ValueError``.
    """

    def __init__(self, path):
        self.path = path
        try:
            self._handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise ValueError(f"{path!r} is not a skcausalmm model file (cannot be read: {exc})") from None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self):
        path = self.path
        try:
            directory = _directory(self._handle)
        except OSError as exc:
            raise ValueError(f"{path!r} is not a skcausalmm model file (cannot be read: {exc})") from None
        if directory is not None:
            entries, directory_size = directory
            if entries > MAX_MEMBERS:
                raise ValueError(
                    f"{path!r} is a zip of {entries} members; a skcausalmm model file holds {list(MEMBERS)} "
                    f"(the limit is {MAX_MEMBERS} members)."
                )
            if directory_size > MAX_DIRECTORY_BYTES:
                raise ValueError(
                    f"{path!r}: the zip's central directory takes {directory_size} bytes; the limit is "
                    f"{MAX_DIRECTORY_BYTES} bytes (a model file's takes a few hundred)."
                )
        try:
            self._zip = zipfile.ZipFile(self._handle)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(
                f"{path!r} is not a skcausalmm model file (not a zip archive written by save): {exc}"
            ) from None
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(
                f"{path!r} is a zip of {len(infos)} members; a skcausalmm model file holds {list(MEMBERS)} "
                f"(the limit is {MAX_MEMBERS} members)."
            )
        names = [info.filename for info in infos]
        duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
        if duplicated:
            raise ValueError(f"{path!r}: member {duplicated[0]!r} appears twice; the file was tampered with.")
        unknown = [n for n in names if n not in MEMBERS]
        if unknown:
            raise ValueError(
                f"{path!r}: unexpected member {unknown[0]!r:.80}; a skcausalmm model file holds only {list(MEMBERS)}."
            )
        for required in (META, WEIGHTS):
            if required not in names:
                raise ValueError(f"{path!r}: the member {required!r} is missing; this is not a complete model file.")
        for info in infos:
            if info.flag_bits & 0x1:
                raise ValueError(f"{path!r}: the member {info.filename!r} is encrypted; save never encrypts.")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(
                    f"{path!r}: the member {info.filename!r} uses zip compression method {info.compress_type}; "
                    "a model file's members are stored or deflated."
                )
            limit = _member_limit(info.filename)
            if info.file_size > limit:
                raise ValueError(
                    f"{path!r}: the member {info.filename!r} declares {info.file_size} bytes; the limit is "
                    f"{limit} bytes{_LIMIT_NAMES[info.filename == WEIGHTS]}."
                )
        self._infos = {info.filename: info for info in infos}

    def __contains__(self, name):
        return name in self._infos

    def read(self, name):
        """The bytes of a member, read as a stream that stops past its limit whatever the zip says."""
        limit = _member_limit(name)
        parts, size = [], 0
        try:
            with self._zip.open(self._infos[name]) as stream:
                while size <= limit:
                    chunk = stream.read(min(_CHUNK, limit + 1 - size))
                    if not chunk:
                        break
                    parts.append(chunk)
                    size += len(chunk)
        except _READ_ERRORS as exc:
            raise ValueError(f"{self.path!r}: cannot read {name!r}: {exc}") from None
        if size > limit:
            raise ValueError(
                f"{self.path!r}: the member {name!r} decompresses to more than its limit of {limit} bytes "
                f"(it declares {self._infos[name].file_size}){_LIMIT_NAMES[name == WEIGHTS]}."
            )
        return b"".join(parts)

    def read_json(self, name):
        return parse_json(self.read(name), name)

    def weights(self):
        """The weights member, opened by its checked safetensors header (no tensor data is read)."""
        self._weights = Weights(self._zip, self._infos[WEIGHTS], self.path)
        return self._weights

    def close(self):
        weights = getattr(self, "_weights", None)
        if weights is not None:
            weights.close()
        zip_file = getattr(self, "_zip", None)
        if zip_file is not None:
            zip_file.close()
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


_LIMIT_NAMES = (
    " (skcausalmm.io.archive.MAX_JSON_BYTES)",
    " (8 + skcausalmm.io.archive.MAX_HEADER_BYTES + MAX_WEIGHTS_BYTES: the header length, header and tensors)",
)


def _member_limit(name):
    return 8 + MAX_HEADER_BYTES + MAX_WEIGHTS_BYTES if name == WEIGHTS else MAX_JSON_BYTES


class TensorSpec:
    """One tensor of the weights header: its name, torch dtype, shape and byte range in the data."""

    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name, dtype, shape, begin, end):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, torch.Size(shape), begin, end

    def dim(self):
        return len(self.shape)

    @property
    def nbytes(self):
        return self.end - self.begin

    def __repr__(self):
        return f"TensorSpec({self.name!r}, {self.dtype}, {tuple(self.shape)})"


def _bad(reason):
    return ValueError(f"{WEIGHTS} is not a valid safetensors file: {reason}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _unique_object(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _bad(f"the header names {sorted(k for k, c in Counter(keys).items() if c > 1)[0]!r:.80} twice.")
    return dict(pairs)


def _parse_header(raw, data_size):
    """``{name: TensorSpec}`` from a safetensors header, checked against the member's ``data_size`` bytes."""
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_object)
    except RecursionError:
        raise _bad("its header is nested too deeply.") from None
    except (UnicodeDecodeError, ValueError) as exc:
        if str(exc).startswith(f"{WEIGHTS} "):
            raise
        raise _bad(f"its header is not UTF-8 JSON ({exc}).") from None
    if not isinstance(header, dict):
        raise _bad("its header is not a JSON object.")
    metadata = header.pop("__metadata__", {})
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _bad("its __metadata__ must map strings to strings.")
    specs = {}
    for name, entry in header.items():
        where = f"tensor {name!r:.80}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _bad(f"{where} must hold exactly 'dtype', 'shape' and 'data_offsets'.")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise _bad(f"{where} has dtype {dtype!r:.40}, not one of {sorted(_DTYPES)}.")
        if not (isinstance(shape, list) and all(_is_int(s) and s >= 0 for s in shape)):
            raise _bad(f"{where}: its shape must be a list of non-negative ints.")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise _bad(f"{where}: its data_offsets must be [begin, end] ints.")
        begin, end = offsets
        torch_dtype, itemsize = _DTYPES[dtype]
        needed = math.prod(shape) * itemsize
        if not 0 <= begin <= end or end - begin != needed:
            raise _bad(
                f"{where}: its data_offsets {offsets} span {end - begin} bytes; its shape {shape} of {dtype} "
                f"takes {needed}."
            )
        specs[name] = TensorSpec(name, torch_dtype, shape, begin, end)
    total = max((spec.end for spec in specs.values()), default=0)
    if total > MAX_WEIGHTS_BYTES:
        raise ValueError(
            f"{WEIGHTS}: its header declares {total} bytes of tensors; the limit is {MAX_WEIGHTS_BYTES} bytes "
            "(skcausalmm.io.archive.MAX_WEIGHTS_BYTES)."
        )
    position = 0
    for spec in sorted(specs.values(), key=lambda s: (s.begin, s.end)):
        if spec.begin != position:
            problem = "overlaps the tensor before it" if spec.begin < position else "leaves a gap before it"
            raise _bad(f"tensor {spec.name!r:.80} (bytes {spec.begin} to {spec.end}) {problem}.")
        position = spec.end
    if position != data_size:
        raise _bad(f"its tensors take {position} bytes, but the member holds {data_size} bytes of data after the header.")
    return specs


class Weights:
    """The weights member: its header checked on opening, each tensor's bytes read on demand, bounded.

    ``specs`` maps every tensor name to its :class:`TensorSpec`; :meth:`read` reads the
    given tensors (only once their shapes were checked: a tensor's size is its network's);
    :meth:`finish` reads the rest of the member, so that the zip's checksum is verified.
    """

    def __init__(self, zip_file, info, path):
        self._zip, self._info, self._path = zip_file, info, path
        self._stream, self._position = None, 0
        if info.file_size < 8:
            raise _bad(f"the member holds {info.file_size} bytes, fewer than the 8 of the header length.")
        (header_size,) = struct.unpack("<Q", self._read_exactly(8, "the header length"))
        if header_size > MAX_HEADER_BYTES:
            raise _bad(
                f"its header declares {header_size} bytes; the limit is {MAX_HEADER_BYTES} bytes "
                "(skcausalmm.io.archive.MAX_HEADER_BYTES)."
            )
        if 8 + header_size > info.file_size:
            raise _bad(f"its header of {header_size} bytes does not fit the member's {info.file_size} bytes.")
        raw = self._read_exactly(header_size, "the header")
        self._data_start = 8 + header_size
        self.specs = _parse_header(bytes(raw), info.file_size - self._data_start)

    def _open(self):
        if self._stream is not None:
            self._stream.close()
        self._stream, self._position = self._zip.open(self._info), 0

    def _read_exactly(self, size, what):
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        try:
            if self._stream is None:
                self._open()
            while got < size:
                chunk = self._stream.read(min(_CHUNK, size - got))
                if not chunk:
                    raise _bad(f"the member ends inside {what} ({got} of {size} bytes).")
                view[got : got + len(chunk)] = chunk
                got += len(chunk)
        except _READ_ERRORS as exc:
            raise ValueError(f"{self._path!r}: cannot read {WEIGHTS}: {exc}") from None
        self._position += size
        return buffer

    def _skip_to(self, position):
        try:
            if self._stream is None or position < self._position:
                self._open()
            while self._position < position:
                chunk = self._stream.read(min(_CHUNK, position - self._position))
                if not chunk:
                    raise _bad(f"the member ends after {self._position} of {position} bytes.")
                self._position += len(chunk)
        except _READ_ERRORS as exc:
            raise ValueError(f"{self._path!r}: cannot read {WEIGHTS}: {exc}") from None

    def read(self, specs):
        """``{name: tensor}`` of ``specs`` (of :attr:`specs`), read in file order; floats must be finite."""
        tensors = {}
        for spec in sorted(specs, key=lambda s: s.begin):
            if self.specs.get(spec.name) is not spec:
                raise ValueError(f"{WEIGHTS}: {spec.name!r} is not a tensor of this file.")  # pragma: no cover
            self._skip_to(self._data_start + spec.begin)
            raw = self._read_exactly(spec.nbytes, f"tensor {spec.name!r}")
            if spec.nbytes == 0:
                tensor = torch.empty(tuple(spec.shape), dtype=spec.dtype)
            else:
                if spec.dtype == torch.bool and torch.frombuffer(raw, dtype=torch.uint8).max() > 1:
                    raise ValueError(f"{WEIGHTS}: the bool tensor {spec.name!r} holds bytes other than 0 and 1.")
                tensor = torch.frombuffer(raw, dtype=spec.dtype).reshape(tuple(spec.shape))
                # the extremes are finite if and only if every value is (NaN propagates): one pass, no mask
                if tensor.is_floating_point() and not all(torch.isfinite(v) for v in torch.aminmax(tensor)):
                    raise ValueError(f"{WEIGHTS}: tensor {spec.name!r} holds NaN or infinite values.")
            tensors[spec.name] = tensor
        return tensors

    def finish(self):
        """Read to the end of the member (its tensors were all loaded), which verifies the zip's checksum."""
        self._skip_to(self._info.file_size)
        try:
            if self._stream.read(1):
                raise _bad("the member holds more bytes than it declares.")  # pragma: no cover - zipfile stops
        except _READ_ERRORS as exc:
            raise ValueError(f"{self._path!r}: cannot read {WEIGHTS}: {exc}") from None
        self.close()

    def close(self):
        if self._stream is not None:
            self._stream.close()
            self._stream = None
