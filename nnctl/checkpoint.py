"""Checkpoints: one .npz of plain arrays plus a JSON metadata entry; atomic writes; never pickle.

Arrays: `layers.<l>.weight` (W^[l], shape out x in) and `layers.<l>.bias` for l = 1..L, and
`metadata`, the UTF-8 bytes of a JSON object (format version, config, epoch, preprocessing,
image shape, class count, metrics). Files are written with fixed zip timestamps, so the same
weights and metadata always give the same bytes, and they load with allow_pickle=False.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from nnctl.activations import ACTIVATIONS, OUTPUTS
from nnctl.atomic import atomic_write_bytes
from nnctl.errors import CheckpointError
from nnctl.network import Network

FORMAT_VERSION = 1
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_MAGIC = b"PK\x03\x04"


def checkpoint_bytes(network: Network, metadata: dict) -> bytes:
    """The .npz file's bytes: deterministic for the same weights and metadata."""
    arrays = {}
    for l, (W, b) in enumerate(zip(network.weights, network.biases), start=1):
        arrays[f"layers.{l}.weight"] = W
        arrays[f"layers.{l}.bias"] = b
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


def save_checkpoint(path: str | Path, network: Network, metadata: dict) -> None:
    atomic_write_bytes(path, checkpoint_bytes(network, metadata))


def load_checkpoint(path: str | Path) -> tuple[Network, dict]:
    """Read and check a checkpoint; any problem is a CheckpointError naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic != ZIP_MAGIC:
            raise CheckpointError(f"{path}: not an .npz checkpoint (no zip header)")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        broken = [name for name, value in arrays.items() if not isinstance(value, np.ndarray)]
        if broken:  # numpy hands back the raw bytes of a member that is not a valid .npy
            raise CheckpointError(f"{path}: {', '.join(broken)}: not a valid array")
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint") from None
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CheckpointError(f"{path}: holds object arrays (pickles), refused") from None
        raise CheckpointError(f"{path}: not a valid checkpoint ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: not a valid .npz checkpoint ({e})") from None
    except Exception as e:  # noqa: BLE001 - numpy's parser of a damaged file can raise anything
        raise CheckpointError(f"{path}: not a valid .npz checkpoint ({type(e).__name__}: {e})") from None
    return _network_from_arrays(arrays, path)


def _network_from_arrays(arrays: dict, path: Path) -> tuple[Network, dict]:
    raw = arrays.pop("metadata", None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: no metadata entry")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: metadata is not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unknown checkpoint format version {meta.get('format_version')!r} "
            f"(this nnctl reads {FORMAT_VERSION})"
        )
    if not (isinstance(meta.get("activation"), str) and isinstance(meta.get("output"), str)
            and meta["activation"] in ACTIVATIONS and meta["output"] in OUTPUTS):
        raise CheckpointError(f"{path}: metadata names an unknown activation or output function")
    L = len(arrays) // 2
    expected = {f"layers.{l}.{kind}" for l in range(1, L + 1) for kind in ("weight", "bias")}
    if L == 0 or set(arrays) != expected:
        missing = sorted(expected - set(arrays))
        extra = sorted(set(arrays) - expected)
        raise CheckpointError(
            f"{path}: layers do not fit: missing {missing or 'none'}, unexpected {extra or 'none'}"
        )
    weights = [arrays[f"layers.{l}.weight"] for l in range(1, L + 1)]
    biases = [arrays[f"layers.{l}.bias"] for l in range(1, L + 1)]
    dtype = weights[0].dtype
    for l, (W, b) in enumerate(zip(weights, biases), start=1):
        if W.dtype.kind != "f" or W.dtype != dtype or b.dtype != dtype:
            raise CheckpointError(f"{path}: layers.{l}: expected {dtype} floats, got {W.dtype}/{b.dtype}")
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise CheckpointError(f"{path}: layers.{l}: weight {W.shape} and bias {b.shape} do not fit")
        if l > 1 and W.shape[1] != weights[l - 2].shape[0]:
            raise CheckpointError(
                f"{path}: layers.{l}: takes {W.shape[1]} inputs but layer {l - 1} has "
                f"{weights[l - 2].shape[0]} outputs"
            )
    network = Network(weights, biases, meta["activation"], meta["output"])
    if meta.get("sizes") != network.sizes:
        raise CheckpointError(f"{path}: metadata sizes {meta.get('sizes')} do not match the arrays")
    image_shape = meta.get("image_shape")
    if (not isinstance(image_shape, list) or not image_shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in image_shape)
            or int(np.prod(image_shape)) != network.sizes[0]):
        raise CheckpointError(f"{path}: image shape {image_shape} does not match {network.sizes[0]} inputs")
    return network, meta


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint file as given, or a run directory's checkpoints/best.npz."""
    target = Path(target)
    if target.is_dir():
        best = target / "checkpoints" / "best.npz"
        if not best.exists():
            raise CheckpointError(f"{target}: not a run directory (no checkpoints/best.npz)")
        return best
    return target
