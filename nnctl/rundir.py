"""The run directory: choosing it, preparing it, its metrics file, and what resuming may change.

runs/NAME/
  config.yaml              the resolved config
  checkpoints/epoch-NNN.npz  one per epoch (000: the initial weights)
  checkpoints/best.npz     best validation accuracy
  checkpoints/last.npz     where training stands: the commit point of every epoch, and of an
                           interrupted one (its metadata's `progress` says how far it got)
  metrics.jsonl            one JSON line per finished epoch
  summary.json             written when training ends
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from nnctl.atomic import atomic_write_text
from nnctl.checkpoint import load_checkpoint
from nnctl.config import (
    Config,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_override,
    set_dotted,
)
from nnctl.errors import ConfigError, RunDirError

OWN_FILES = ("config.yaml", "metrics.jsonl", "summary.json")
# Keys a resumed run may change with --set: they decide when to stop, not what is computed.
SAFE_TO_CHANGE = ("training.epochs", "training.stop.no_mistakes", "training.stop.tolerance",
                  "training.stop.patience")


def checkpoint_path(run_dir: Path, name: str) -> Path:
    return run_dir / "checkpoints" / name


def is_run(path: Path) -> bool:
    return checkpoint_path(path, "last.npz").exists() or (path / "config.yaml").exists()


def choose_run_dir(out: str | Path | None, name: str, force: bool) -> Path:
    """`out` if given (refusing a non-empty one unless force), else the first free runs/NAME[-k]."""
    if out is None:
        base = Path("runs") / name
        candidate, k = base, 1
        while candidate.exists():
            k += 1
            candidate = base.with_name(f"{base.name}-{k}")
        return candidate
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        if is_run(out):
            raise RunDirError(f"{out}: already holds a run; continue it with --resume {out}, "
                              "or pass --force to start it over")
        raise RunDirError(f"{out}: exists and is not empty; choose another --out or pass --force")
    return out


def prepare_run_dir(run_dir: Path) -> None:
    """Create the directory; with --force on an old run, remove the files a run writes."""
    try:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        for old in run_dir.glob("checkpoints/*.npz"):
            old.unlink()
        for name in OWN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunDirError(f"{run_dir}: cannot write the run directory: {e.strerror or e}") from None


def append_metrics(run_dir: Path, record: dict) -> None:
    """One JSON line per epoch, flushed to disk before the epoch's last.npz commits it."""
    try:
        with open(run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise RunDirError(f"{run_dir / 'metrics.jsonl'}: cannot write: {e.strerror or e}") from None


def read_history(run_dir: Path, epochs: int) -> list[dict]:
    """The metrics of epochs 1..epochs; lines past them (written before a crash) are dropped."""
    path = run_dir / "metrics.jsonl"
    history = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break  # a line cut short by a crash
        if not isinstance(record, dict) or record.get("epoch") != len(history) + 1:
            break
        if record["epoch"] > epochs:
            break
        history.append(record)
    if len(history) < epochs:
        raise RunDirError(f"{path}: has the metrics of {len(history)} epochs, the checkpoint is at "
                          f"epoch {epochs}")
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in history))
    return history


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def changed_keys(a: Config, b: Config) -> list[str]:
    fa, fb = _flatten(config_to_dict(a)), _flatten(config_to_dict(b))
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


def resume_config(run_dir: Path, overrides: Sequence[str] = (), config_path: str | Path | None = None
                  ) -> Config:
    """The config to continue a run with: the one it was trained with, plus safe --set overrides.

    Refused: a run directory with no checkpoint, a config.yaml (or a CONFIG given) that differs
    from the one the checkpoints were trained with in any key outside SAFE_TO_CHANGE, and --set of
    such a key. Differences in SAFE_TO_CHANGE keys (an earlier `--resume --set training.epochs=N`
    wrote them to config.yaml, or the user edited them) are taken over.
    """
    last = checkpoint_path(run_dir, "last.npz")
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not last.exists():
        raise RunDirError(f"{run_dir}: nothing to resume (no checkpoints/last.npz)")
    _, meta = load_checkpoint(last)
    trained = config_from_dict(meta["config"], str(last))
    raw = config_to_dict(trained)
    saved = run_dir / "config.yaml"
    compared = [saved] if saved.exists() else []
    if config_path is not None:
        compared.append(Path(config_path))
    for path in compared:
        given = load_config(path)
        changed = changed_keys(trained, given)
        unsafe = [key for key in changed if key not in SAFE_TO_CHANGE]
        if unsafe:
            raise ConfigError(
                f"{path}: differs from the config the run was trained with in "
                f"{', '.join(unsafe)}; resume continues the same experiment (start a new run "
                f"for a different one; {', '.join(SAFE_TO_CHANGE)} may be changed)"
            )
        flat = _flatten(config_to_dict(given))
        for key in changed:  # when to stop: taken from the file
            set_dotted(raw, key, flat[key], source=str(path))
    for item in overrides:
        key, value = parse_override(item)
        if key not in SAFE_TO_CHANGE:
            raise ConfigError(f"--set {key}: cannot be changed when resuming; only "
                              f"{', '.join(SAFE_TO_CHANGE)} can")
        set_dotted(raw, key, value, source="--set")
    return config_from_dict(raw, "--set")
