"""Checkpoints: one .npz of plain arrays plus a JSON metadata entry; atomic writes; never pickle.

Arrays: `layers.<l>.weight` (W^[l], shape out x in) and `layers.<l>.bias` for l = 1..L (the
model: with training.average, the average of the epochs' weights, core/averaging.py), in a
run with momentum (training.momentum) its last.npz also `velocity.<l>.weight` and
`velocity.<l>.bias`, and with training.average `iterate.<l>.weight` and `iterate.<l>.bias`, the
weights SGD reached (the training state resume needs: core/momentum_max_norm.py and
core/averaging.py), and
`metadata`, the UTF-8 bytes of a JSON object (format version, config, epoch, preprocessing,
image shape, class count, metrics). Files are written with fixed zip timestamps, so the same
weights and metadata always give the same bytes, and they load with allow_pickle=False.
`load_trained` reads one back, from its file or its run directory, with the config it was
trained with.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from nnctl.core.activations import ACTIVATIONS, OUTPUTS
from nnctl.core.momentum_max_norm import Velocity
from nnctl.core.network import Network
from nnctl.errors import CheckpointError, ConfigError, one_line
from nnctl.io.atomic import atomic_write_bytes
from nnctl.io.config import MAX_INT, Config, config_from_dict
from nnctl.io.inputs import open_regular
from nnctl.io.path_kinds import CHECKPOINT, CONFIG, RUN, wrong_kind

FORMAT_VERSION = 1
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_MAGIC = b"PK\x03\x04"
# Bounds on what a checkpoint may hold, checked before reading: a crafted file cannot make the
# loader allocate more (MNIST's largest networks take a few MB).
MAX_LAYERS = 100
MAX_MEMBERS = 6 * MAX_LAYERS + 1  # per layer weight and bias, their velocity and iterate; metadata
MAX_DIRECTORY_BYTES = 1 << 20
MAX_ARRAY_BYTES = 2 << 30
MAX_TOTAL_BYTES = 4 << 30
MAX_METADATA_BYTES = 1 << 20
MAX_METADATA_DEPTH = 32
MAX_NAME = 100  # characters in a member's name
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint's metadata as `progress`."""

    epoch: int  # epochs completed
    rng: dict  # the generator's state before the next epoch's shuffle
    best_epoch: int
    best_val_accuracy: float | None
    position: int = 0  # examples done in epoch `epoch + 1` when it was interrupted
    loss_sum: float = 0.0  # their summed loss, mistakes, updates and seconds
    mistakes: int = 0
    updates: int = 0
    seconds: float = 0.0


_COUNTS = ("epoch", "best_epoch", "position", "mistakes", "updates")  # whole numbers >= 0
_SUMS = ("loss_sum", "seconds")  # finite numbers >= 0
_IN_EPOCH = ("loss_sum", "mistakes", "updates", "seconds")  # 0 unless an epoch was interrupted


def checkpoint_bytes(network: Network, metadata: dict, velocity: Velocity | None = None,
                     iterate: Network | None = None) -> bytes:
    """The .npz file's bytes: deterministic for the same weights, velocity, iterate and
    metadata."""
    arrays = {}
    for prefix, held in (("layers", network), ("velocity", velocity), ("iterate", iterate)):
        if held is not None:
            for l, (W, b) in enumerate(zip(held.weights, held.biases), start=1):
                arrays[f"{prefix}.{l}.weight"] = W
                arrays[f"{prefix}.{l}.bias"] = b
    meta = dict(metadata, format_version=FORMAT_VERSION, activation=network.activation,
                output=network.output, sizes=network.sizes)
    arrays["metadata"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(name + ".npy", date_time=_ZIP_EPOCH), npy.getvalue())
    return buffer.getvalue()


def save_checkpoint(path: str | Path, network: Network, metadata: dict,
                    velocity: Velocity | None = None, iterate: Network | None = None) -> None:
    atomic_write_bytes(path, checkpoint_bytes(network, metadata, velocity, iterate))


SNAPSHOT_UNITS = 100  # rows of W^[1] a snapshot keeps (training.keep: best-last)


def save_snapshot(path: str | Path, weights: np.ndarray) -> None:
    """An epoch's first-layer weights (a .npy of W^[1]'s first SNAPSHOT_UNITS rows)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(weights), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def load_snapshot(path: str | Path, inputs: int) -> np.ndarray:
    """A snapshot written by save_snapshot: a 2-D float array of `inputs` columns, finite, at
    most SNAPSHOT_UNITS rows; anything else is a one-line CheckpointError."""
    path = Path(path)
    limit = SNAPSHOT_UNITS * inputs * 8 + 4096
    with open_regular(path, "a weights snapshot", CheckpointError, limit=limit) as f:
        try:
            W = np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise CheckpointError(f"{path}: not a weights snapshot ({one_line(e)})") from None
    if (W.ndim != 2 or W.dtype.kind != "f" or W.shape[1] != inputs
            or not 0 < W.shape[0] <= SNAPSHOT_UNITS or not np.isfinite(W).all()):
        raise CheckpointError(f"{path}: not a weights snapshot of {inputs} inputs")
    return W


def load_checkpoint(path: str | Path) -> tuple[Network, dict]:
    """Read and check a checkpoint; any problem is a CheckpointError naming the file, in one line.

    Only the file opened is read (a checkpoint replaced meanwhile by a training run is read whole,
    old or new), and within bounds that a crafted file cannot exceed: MAX_MEMBERS members,
    MAX_ARRAY_BYTES per array and MAX_TOTAL_BYTES in all, as the zip declares them and as their
    .npy headers do, checked before anything is decompressed.
    """
    state = load_training_state(path)
    return state.network, state.meta


class TrainingState(NamedTuple):
    network: Network  # the model (with training.average, the average)
    meta: dict
    velocity: Velocity | None  # momentum's, if the checkpoint holds one
    iterate: Network | None  # the weights SGD reached, if the checkpoint holds an average


def load_training_state(path: str | Path) -> TrainingState:
    """As load_checkpoint, with the momentum velocity and the SGD iterate the checkpoint holds
    (None if none), checked as the weights are: the weights' shapes and dtype, finite."""
    path = Path(path)
    with open_regular(path, "a checkpoint", CheckpointError) as f:
        if f.read(4) != ZIP_MAGIC:
            raise CheckpointError(_not_a_zip(path, f))
        f.seek(0)
        arrays = _read_arrays(f, path)
    held = {prefix: {name: arrays.pop(name) for name in list(arrays)
                     if name.startswith(prefix + ".")} for prefix in ("velocity", "iterate")}
    network, meta = _network_from_arrays(arrays, path)
    velocity = _held("velocity", held["velocity"], network, path)
    iterate = _held("iterate", held["iterate"], network, path)
    return TrainingState(network, meta, velocity and Velocity(*velocity),
                         iterate and Network(*iterate, network.activation, network.output))


def _held(prefix: str, arrays: dict, network: Network, path: Path
          ) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """The `prefix`.<l>.weight / .bias arrays (a velocity, an iterate) as (weights, biases),
    checked to be shaped and typed like the network's and finite; None if there are none."""
    if not arrays:
        return None
    L = len(network.weights)
    expected = {f"{prefix}.{l}.{kind}" for l in range(1, L + 1) for kind in ("weight", "bias")}
    if set(arrays) != expected:
        raise CheckpointError(f"{path}: {prefix} does not fit the layers: missing "
                              f"{_shown(sorted(expected - set(arrays)), 200)}, unexpected "
                              f"{_shown(sorted(set(arrays) - expected), 200)}")
    weights = [arrays[f"{prefix}.{l}.weight"] for l in range(1, L + 1)]
    biases = [arrays[f"{prefix}.{l}.bias"] for l in range(1, L + 1)]
    for l, (v, w) in enumerate(zip(weights + biases, network.weights + network.biases)):
        name = f"{prefix}.{l % L + 1}.{'weight' if l < L else 'bias'}"
        if v.dtype != w.dtype or v.shape != w.shape:
            raise CheckpointError(f"{path}: {name}: expected {w.dtype} {w.shape} like its "
                                  f"weights, got {v.dtype} {v.shape}")
        if not np.isfinite(v).all():
            raise CheckpointError(f"{path}: {name} holds NaN or infinite values")
    return weights, biases


def _not_a_zip(path: Path, f: BinaryIO) -> str:
    """Why a file without a zip header is not a checkpoint; a YAML config is named as such."""
    head = f.read(4096)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    yaml_like = re.search(r"^(---|[A-Za-z_][\w.-]*:(\s|$))", text, re.MULTILINE)
    if path.suffix.lower() in (".yaml", ".yml") or yaml_like:
        return wrong_kind(path, CONFIG, (RUN, CHECKPOINT), "evaluate")
    return (f"{path}: not an .npz checkpoint (no zip header); give a run directory or a .npz "
            "checkpoint")


def read_metadata(path: str | Path) -> dict:
    """A checkpoint's metadata without its weights (to list runs quickly), checked as
    load_checkpoint checks it."""
    path = Path(path)
    with open_regular(path, "a checkpoint", CheckpointError) as f:
        if f.read(4) != ZIP_MAGIC:
            raise CheckpointError(_not_a_zip(path, f))
        f.seek(0)
        arrays = _read_arrays(f, path, only="metadata")
    return _metadata(arrays.get("metadata"), path)


def _read_arrays(f: BinaryIO, path: Path, only: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of the zip in `f` (or just `only`), by name (without .npy), within bounds."""
    try:
        size = _directory_size(f)
        if size is not None and size > MAX_DIRECTORY_BYTES:
            raise CheckpointError(f"{path}: its zip directory is {size:,} bytes, more than a "
                                  f"checkpoint's ({MAX_DIRECTORY_BYTES:,})")
        with zipfile.ZipFile(f) as zf:
            members = _members(zf.infolist(), path)
            return {name: _read_member(zf, info, name, path) for name, info in members.items()
                    if only is None or name == only}
    except CheckpointError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: not a valid .npz checkpoint ({one_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - numpy's parser of a damaged file can raise anything
        raise CheckpointError(
            f"{path}: not a valid .npz checkpoint ({type(e).__name__}: {one_line(e)})") from None


def _directory_size(f: BinaryIO) -> int | None:
    """The size of the zip's central directory as its end record declares it: zipfile reads the
    whole directory into objects, so it is checked first (with the stdlib's own reader of the end
    record, private but unchanged since Python 2; None if it is gone or finds no record)."""
    read_end = getattr(zipfile, "_EndRecData", None)
    record = read_end(f) if read_end is not None else None
    return None if record is None else record[getattr(zipfile, "_ECD_SIZE", 5)]


def _members(infos: list[zipfile.ZipInfo], path: Path) -> dict[str, zipfile.ZipInfo]:
    """The zip's members by array name, refused when they are too many or declare too much."""
    if len(infos) > MAX_MEMBERS:
        raise CheckpointError(f"{path}: {len(infos):,} members, more than a checkpoint has "
                              f"({MAX_MEMBERS})")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if len(info.filename) > MAX_NAME:
            raise CheckpointError(f"{path}: a member's name is longer than {MAX_NAME} characters")
        name = info.filename.removesuffix(".npy")
        if name in members:
            raise CheckpointError(f"{path}: holds {info.filename} twice")
        limit = MAX_METADATA_BYTES if name == "metadata" else MAX_ARRAY_BYTES
        if info.file_size > limit:
            raise CheckpointError(f"{path}: {name} is {info.file_size:,} bytes, more than the "
                                  f"{limit:,} a checkpoint's {name} may have")
        members[name] = info
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise CheckpointError(f"{path}: its arrays take {total:,} bytes, more than the "
                              f"{MAX_TOTAL_BYTES:,} a checkpoint may have")
    return members


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, path: Path) -> np.ndarray:
    """One .npy member: its header is checked against the size the zip declares before the data
    is read; zipfile stops decompressing at that size (and checks the CRC), so a member that
    inflates to more than it declares is bounded too. Object arrays (pickles) are refused."""
    with zf.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            read_header = _NPY_HEADERS.get(version)
            if read_header is None:
                raise ValueError(f".npy format version {version}")
            shape, _, dtype = read_header(member)
        except ValueError:
            raise CheckpointError(f"{path}: {name}: not a valid array (.npy)") from None
        if dtype.hasobject:
            raise CheckpointError(f"{path}: {name}: holds object arrays (pickles), refused")
        promised = math.prod(shape) * dtype.itemsize
        if promised != info.file_size - member.tell():
            raise CheckpointError(
                f"{path}: {name}: its header promises {promised:,} bytes of data (shape "
                f"{'x'.join(map(str, shape)) or 'scalar'}), the member holds "
                f"{info.file_size - member.tell():,}")
        member.seek(0)
        return np.lib.format.read_array(member, allow_pickle=False)


def _network_from_arrays(arrays: dict, path: Path) -> tuple[Network, dict]:
    meta = _metadata(arrays.pop("metadata", None), path)
    weights, biases = _layers(arrays, path)
    network = Network(weights, biases, meta["activation"], meta["output"])
    if meta.get("sizes") != network.sizes:
        raise CheckpointError(f"{path}: metadata sizes {_shown(meta.get('sizes'))} do not match "
                              "the arrays")
    shape = meta.get("image_shape")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
            or math.prod(shape) != network.sizes[0]):
        raise CheckpointError(f"{path}: image shape {_shown(shape)} does not match "
                              f"{network.sizes[0]} inputs")
    return network, meta


def _metadata(raw: np.ndarray | None, path: Path) -> dict:
    """The metadata entry: a JSON object (nested at most MAX_METADATA_DEPTH deep) with a known
    format version, activation and output function."""
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: no metadata entry")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:  # ValueError: JSON, or an int of 5,000 digits
        raise CheckpointError(f"{path}: metadata is not valid JSON ({one_line(e)})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: metadata is nested too deep") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: metadata is not a JSON object")
    if _depth(meta) > MAX_METADATA_DEPTH:
        raise CheckpointError(f"{path}: metadata is nested more than {MAX_METADATA_DEPTH} deep")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unknown checkpoint format version {_shown(meta.get('format_version'))} "
            f"(this nnctl reads {FORMAT_VERSION})"
        )
    if not (isinstance(meta.get("activation"), str) and isinstance(meta.get("output"), str)
            and meta["activation"] in ACTIVATIONS and meta["output"] in OUTPUTS):
        raise CheckpointError(f"{path}: metadata names an unknown activation or output function")
    _check_counts(meta, path)
    return meta


def _check_counts(meta: dict, path: Path) -> None:
    """The metadata's epoch, sizes and progress (if present) have their types and ranges; the
    epoch is the progress's."""
    epoch, sizes = meta.get("epoch"), meta.get("sizes")
    progress = check_progress(meta["progress"], path) if "progress" in meta else None
    if "epoch" in meta and not _whole(epoch):
        raise CheckpointError(f"{path}: epoch: must be a whole number from 0 to 2**63 - 1, got "
                              f"{_shown(epoch)}")
    if "sizes" in meta and not (isinstance(sizes, list) and all(map(_whole, sizes))):
        raise CheckpointError(f"{path}: sizes: must be a list of layer sizes, got "
                              f"{_shown(sizes)}")  # load_checkpoint compares them with the arrays
    if progress is not None and "epoch" in meta and epoch != progress.epoch:
        raise CheckpointError(f"{path}: epoch {epoch} is not its progress.epoch "
                              f"({progress.epoch})")


def check_progress(raw: Any, path: Path) -> Progress:
    """A checkpoint's `progress` as a Progress, every field checked for its type and range as a
    config is (a one-line CheckpointError naming the field otherwise): whole numbers from 0 to
    2**63 - 1, finite sums >= 0, a best epoch not after the epoch, a validation accuracy from 0
    to 1 or null, at most `position` mistakes, no sums before an interrupted epoch's first
    example, and the random generator's state (PCG64) exactly as numpy takes it."""
    where = f"{path}: progress"
    fields = {f.name: f for f in dataclasses.fields(Progress)}
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where}: not a JSON object, got {_shown(raw)}")
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
    missing, unknown = [n for n in required if n not in raw], [k for k in raw if k not in fields]
    if missing or unknown:
        raise CheckpointError(f"{where}: " + ("no " + ", ".join(missing) if missing else
                                              f"unknown key {_shown(unknown[0])}"))
    progress = Progress(**raw)
    for name in _COUNTS:
        if not _whole(getattr(progress, name)):
            raise CheckpointError(f"{where}.{name}: must be a whole number from 0 to 2**63 - 1, "
                                  f"got {_shown(getattr(progress, name))}")
    for name in _SUMS:
        if not _number(getattr(progress, name), 0, math.inf):
            raise CheckpointError(f"{where}.{name}: must be a finite number >= 0, got "
                                  f"{_shown(getattr(progress, name))}")
    accuracy = progress.best_val_accuracy
    if accuracy is not None and not _number(accuracy, 0, 1):
        raise CheckpointError(f"{where}.best_val_accuracy: must be a number from 0 to 1 or "
                              f"null, got {_shown(accuracy)}")
    if progress.best_epoch > progress.epoch:
        raise CheckpointError(f"{where}.best_epoch: {progress.best_epoch} is after its epoch "
                              f"({progress.epoch})")
    if progress.mistakes > progress.position:
        raise CheckpointError(f"{where}.mistakes: {progress.mistakes} in {progress.position} "
                              "examples")
    if progress.position == 0 and any(getattr(progress, name) for name in _IN_EPOCH):
        raise CheckpointError(f"{where}: sums of an epoch not begun (position 0)")
    _check_rng(progress.rng, f"{where}.rng")
    return progress


def _whole(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and 0 <= value <= MAX_INT)


def _number(value: Any, low: float, high: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and low <= value <= high)


def _check_rng(state: Any, where: str) -> None:
    """A PCG64 state that numpy sets and gives back unchanged (numpy's setter alone lets some
    wrong ones through, changed)."""
    generator = np.random.PCG64()
    try:
        generator.state = state
        kept = generator.state == state and state.get("has_uint32") in (0, 1)
    except (TypeError, ValueError, OverflowError, KeyError, AttributeError):
        kept = False
    if not kept:
        raise CheckpointError(f"{where}: not the state of numpy's PCG64 generator, got "
                              f"{_shown(state)}")


def _shown(value: object, width: int = 60) -> str:
    """A metadata value in a message: its repr, cut short (a crafted one may be a megabyte);
    an empty list is "none"."""
    text = repr(value) if value != [] else "none"
    return text if len(text) <= width else text[: width - 3] + "..."


def _depth(value: object) -> int:
    """How deep JSON lists and objects nest in `value` (without recursion)."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            todo.extend((child, depth + 1) for child in
                        (item.values() if isinstance(item, dict) else item))
    return deepest


def _layers(arrays: dict, path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """W^[l] and b^[l] for l = 1..L: float arrays of one dtype whose shapes chain, every layer
    with at least one unit and one input, every value finite."""
    L = len(arrays) // 2
    expected = {f"layers.{l}.{kind}" for l in range(1, L + 1) for kind in ("weight", "bias")}
    if L == 0 or set(arrays) != expected:
        missing = sorted(expected - set(arrays))
        extra = sorted(set(arrays) - expected)
        raise CheckpointError(f"{path}: layers do not fit: missing {_shown(missing, 200)}, "
                              f"unexpected {_shown(extra, 200)}")
    weights = [arrays[f"layers.{l}.weight"] for l in range(1, L + 1)]
    biases = [arrays[f"layers.{l}.bias"] for l in range(1, L + 1)]
    dtype = weights[0].dtype
    for l, (W, b) in enumerate(zip(weights, biases), start=1):
        if W.dtype.kind != "f" or W.dtype != dtype or b.dtype != dtype:
            raise CheckpointError(f"{path}: layers.{l}: expected {dtype} floats, got "
                                  f"{W.dtype}/{b.dtype}")
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise CheckpointError(f"{path}: layers.{l}: weight {W.shape} and bias {b.shape} do "
                                  "not fit")
        if W.size == 0:
            raise CheckpointError(f"{path}: layers.{l}: weight {W.shape[0]}x{W.shape[1]}: a layer "
                                  "needs at least one unit and one input")
        if l > 1 and W.shape[1] != weights[l - 2].shape[0]:
            raise CheckpointError(
                f"{path}: layers.{l}: takes {W.shape[1]} inputs but layer {l - 1} has "
                f"{weights[l - 2].shape[0]} outputs"
            )
        for kind, array in (("weight", W), ("bias", b)):
            if not np.isfinite(array).all():
                raise CheckpointError(f"{path}: layers.{l}.{kind} holds NaN or infinite values "
                                      "(the weights of a diverged run?)")
    return weights, biases


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint file as given, or a run directory's checkpoints/best.npz."""
    target = Path(target)
    if target.is_dir():
        best = target / "checkpoints" / "best.npz"
        if not best.exists():
            raise CheckpointError(f"{target}: not a run directory (no checkpoints/best.npz)")
        return best
    return target


def load_trained(target: str | Path) -> tuple[Path, Network, dict, Config]:
    """A checkpoint (file, or a run directory's best.npz) with the config it was trained with:
    its path, network, metadata and config."""
    path = resolve_checkpoint(target)
    network, meta = load_checkpoint(path)
    return path, network, meta, stored_config(meta, path)


def stored_config(meta: dict, path: Path) -> Config:
    """The config a checkpoint's metadata records, validated (a CheckpointError otherwise)."""
    try:
        return config_from_dict(meta.get("config"), source=str(path))
    except ConfigError as e:
        raise CheckpointError(f"the config stored in the checkpoint is not valid: {e}") from None
