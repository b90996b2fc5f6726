"""What `nnctl serve` answers about one trained network, loaded once.

Every request only reads the network (numpy's forward pass on weights nobody writes), so many
threads may ask at once. An image is read and prepared by `nnctl predict`'s own code
(`nnctl.io.images`, `nnctl.tasks.predict`), never by a copy of it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.network import Network
from nnctl.errors import NnctlError
from nnctl.figures.weights import tile
from nnctl.io.checkpoint import load_trained
from nnctl.io.examples import recorded_preprocessing
from nnctl.io.images import decode_image, decode_side
from nnctl.io.run_dir import owning_run, read_summary
from nnctl.tasks.predict import network_image_shape, preprocess, probabilities, ranked

TOP_UNITS = 8  # hidden units shown for an MLP: those that respond most to the drawing
WEIGHT_ZOOM = 4  # pixels per weight in a template or filter picture (as inspect-weights draws)


@dataclass(frozen=True)
class Model:
    network: Network
    image_shape: tuple[int, int]
    preprocessing: dict  # the checkpoint's record (pixel / 255, deskewed or not)
    summary: dict  # GET /model


def load_model(target: str | Path) -> Model:
    """A checkpoint (or a run directory's best.npz), checked as `predict` checks it."""
    path, network, meta, config = load_trained(target)
    image_shape = network_image_shape(meta, path)
    record = recorded_preprocessing(meta, str(path))
    run = Path(target) if Path(target).is_dir() else owning_run(path)
    summary = {
        "run": (run or path).name,
        "checkpoint": str(path),
        "network": "-".join(map(str, network.sizes)),
        "sizes": network.sizes,
        "activation": network.activation if len(network.weights) > 1 else None,
        "output": network.output,
        "rule": config.training.rule,
        "epoch": meta.get("epoch"),
        "test_accuracy": _test_accuracy(run, path, meta),
        "val_accuracy": (meta.get("metrics") or {}).get("val_accuracy"),
        "image_shape": list(image_shape),
        "deskew": bool(record.get("deskew", False)),
        "units": "templates" if len(network.weights) == 1 else "filters",
    }
    return Model(network, image_shape, record, summary)


def _test_accuracy(run: Path | None, path: Path, meta: dict) -> float | None:
    """The test accuracy the run's summary.json gives for its best.npz, if `path` is that
    checkpoint (of the same epoch: not replaced since by a resumed run); else unknown."""
    if run is None or path.name != "best.npz":
        return None
    summary = read_summary(run) or {}
    if summary.get("best_epoch") != meta.get("epoch"):
        return None
    accuracy = summary.get("test_accuracy")
    return float(accuracy) if isinstance(accuracy, (int, float)) else None


def classify(model: Model, data: bytes, name: str) -> tuple[dict, np.ndarray]:
    """The image in `data` classified: the object `nnctl predict --json` prints for it ("file"
    is `name`), and the network's input x (H x W) it was made into. A bad image is a DataError."""
    image = decode_image(data, name, decode_side(model.image_shape))
    x = preprocess(image, model.image_shape, model.preprocessing)
    row = x.reshape(1, -1).astype(model.network.dtype)
    return {"file": name, **ranked(probabilities(model.network, row)[0])}, x


def explain(model: Model, x: np.ndarray) -> dict:
    """What the page shows beside the prediction: `seen`, the input x as rows of numbers, and
    the first layer's response to it. Single layer: each template's score z_k = w_k . x + b_k
    (the network's own outputs, before psi). MLP: the TOP_UNITS hidden units of the largest
    activation a_j = f(w_j . x + b_j), most responsive first (ranked by z_j: every activation
    rises with z, and a saturated sigmoid's many 1.0 still differ in z)."""
    W, b = model.network.weights[0], model.network.biases[0]
    with np.errstate(all="ignore"):
        z = W.astype(np.float64) @ x.ravel().astype(np.float64) + b
        if len(model.network.weights) == 1:
            units = [{"unit": k, "score": float(z[k])} for k in range(len(z))]
        else:
            a = ACTIVATIONS[model.network.activation](z)
            top = np.argsort(-z, kind="stable")[:TOP_UNITS]
            units = [{"unit": int(j), "activation": float(a[j]), "score": float(z[j])}
                     for j in top]
    return {"seen": np.round(x.astype(np.float64), 3).tolist(), "units": units}


def weight_png(model: Model, unit: int) -> bytes:
    """The first-layer weights of `unit` (a template, or a hidden unit's filter) as a PNG, drawn
    as `nnctl inspect-weights` draws them: red positive, blue negative, on its own scale."""
    W = model.network.weights[0]
    if not 0 <= unit < len(W):
        raise NnctlError(f"no unit {unit}: the first layer has units 0..{len(W) - 1}")
    buffer = io.BytesIO()
    tile(W[unit], model.image_shape, WEIGHT_ZOOM).save(buffer, format="PNG")
    return buffer.getvalue()
