"""The skorch net's state in a model file: the network parts' tensors and the optimiser state.

The weights member holds the state dicts of the network (``module.``), the fixed input
layer (``standardizer.``) and the loss (``criterion.``), the optimiser state's tensors
(``optimizer.<name>.<index>.<key>``) and the tensors of nested estimators
(``fitted.<attribute>.``); the optimiser state's structure is JSON. Loading checks every
key, shape and dtype against the rebuilt net before the tensor's bytes are read.
"""

import math
import numbers
import re
import warnings

import torch

from .archive import META, WEIGHTS, TensorSpec
from .codec import Unencodable, encode

__all__ = ["FITTED_PREFIX", "OPTIMIZER_PREFIX", "group_tensors", "load_optimizers", "load_weights", "optimizer_state", "state_tensors"]

#: Network parts saved, as (prefix in the weights file, attribute of the skorch net).
_PARTS = (("module", "module_"), ("standardizer", "standardizer_"), ("criterion", "criterion_"))

#: Prefix of the optimiser state's tensors, and of the tensors of nested estimators.
OPTIMIZER_PREFIX = "optimizer"
FITTED_PREFIX = "fitted"

#: Most state tensors one parameter's optimiser state may hold (Adam with amsgrad has four).
_MAX_STATE_TENSORS = 8

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def state_tensors(net):
    """Every tensor of the saved network parts, on the CPU, with prefixed keys."""
    tensors = {}
    for prefix, attribute in _PARTS:
        part = getattr(net, attribute, None)
        if part is None:
            continue
        for key, value in part.state_dict().items():
            tensors[f"{prefix}.{key}"] = value.detach().to("cpu").contiguous().clone()
    return tensors


def _optimizer_names(net):
    return [name for name in getattr(net, "_optimizers", None) or ["optimizer"] if hasattr(net, name + "_")]


def optimizer_state(net, name):
    """The JSON structure and the tensors (keys ``optimizer.<name>.<index>.<key>``) of the net's optimisers.

    Returns ``(None, {})``, with a warning, when a state is not plain data.
    """
    spec, tensors = {}, {}
    try:
        for opt_name in _optimizer_names(net):
            if not _IDENTIFIER.match(opt_name):
                raise Unencodable("the optimiser's name", opt_name)
            state_dict = getattr(net, opt_name + "_").state_dict()
            plain, tensor_keys = {}, []
            for index, entries in state_dict["state"].items():
                if isinstance(index, bool) or not isinstance(index, int):
                    raise Unencodable(f"{opt_name} state (a key)", index)
                plain[index] = {}
                for key, value in entries.items():
                    if not (isinstance(key, str) and _IDENTIFIER.match(key)):
                        raise Unencodable(f"{opt_name} state[{index}] (a key)", key)
                    if isinstance(value, torch.Tensor):
                        if value.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
                            raise Unencodable(f"{opt_name} state[{index}][{key!r}]", value)
                        full = f"{OPTIMIZER_PREFIX}.{opt_name}.{index}.{key}"
                        tensors[full] = value.detach().to("cpu").contiguous().clone()
                        tensor_keys.append(f"{opt_name}.{index}.{key}")
                    else:
                        plain[index][key] = value
            spec[opt_name] = {
                "param_groups": encode(state_dict["param_groups"], f"{opt_name} param_groups"),
                "state": encode(plain, f"{opt_name} state"),
                "tensors": sorted(tensor_keys),
            }
    except Unencodable as exc:
        warnings.warn(
            f"{name}: the optimiser state is not plain data ({exc}); the file is saved without it "
            "(a loaded model predicts as saved; its optimiser starts afresh).",
            UserWarning,
        )
        return None, {}
    return spec, tensors

def group_tensors(tensors, where):
    """Sort the tensors of one record by prefix: the network parts, the optimiser, the nested estimators."""
    groups = {prefix: {} for prefix, _ in _PARTS}
    groups[OPTIMIZER_PREFIX] = {}
    groups[FITTED_PREFIX] = {}
    for key, value in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix not in groups or not rest:
            raise ValueError(
                f"{WEIGHTS}: unexpected tensor {where + key!r}; keys start with {[p + '.' for p in groups]}."
            )
        if prefix == FITTED_PREFIX:
            attribute, _, rest = rest.partition(".")
            if not rest:
                raise ValueError(f"{WEIGHTS}: unexpected tensor {where + key!r}.")
            groups[prefix].setdefault(attribute, {})[rest] = value
        else:
            groups[prefix][rest] = value
    return groups

def _sized_from_file(module, key):
    """Whether ``key`` names a saved buffer that the module leaves None until it is fitted or loaded.

    Such a buffer (e.g. the front-door dictionary) takes the saved tensor's shape when it is
    loaded; the module's own ``_load_from_state_dict`` checks it.
    """
    path, _, name = key.rpartition(".")
    try:
        owner = module.get_submodule(path)
    except AttributeError:
        return False
    return (
        name in owner._buffers
        and owner._buffers[name] is None
        and name not in getattr(owner, "_non_persistent_buffers_set", ())
    )


def _check_sized_from_file(module, given, where):
    """Have each module that sizes buffers from the file check their saved shapes before any byte is read.

    A module with such buffers (left None until fitted) must define ``check_saved_shapes``
    (``{buffer name: shape}``, raising ``ValueError``); one that does not cannot be loaded.
    """
    owners = {}
    for key, spec in given.items():
        if _sized_from_file(module, key):
            path, _, name = key.rpartition(".")
            owners.setdefault(path, {})[name] = tuple(spec.shape)
    for path, shapes in owners.items():
        owner = module.get_submodule(path)
        check = getattr(owner, "check_saved_shapes", None)
        if check is None:
            raise ValueError(f"{WEIGHTS}: {where}.{path} sizes its buffers from the file but cannot check them.")
        try:
            check(shapes)
        except ValueError as exc:
            raise ValueError(f"{WEIGHTS} does not match the rebuilt network ({where}.{path}): {exc}") from None


def load_weights(net, groups, weights, where=""):
    """Load the network parts' tensors: every name, shape and dtype is checked first, then the bytes are read.

    ``groups`` holds :class:`~skcausalmm.io.archive.TensorSpec` entries (from the weights header);
    ``weights`` (a :class:`~skcausalmm.io.archive.Weights`) reads them once all parts match the
    rebuilt network, so a file makes ``load`` read no more than the network holds; buffers a module
    sizes from the file (left None until then) are bounded by the module's ``check_saved_shapes``
    from the network's parameters (the front-door dictionary: ``dictionary_size`` entries).
    """
    for prefix, attribute in _PARTS:
        expected = getattr(net, attribute).state_dict()
        given = groups[prefix]
        _check_sized_from_file(getattr(net, attribute), {k: v for k, v in given.items() if k not in expected},
                               f"{where}{prefix}")
        missing = [k for k in expected if k not in given]
        if missing:
            raise ValueError(f"{WEIGHTS} does not match the rebuilt network: {where}{prefix}.{missing[0]} is missing.")
        for key, value in given.items():
            if key not in expected:
                if _sized_from_file(getattr(net, attribute), key):
                    continue  # checked above by the module's check_saved_shapes
                raise ValueError(
                    f"{WEIGHTS} does not match the rebuilt network: unexpected tensor '{where}{prefix}.{key}' "
                    f"(the {prefix} has no such parameter or buffer)."
                )
            if tuple(value.shape) != tuple(expected[key].shape):
                raise ValueError(
                    f"{WEIGHTS} does not match the rebuilt network: {where}{prefix}.{key} has shape "
                    f"{tuple(value.shape)}, the network expects {tuple(expected[key].shape)}."
                )
            if value.dtype != expected[key].dtype:
                raise ValueError(
                    f"{WEIGHTS} does not match the rebuilt network: {where}{prefix}.{key} has dtype "
                    f"{value.dtype}, the network expects {expected[key].dtype}."
                )
    tensors = weights.read([spec for prefix, _ in _PARTS for spec in groups[prefix].values()])
    for prefix, attribute in _PARTS:
        target = getattr(net, attribute)
        given = {key: tensors[spec.name] for key, spec in groups[prefix].items()}
        try:
            target.load_state_dict(given, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{WEIGHTS} does not match the rebuilt network ({where}{prefix}): {exc}") from None
        for key, value in target.state_dict().items():  # e.g. buffers sized from the file
            if key in given and (tuple(value.shape) != tuple(given[key].shape) or value.dtype != given[key].dtype):
                raise ValueError(f"{WEIGHTS}: {where}{prefix}.{key} could not be loaded as saved.")


def _same_kind(saved, current):
    """Whether a saved optimiser setting has the kind of the fresh optimiser's value."""
    if current is None or isinstance(current, bool):
        return saved is None or isinstance(saved, bool)
    if isinstance(current, numbers.Real):
        return isinstance(saved, numbers.Real) and not isinstance(saved, bool) and math.isfinite(saved)
    if isinstance(current, (tuple, list)):
        return (
            isinstance(saved, (tuple, list))
            and len(saved) == len(current)
            and all(_same_kind(a, b) for a, b in zip(saved, current))
        )
    if isinstance(current, str):
        return isinstance(saved, str)
    return False


def _optimizer_state_dict(optimizer, opt_name, body, tensors, where):
    """Check one saved optimiser state against the rebuilt optimiser and return it as a state dict."""
    bad = f"{META}: {where}net.optimizers[{opt_name!r}]"
    current = optimizer.state_dict()["param_groups"]
    groups = body["param_groups"]
    if not (isinstance(groups, list) and len(groups) == len(current) and all(isinstance(g, dict) for g in groups)):
        raise ValueError(f"{bad}: param_groups must be a list of {len(current)} objects.")
    ids, params = [], []
    for group, fresh, live in zip(groups, current, optimizer.param_groups):
        indices = group.get("params")
        if not (
            isinstance(indices, list)
            and len(indices) == len(fresh["params"])
            and all(isinstance(i, int) and not isinstance(i, bool) for i in indices)
        ):
            raise ValueError(f"{bad}: each param group's 'params' must list {len(fresh['params'])} indices.")
        for key, value in group.items():
            if key == "params":
                continue
            if key not in fresh and key != "initial_lr":
                raise ValueError(f"{bad}: unknown optimiser setting {key!r}.")
            if not _same_kind(value, fresh.get(key, 0.0)):
                raise ValueError(f"{bad}: the setting {key!r} has the wrong kind of value ({value!r:.40}).")
        ids.extend(indices)
        params.extend(live["params"])
    if len(set(ids)) != len(ids):
        raise ValueError(f"{bad}: a parameter index appears twice in param_groups.")
    shapes = {i: tuple(p.shape) for i, p in zip(ids, params)}
    state = body["state"]
    if not isinstance(state, dict) or not all(
        isinstance(i, int) and i in shapes and isinstance(entries, dict) for i, entries in state.items()
    ):
        raise ValueError(f"{bad}: state must map parameter indices of param_groups to objects.")
    state = {i: dict(entries) for i, entries in state.items()}
    for key, value in tensors.items():
        index, _, entry = key.partition(".")
        if not (index.isdigit() and int(index) in state and _IDENTIFIER.match(entry)):
            raise ValueError(f"{WEIGHTS}: optimiser tensor {where}optimizer.{opt_name}.{key!r} is not in the state.")
        index = int(index)
        if value.dim() > 0 and tuple(value.shape) != shapes[index]:
            raise ValueError(
                f"{WEIGHTS}: optimiser tensor {where}optimizer.{opt_name}.{key} has shape {tuple(value.shape)}, "
                f"its parameter has {shapes[index]}."
            )
        state[index][entry] = value
        if sum(isinstance(v, TensorSpec) for v in state[index].values()) > _MAX_STATE_TENSORS:
            raise ValueError(
                f"{WEIGHTS}: the optimiser state of parameter {index} of {where}optimizer.{opt_name} holds more "
                f"than {_MAX_STATE_TENSORS} tensors."
            )
    return {"state": state, "param_groups": groups}


#: The optimiser settings that choose how the step is computed, not what it computes.
_STEP_IMPLEMENTATION = ("fused", "foreach")


def _restore_step_implementation(optimizer, own):
    """Put back the rebuilt optimiser's step implementation after ``load_state_dict``.

    A fused step keeps its step counts on the parameters' device as float32, as torch does when
    it loads a fused state.
    """
    for group, flags in zip(optimizer.param_groups, own):
        for key in _STEP_IMPLEMENTATION:
            if key in group or key in flags:
                group[key] = flags.get(key)
        if group.get("fused"):
            for param in group["params"]:
                state = optimizer.state.get(param, {})
                if torch.is_tensor(state.get("step")):
                    state["step"] = state["step"].to(device=param.device, dtype=torch.float32)


def load_optimizers(net, spec, tensors, weights, where=""):
    """Restore the optimiser state saved with the net (a version-1 file has none: the optimiser stays fresh).

    ``tensors`` holds :class:`~skcausalmm.io.archive.TensorSpec` entries; ``weights`` reads them once
    the state around them matches the rebuilt optimiser.
    """
    if spec is None:
        if tensors:
            raise ValueError(
                f"{WEIGHTS}: unexpected tensor {where}optimizer.{next(iter(tensors))!r}; the JSON describes no "
                "optimiser state."
            )
        return
    names = _optimizer_names(net)
    if not isinstance(spec, dict) or not all(k in names for k in spec):
        raise ValueError(f"{META}: {where}net.optimizers must map the net's optimisers {names} to their state.")
    per_optimizer = {name: {} for name in spec}
    for key, value in tensors.items():
        opt_name, _, rest = key.partition(".")
        if opt_name not in per_optimizer:
            raise ValueError(f"{WEIGHTS}: unexpected tensor {where}optimizer.{key!r}.")
        per_optimizer[opt_name][rest] = value
    for opt_name, body in spec.items():
        if not isinstance(body, dict) or set(body) != {"param_groups", "state", "tensors"}:
            raise ValueError(f"{META}: {where}net.optimizers[{opt_name!r}] must hold param_groups, state, tensors.")
        listed = body["tensors"]
        if not (isinstance(listed, list) and all(isinstance(k, str) for k in listed)):
            raise ValueError(f"{META}: {where}net.optimizers[{opt_name!r}].tensors must list tensor names.")
        given = sorted(f"{opt_name}.{k}" for k in per_optimizer[opt_name])
        if sorted(listed) != given:
            lost = sorted(set(listed) - set(given)) or sorted(set(given) - set(listed))
            raise ValueError(f"{WEIGHTS}: the optimiser tensors do not match the JSON (e.g. optimizer.{lost[0]}).")
        optimizer = getattr(net, opt_name + "_")
        state_dict = _optimizer_state_dict(optimizer, opt_name, body, per_optimizer[opt_name], where)
        specs = [v for entries in state_dict["state"].values() for v in entries.values() if isinstance(v, TensorSpec)]
        loaded = weights.read(specs)
        for entries in state_dict["state"].values():
            for key, value in entries.items():
                if isinstance(value, TensorSpec):
                    entries[key] = loaded[value.name]
        # how the step is computed (fused, foreach) is this machine's choice, made when the net was rebuilt
        # (fused_optimizer_params), not the saving machine's: torch would restore the saved flags
        own = [{k: group[k] for k in _STEP_IMPLEMENTATION if k in group} for group in optimizer.param_groups]
        try:
            optimizer.load_state_dict(state_dict)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(f"{META}: {where}the optimiser state of {opt_name!r} cannot be loaded: {exc}") from None
        _restore_step_implementation(optimizer, own)
