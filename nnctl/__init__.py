"""nnctl: train, evaluate and explain digit classifiers, per-example SGD as in the lecture."""

# The version, the Python API (nnctl.api) and the error types, loaded on first use: `import
# nnctl` imports nothing (the `nnctl` command starts with it, before its Ctrl-C handler is in:
# see nnctl/_entry.py).
_EXPORTS = {
    "__version__": "nnctl.version",
    "train": "nnctl.api",
    "load": "nnctl.api",
    "evaluate": "nnctl.api",
    "Model": "nnctl.api",
    "TrainResult": "nnctl.api",
    "NnctlError": "nnctl.errors",
    "ConfigError": "nnctl.errors",
    "DataError": "nnctl.errors",
    "CheckpointError": "nnctl.errors",
    "RunDirError": "nnctl.errors",
    "WrongKindError": "nnctl.errors",
    "Interrupted": "nnctl.errors",
    "TrainingDiverged": "nnctl.tasks.train",
}
__all__ = [*_EXPORTS]  # noqa: PLE0604 - the keys are strings


def __getattr__(name: str) -> object:
    """`nnctl.train`, `nnctl.Model`, ...: imported from their module when first asked for."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nnctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # asked once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
