"""One path of every kind nnctl recognises (nnctl.io.path_kinds), made cheaply: marked directories
and files with the right first bytes, nothing trained (recognising reads no further)."""

from __future__ import annotations

import shutil
from pathlib import Path

from nnctl.io import path_kinds as k

REPO = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


def make_kinds(root: Path) -> dict[str, Path]:
    """kind -> a path of that kind under `root` (created once per root)."""
    paths = {k.CONFIG: root / "mlp.yaml", k.SWEEP_FILE: root / "lr.yaml",
             k.RUN: root / "runs" / "default", k.SWEEP_DIR: root / "runs" / "lr",
             k.TOUR_DIR: root / "tour", k.CHECKPOINT: root / "best.npz",
             k.IMAGE: root / "digit.png", k.DATASET: root / "data",
             k.IDX_FILE: root / "data" / "train-images-idx3-ubyte.gz"}
    if paths[k.CONFIG].exists():
        return paths
    shutil.copy(REPO / "configs" / "mlp-300.yaml", paths[k.CONFIG])
    shutil.copy(REPO / "configs" / "sweeps" / "quick-lr.yaml", paths[k.SWEEP_FILE])
    for kind, marker in ((k.RUN, ".nnctl-run"), (k.SWEEP_DIR, ".nnctl-sweep"),
                         (k.TOUR_DIR, ".nnctl-tour")):
        paths[kind].mkdir(parents=True)
        (paths[kind] / marker).write_text("")
    paths[k.CHECKPOINT].write_bytes(b"PK\x03\x04" + bytes(40))
    paths[k.IMAGE].write_bytes(PNG)
    paths[k.DATASET].mkdir()
    paths[k.IDX_FILE].write_bytes(b"\x1f\x8b\x08\x00" + bytes(20))
    return paths
