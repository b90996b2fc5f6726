"""What nnctl writes for the user besides runs: the output paths it may take.

An output option (`--figure`, `plot --out`, `--save-preprocessed`, `inspect-weights --out`,
`data fetch --to`, ...) never replaces a file that existed before the command started unless the
user passed `--force`, and never writes into a run directory's own files (its config, metrics,
summary, marker or checkpoints), with or without `--force`; a directory on the way swapped for a
symbolic link after the check does not redirect the write (atomic.pin_directory).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nnctl.errors import NnctlError, RunDirError
from nnctl.io.atomic import make_directory, pin_directory
from nnctl.io.inputs import same_file
from nnctl.io.run_dir import owning_run


def check_output_file(path: str | Path, force: bool = False,
                      error: type[NnctlError] = RunDirError, inputs: Iterable[Path] = ()) -> Path:
    """`path` if an output may be written there; its parent directory is created.

    Refused with a one-line `error`: a file of a run directory and one of the command's `inputs`
    (always), an existing directory, an existing file without `force`.
    """
    path = Path(path)
    _refuse_run_file(path, path, error)
    if any(same_file(path, given) for given in inputs):
        raise error(f"{path}: is one of the files this command reads; write the output elsewhere")
    if path.is_dir():
        raise error(f"{path}: is a directory, expected a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise error(f"{path}: already exists; pass --force to replace it, or choose another name")
    make_directory(path.parent, error)
    # the file goes into this very directory: a link swapped in later for it (or for a directory
    # above it) cannot take the write into a run
    _refuse_run_file(pin_directory(path, error) / path.name, path, error)
    return path


def _refuse_run_file(real: Path, path: Path, error: type[NnctlError]) -> None:
    """Refuse the output `path` if `real` (where it resolves) is a run's own file."""
    run = owning_run(real)
    if run is not None:
        raise error(f"{path}: is one of the files of the run {run}; write the output elsewhere")
