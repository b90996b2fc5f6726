"""SWEEP.yaml -> a validated sweep: its base config, its parameters and every trial it expands to.

    base: ../mlp-300.yaml            # a config file (relative to this file), or an inline config
    parameters:                      # dotted config keys
      training.learning_rate: {values: [0.01, 0.02, 0.05]}        # a grid axis
      training.decay: {distribution: loguniform, min: 0.01, max: 1}  # method: random only
    method: grid                     # or random, with samples: N (and sample_seed)
    seeds: [0, 1, 2]                 # each point once per seed (training.seed)
    metric: val_accuracy             # or val_loss: a validation figure, never a test one
    early_stop: {min_epochs: 1, reduction_factor: 3}   # optional: ASHA on the metric

Every key is checked before anything runs, and so is every trial's config: an invalid point is
a config error naming the point. A trial's data paths are made absolute, so that a worker in any
directory (or on another node) finds the same files.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import ConfigError
from nnctl.io.config import (
    PATH_KEYS,
    Config,
    config_from_dict,
    describe_keys,
    parse_yaml,
    read_config_text,
    set_dotted,
    show_value,
)
from nnctl.io.path_kinds import SWEEP_KEYS
from nnctl.io.run_info import short_key, value_text

METHODS = ("grid", "random")
METRICS = {"val_accuracy": "max", "val_loss": "min"}  # and whether higher or lower is better
DISTRIBUTIONS = ("uniform", "loguniform", "int")
TOP_KEYS = SWEEP_KEYS  # recognised by them: nnctl.io.path_kinds
EARLY_STOP_KEYS = {"min_epochs": 1, "reduction_factor": 3}  # ASHA's grace period and eta
DEFAULT_SEEDS = [0, 1, 2]
# A sweep is bounded before it is expanded: the product of the axes is checked first.
MAX_TRIALS = 10_000
MAX_VALUES = 1_000
MAX_SEEDS = 1_000
MAX_INT_BOUND = 2**62 - 1  # an int distribution's max - min fits a 64-bit integer
TRIAL_ID = re.compile(r"p\d+-s\d+")


@dataclass
class Trial:
    """One run of the sweep: a point of the parameter space with one seed."""

    id: str  # p003-s1: its directory name under trials/
    point: int
    seed: int
    values: dict  # {"training.learning_rate": 0.05, ...}: the point's parameter values

    def raw_config(self, base: dict) -> dict:
        """The trial's config as plain data: the base with the point's values and the seed."""
        raw = copy.deepcopy(base)
        for key, value in {**self.values, "training.seed": self.seed}.items():
            set_dotted(raw, key, copy.deepcopy(value), source=key)
        return raw


@dataclass
class Sweep:
    source: str  # the sweep file
    base: dict  # the base config as given (data paths made absolute), not yet resolved
    parameters: dict  # key -> {"values": [...]} or {"distribution": ..., "min": ..., "max": ...}
    method: str
    samples: int | None
    sample_seed: int
    seeds: list[int]
    metric: str
    early_stop: dict | None  # {"min_epochs": g, "reduction_factor": eta}
    trials: list[Trial]

    @property
    def points(self) -> int:
        return len(self.trials) // len(self.seeds)

    def config(self, trial: Trial) -> Config:
        return config_from_dict(trial.raw_config(self.base), self.point_name(trial.point))

    def point_name(self, point: int) -> str:
        """`SWEEP.yaml: point 3 (lr=0.05 hidden=[300])`: where a trial's config error is."""
        values = self.trials[point * len(self.seeds)].values
        label = point_label(values)
        return f"{self.source}: point {point}" + (f" ({label})" if label else "")

    def as_dict(self) -> dict:
        """Plain data for sweep.json (the trials as drawn: a resume never draws again)."""
        return {"source": self.source, "base": self.base, "parameters": self.parameters,
                "method": self.method, "samples": self.samples, "sample_seed": self.sample_seed,
                "seeds": self.seeds, "metric": self.metric, "early_stop": self.early_stop,
                "trials": [vars(trial) for trial in self.trials]}


STORED_KEYS = ("nnctl_sweep", "token", "source", *TOP_KEYS, "trials")  # sweep.json's


def sweep_from_dict(data: Any, where: str = "sweep.json") -> Sweep:
    """A sweep as `Sweep.as_dict` stored it, checked by the same validator as a sweep file (its
    base inline), and its trials where `load_sweep` lays them out, with values on the axes; a
    ConfigError naming `where` otherwise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: not a JSON object")
    for key in data:
        if key not in STORED_KEYS:
            raise ConfigError(f"{where}: {_shown(key)}: unknown key")
    missing = [key for key in ("source", "base", "method", "seeds", "metric", "trials")
               if key not in data]
    if missing or not isinstance(data["source"], str) or not isinstance(data["base"], dict):
        raise ConfigError(f"{where}: " + (f"no {missing[0]}" if missing else
                                          "source must be a file name and base a config"))
    raw = {key: data[key] for key in TOP_KEYS if key in data}
    if raw.get("samples") is None:  # as_dict stores a grid's unused samples and sample_seed
        raw.pop("samples", None)
        if raw.get("sample_seed") == 0:
            raw.pop("sample_seed")
    sweep = _checked(raw, where, Path.cwd())
    stored = data["trials"]
    expected = [vars(trial) for trial in sweep.trials]
    if (not isinstance(stored, list) or len(stored) != len(expected)
            or not all(isinstance(t, dict) for t in stored)):
        raise ConfigError(f"{where}: trials: must be the sweep's {len(expected):,} trials")
    for k, (trial, laid) in enumerate(zip(stored, expected)):
        first = k - k % len(sweep.seeds)  # the point's first trial: its values are the point's
        point = expected[k] if sweep.method == "grid" else stored[first]  # random: as drawn
        if (set(trial) != set(laid) or not all(_same(trial[key], laid[key])
                                               for key in ("id", "point", "seed"))
                or not _on_axes(trial["values"], sweep.parameters)
                or not _same(trial["values"], point["values"])):
            raise ConfigError(f"{where}: trials: trial {k} is not the sweep's {laid['id']}")
    trials = [Trial(t["id"], t["point"], t["seed"], dict(t["values"])) for t in stored]
    return dataclasses.replace(sweep, source=data["source"], trials=trials)


def _same(a: Any, b: Any) -> bool:
    """The same JSON value (1 and true are not)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _on_axes(values: Any, parameters: dict) -> bool:
    """A point's values: one per parameter, each a listed value or within its distribution."""
    if not isinstance(values, dict) or list(values) != list(parameters):
        return False
    for key, axis in parameters.items():
        value = values[key]
        if "values" in axis:
            if not any(_same(value, listed) for listed in axis["values"]):
                return False
        elif (isinstance(value, bool) or not isinstance(value, (int, float))
              or (axis["distribution"] == "int") != isinstance(value, int)
              or not axis["min"] <= value <= axis["max"]):
            return False
    return True


def point_label(values: dict) -> str:
    """`lr=0.05 hidden=[300]`: a point by its values (full keys where short ones collide)."""
    shorts = [short_key(key) for key in values]
    return " ".join(f"{short if shorts.count(short) == 1 else key}={value_text(value)}"
                    for (key, value), short in zip(values.items(), shorts))


# --------------------------------------------------------------------------- reading


def load_sweep(path: str | Path) -> Sweep:
    """Read, validate and expand a sweep file; every trial's config is validated too."""
    source = str(path)
    sweep = _checked(parse_yaml(read_config_text(Path(path)), source), source, Path(path).parent)
    check_trials(sweep)
    return sweep


def _checked(raw: Any, source: str, here: Path) -> Sweep:
    """The sweep a sweep file's contents describe (its base file relative to `here`), every key
    checked, expanded to its trials; the one validator of a sweep file and of sweep.json."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a sweep file is a mapping with keys {', '.join(TOP_KEYS)}")
    for key in raw:
        if key not in TOP_KEYS:
            raise ConfigError(f"{source}: {_shown(key)}: unknown key{_did_you_mean(key, TOP_KEYS)}")
    base = _base(raw.get("base"), source, here)
    method = _choice(raw.get("method", "grid"), METHODS, f"{source}: method")
    metric = raw.get("metric", "val_accuracy")
    if isinstance(metric, str) and metric.startswith("test"):
        raise ConfigError(f"{source}: metric: {metric} is a test figure; a sweep chooses on the "
                          "validation split (val_accuracy or val_loss), never on the test set")
    metric = _choice(metric, tuple(METRICS), f"{source}: metric")
    parameters = _parameters(raw.get("parameters"), source, method)
    samples, sample_seed = _samples(raw, source, method)
    seeds = _seeds(raw.get("seeds", DEFAULT_SEEDS), source)
    early_stop = _early_stop(raw.get("early_stop"), source)
    points = _points(parameters, method, samples, sample_seed, source, len(seeds))
    width = max(3, len(str(len(points) - 1)))
    trials = [Trial(f"p{k:0{width}d}-s{seed}", k, seed, values)
              for k, values in enumerate(points) for seed in seeds]
    return Sweep(source, base, parameters, method, samples, sample_seed, seeds, metric,
                 early_stop, trials)


def check_trials(sweep: Sweep) -> list[Config]:
    """Every trial's config, validated (the first invalid point is a ConfigError naming it)."""
    configs = []
    for trial in sweep.trials:
        config = sweep.config(trial)
        if config.data.validation == 0:
            raise ConfigError(f"{sweep.point_name(trial.point)}: data.validation: the sweep's "
                              f"metric, {sweep.metric}, needs a validation split (> 0)")
        configs.append(config)
    return configs


def _base(base: Any, source: str, here: Path) -> dict:
    """The base config as plain data: a file (relative to the sweep file) or inline; valid."""
    if base is None:
        raw, where = {}, f"{source}: base"
    elif isinstance(base, str):
        path = here / base
        where = str(path)
        raw = parse_yaml(read_config_text(path), where)
        raw = {} if raw is None else raw
    elif isinstance(base, dict):
        raw, where = base, f"{source}: base"
    else:
        raise ConfigError(f"{source}: base: a config file name or an inline config, got "
                          f"{_shown(base)}")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the config must be a mapping with sections model, training, "
                          "data")
    config_from_dict(copy.deepcopy(raw), where)  # the base alone is valid, or said so by its name
    raw = copy.deepcopy(raw)
    for key in PATH_KEYS:
        section, name = key.split(".")
        value = (raw.get(section) or {}).get(name)
        if isinstance(value, str):
            set_dotted(raw, key, os.path.abspath(value), source=where)
    return raw


def _parameters(parameters: Any, source: str, method: str) -> dict:
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise ConfigError(f"{source}: parameters: a mapping of dotted config keys, got "
                          f"{_shown(parameters)}")
    keys = [entry["key"] for entry in describe_keys()]
    checked = {}
    for key, spec in parameters.items():
        where = f"{source}: parameters: {_shown(key)}"
        if key not in keys:
            raise ConfigError(f"{where}: not a config key{_did_you_mean(key, keys)} "
                              "(nnctl train --keys lists them)")
        if key == "training.seed":
            raise ConfigError(f"{where}: give the seeds with seeds: [...], not as a parameter")
        checked[key] = _axis(spec, where, method, key)
    return checked


def _axis(spec: Any, where: str, method: str, key: str) -> dict:
    """{"values": [...]} or {"distribution": name, "min": a, "max": b}, checked."""
    if not isinstance(spec, dict) or not ("values" in spec) ^ ("distribution" in spec):
        raise ConfigError(f"{where}: give values: [...] or distribution: "
                          f"{'|'.join(DISTRIBUTIONS)} with min and max")
    if "values" in spec:
        if set(spec) != {"values"}:
            raise ConfigError(f"{where}: values: [...] takes no other key")
        values = spec["values"]
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
            raise ConfigError(f"{where}: values: a list of 1 to {MAX_VALUES:,} values")
        if key in PATH_KEYS:
            values = [os.path.abspath(v) if isinstance(v, str) else v for v in values]
        shown = [value_text(v) for v in values]
        if len(set(shown)) < len(shown):
            raise ConfigError(f"{where}: values: a value is listed twice")
        return {"values": values}
    for name in spec:
        if name not in ("distribution", "min", "max"):
            raise ConfigError(f"{where}: {_shown(name)}: unknown key "
                              "(a distribution takes min and max)")
    kind = _choice(spec["distribution"], DISTRIBUTIONS, f"{where}: distribution")
    if method != "random":
        raise ConfigError(f"{where}: a distribution needs method: random (a grid takes "
                          "values: [...])")
    low, high = (_bound(spec.get(name), f"{where}: {name}", kind) for name in ("min", "max"))
    if not (low < high or (kind == "int" and low == high)):
        raise ConfigError(f"{where}: min must be below max, got {low} and {high}")
    if kind == "uniform" and not math.isfinite(high - low):
        raise ConfigError(f"{where}: max - min must be a finite number (at most "
                          f"{sys.float_info.max:.4g}), got {low:g} and {high:g}")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: min: a loguniform distribution needs min > 0, got {low}")
    return {"distribution": kind, "min": low, "max": high}


def _bound(value: Any, where: str, kind: str) -> float | int:
    """A distribution's min or max: a finite number (a whole one within +-MAX_INT_BOUND for an
    int distribution, so that max - min fits the generator's 64-bit integers)."""
    if isinstance(value, str) and kind != "int":
        try:
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        except ValueError:
            pass
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int" and not (number and isinstance(value, int)):
        raise ConfigError(f"{where}: an int distribution needs whole numbers, got {_shown(value)}")
    if kind == "int" and abs(value) > MAX_INT_BOUND:
        raise ConfigError(f"{where}: an int distribution's bounds lie within +-(2**62 - 1), got "
                          f"{_shown(value)}")
    if not number:
        raise ConfigError(f"{where}: must be a number, got {_shown(value)}")
    if not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {_shown(value)}")
    return value if kind == "int" else float(value)


def _samples(raw: dict, source: str, method: str) -> tuple[int | None, int]:
    samples, seed = raw.get("samples"), raw.get("sample_seed", 0)
    if method == "grid":
        for key in ("samples", "sample_seed"):
            if key in raw:
                raise ConfigError(f"{source}: {key}: only with method: random (a grid runs "
                                  "every point)")
        return None, 0
    if samples is None:
        raise ConfigError(f"{source}: samples: method: random needs samples: N, the number of "
                          "points to draw")
    return (_whole(samples, f"{source}: samples", 1, MAX_TRIALS),
            _whole(seed, f"{source}: sample_seed", 0, 2**63 - 1))


def _seeds(seeds: Any, source: str) -> list[int]:
    if not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_SEEDS:
        raise ConfigError(f"{source}: seeds: a list of 1 to {MAX_SEEDS:,} whole numbers, e.g. "
                          "[0, 1, 2]")
    seeds = [_whole(seed, f"{source}: seeds", 0, 2**63 - 1) for seed in seeds]
    if len(set(seeds)) < len(seeds):
        raise ConfigError(f"{source}: seeds: a seed is listed twice")
    return seeds


def _early_stop(spec: Any, source: str) -> dict | None:
    if spec is None or spec is False:
        return None
    if spec is True:
        spec = {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: early_stop: a mapping with min_epochs and "
                          "reduction_factor (or true for their defaults)")
    for key in spec:
        if key not in EARLY_STOP_KEYS:
            raise ConfigError(f"{source}: early_stop: {_shown(key)}: unknown key"
                              f"{_did_you_mean(key, tuple(EARLY_STOP_KEYS))}")
    return {"min_epochs": _whole(spec.get("min_epochs", 1), f"{source}: early_stop: min_epochs",
                                 1, 1_000_000),
            "reduction_factor": _whole(spec.get("reduction_factor", 3),
                                       f"{source}: early_stop: reduction_factor", 2, 1_000)}


def _points(parameters: dict, method: str, samples: int | None, sample_seed: int, source: str,
            seeds: int) -> list[dict]:
    """The points: every combination of the axes (grid), or `samples` draws (random)."""
    count = samples if method == "random" else math.prod(len(p["values"])
                                                         for p in parameters.values())
    if count * seeds > MAX_TRIALS:
        raise ConfigError(f"{source}: {count:,} points x {seeds} seeds make more than "
                          f"{MAX_TRIALS:,} trials; split the sweep")
    if method == "grid":
        axes = [[(key, value) for value in p["values"]] for key, p in parameters.items()]
        return [dict(combination) for combination in itertools.product(*axes)]
    rng = np.random.default_rng(sample_seed)
    return [{key: _draw(p, rng) for key, p in parameters.items()} for _ in range(count)]


def _draw(parameter: dict, rng: np.random.Generator) -> Any:
    """One value of a parameter: a list value, or a number from its distribution."""
    if "values" in parameter:
        return copy.deepcopy(parameter["values"][int(rng.integers(len(parameter["values"])))])
    low, high = parameter["min"], parameter["max"]
    kind = parameter["distribution"]
    if kind == "int":
        return int(rng.integers(low, high, endpoint=True))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def _whole(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}: must be a whole number from {low:,} to {high:,}, got "
                          f"{show_value(value)}")
    return value


def _choice(value: Any, names: tuple[str, ...], where: str) -> str:
    if value not in names:
        raise ConfigError(f"{where}: {_shown(value)}: choose from {', '.join(names)}"
                          f"{_did_you_mean(value, names)}")
    return value


def _did_you_mean(name: Any, names: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _shown(value: Any) -> str:
    """A value as the config's errors show it: bounded, cut to about 40 characters."""
    return value if isinstance(value, str) and len(value) <= 40 else show_value(value)
