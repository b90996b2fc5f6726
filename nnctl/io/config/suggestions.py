"""The did-you-mean of an unknown config key: what nnctl does not do, the names other tools use
for its keys, a close spelling in the same section, the same name in another section."""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any

from nnctl.io.config.schema import Config

# Names other tools use for nnctl's keys, for the did-you-mean of an unknown key.
ALIASES = {
    "lr": "training.learning_rate",
    "epochs_max": "training.epochs",
    "max_epochs": "training.epochs",
    "n_epochs": "training.epochs",
    "num_epochs": "training.epochs",
    "hidden_layers": "model.hidden",
    "hidden_sizes": "model.hidden",
    "layers": "model.hidden",
    "optimizer": "training.rule",
    "activation_function": "model.activation",
    "weight_init": "model.init.scheme",
    "random_seed": "training.seed",
}
UNSUPPORTED = {
    "batch_size": "nnctl trains per example (plain SGD, one update per example): there is no "
                  "batch size",
    "weight_decay": "weight decay is not supported; training.max_norm bounds each hidden "
                    "unit's weights instead",
}


def unknown_key_hint(name: Any, prefix: str) -> str:
    """Why a key is unknown: what nnctl does not do, or ' (did you mean ...?)' with an alias from
    other tools, a close spelling in the same section, or the same name in another section."""
    name = str(name)
    if name in UNSUPPORTED:
        return f": {UNSUPPORTED[name]}"
    keys = dotted_keys(Config)
    here = [key[len(prefix):] for key in keys
            if key.startswith(prefix) and "." not in key[len(prefix):]]
    close = difflib.get_close_matches(name, here, n=1)
    elsewhere = [key for key in keys if key.rsplit(".", 1)[-1] == name]
    target = (ALIASES.get(name) or (prefix + close[0] if close else None)
              or next(iter(elsewhere), None))
    return f" (did you mean '{target}'?)" if target else ""


def dotted_keys(cls: type, prefix: str = "") -> list[str]:
    """Every key of a config class, sections and values, dotted: 'model', 'model.hidden', ..."""
    keys = []
    for name, hint in typing.get_type_hints(cls).items():
        keys.append(prefix + name)
        if dataclasses.is_dataclass(hint):
            keys += dotted_keys(hint, f"{prefix}{name}.")
    return keys

