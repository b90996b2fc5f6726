"""Config files (nnctl.io.config.build, through load_config and config_from_dict): the shipped
configs, defaults, every kind of error, the dumped config read back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from configfiles import load_error, write

from nnctl.errors import ConfigError
from nnctl.io.config import Config, config_from_dict, dump_config, load_config

REPO = Path(__file__).resolve().parents[3]
CONFIG_FILES = sorted((REPO / "configs").glob("*.yaml"))


def round_trip(config: Config) -> Config:
    return config_from_dict(yaml.safe_load(dump_config(config)), "dumped")


# --------------------------------------------------------------------------- shipped configs


def test_there_are_shipped_configs():
    assert CONFIG_FILES, "configs/*.yaml is empty"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.name for p in CONFIG_FILES])
def test_shipped_config_loads_and_round_trips(path):
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.model.output is not None and config.training.loss is not None
    assert round_trip(config) == config


def test_default_yaml_values():
    config = load_config(REPO / "configs" / "default.yaml")
    raw = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    assert config.model.hidden == raw["model"]["hidden"]
    assert config.training.epochs == raw["training"]["epochs"]
    assert config.training.learning_rate == raw["training"]["learning_rate"]
    assert config.data.validation == raw["data"]["validation"]


# --------------------------------------------------------------------------- defaults


def test_empty_file_gives_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    defaults = Config()
    assert config.model.hidden == defaults.model.hidden == []
    assert config.training == dataclasses.replace(defaults.training, loss="cross_entropy")
    assert config.data == defaults.data
    assert config.model.output == "softmax"


def test_backprop_defaults_to_softmax_and_cross_entropy(tmp_path):
    config = load_config(write(tmp_path, "model: {hidden: [20]}\ntraining: {rule: backprop}\n"))
    assert config.model.output == "softmax"
    assert config.training.loss == "cross_entropy"


@pytest.mark.parametrize("rule, loss", [("perceptron", "perceptron"), ("delta", "squared_error")])
def test_single_layer_rules_default_to_identity_and_their_loss(tmp_path, rule, loss):
    config = load_config(write(tmp_path, f"training: {{rule: {rule}}}\n"))
    assert config.model.output == "identity"
    assert config.training.loss == loss
    assert config.model.hidden == []


@pytest.mark.parametrize("rule, loss", [("perceptron", "perceptron"), ("delta", "squared_error")])
def test_single_layer_rules_accept_their_own_settings_spelled_out(tmp_path, rule, loss):
    text = f"model: {{hidden: [], output: identity}}\ntraining: {{rule: {rule}, loss: {loss}}}\n"
    config = load_config(write(tmp_path, text))
    assert (config.model.output, config.training.loss) == ("identity", loss)


def test_backprop_keeps_explicit_output_and_loss(tmp_path):
    config = load_config(write(tmp_path,
                               "model: {output: sigmoid}\ntraining: {loss: squared_error}\n"))
    assert (config.model.output, config.training.loss) == ("sigmoid", "squared_error")
    config = load_config(write(tmp_path,
                               "model: {output: identity}\ntraining: {loss: squared_error}\n"))
    assert (config.model.output, config.training.loss) == ("identity", "squared_error")


def test_empty_sections_are_allowed(tmp_path):
    config = load_config(write(tmp_path, "model:\ntraining:\ndata:\n"))
    assert config.training.epochs == Config().training.epochs


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert str(path) in load_error(path)


@pytest.mark.parametrize(
    "text",
    [
        "model:\n  hidden: [1, 2\ntraining: {}\n",
        "model:\n  hidden: [10]\n   activation: tanh\n",
        "training:\n\tepochs: 3\n",
        "model: {hidden: [10]\ndata: {}\n",
        "a: b: c\n",
    ],
    ids=["unclosed-list", "bad-indent", "tab", "unclosed-map", "nested-colon"],
)
def test_invalid_yaml(tmp_path, text):
    path = write(tmp_path, text)
    message = load_error(path)
    assert str(path) in message
    assert "line" in message and "column" in message


@pytest.mark.parametrize("text", ["- model\n- training\n", "just a string\n", "42\n"],
                         ids=["list", "str", "int"])
def test_not_a_mapping(tmp_path, text):
    path = write(tmp_path, text)
    message = load_error(path)
    assert str(path) in message
    assert "mapping" in message


@pytest.mark.parametrize(
    "text, key",
    [("model: 3\n", "model"), ("training: [1, 2]\n", "training"),
     ("model:\n  init: he\n", "model.init"), ("training:\n  stop: true\n", "training.stop")],
)
def test_section_not_a_mapping(tmp_path, text, key):
    path = write(tmp_path, text)
    message = load_error(path)
    assert str(path) in message and key in message
    assert "mapping" in message


# Each case: YAML text, the dotted key the message must name, further words it must contain.
ERROR_CASES = {
    # unknown keys, with did-you-mean
    "unknown-section": ("trainng:\n  epochs: 3\n", "trainng", ["unknown key", "'training'"]),
    "unknown-key": ("training:\n  learning_rat: 0.1\n", "training.learning_rat",
                    ["'training.learning_rate'"]),
    "unknown-nested": ("model:\n  init:\n    sheme: he\n", "model.init.sheme",
                       ["'model.init.scheme'"]),
    "unknown-stop": ("training:\n  stop:\n    patients: 3\n", "training.stop.patients",
                     ["'training.stop.patience'"]),
    "unknown-no-match": ("zzzzzz: 1\n", "zzzzzz", ["unknown key"]),
    # wrong types
    "str-for-float": ("training:\n  learning_rate: fast\n", "training.learning_rate",
                      ["number", "fast"]),
    "quoted-number": ("training:\n  learning_rate: '0.1'\n", "training.learning_rate", ["number"]),
    "str-for-int": ("training:\n  epochs: ten\n", "training.epochs", ["whole number"]),
    "bool-for-int": ("training:\n  epochs: true\n", "training.epochs", ["whole number"]),
    "float-for-int": ("training:\n  epochs: 2.5\n", "training.epochs", ["whole number"]),
    "bool-for-float": ("training:\n  learning_rate: false\n", "training.learning_rate", ["number"]),
    "number-for-list": ("model:\n  hidden: 100\n", "model.hidden", ["list"]),
    "string-for-list": ("model:\n  hidden: '100'\n", "model.hidden", ["list"]),
    "float-in-list": ("model:\n  hidden: [100, 1.5]\n", "model.hidden", ["whole number"]),
    "bool-in-list": ("model:\n  hidden: [true]\n", "model.hidden", ["whole number"]),
    "str-for-bool": ("training:\n  shuffle: 'no'\n", "training.shuffle", ["true or false"]),
    "int-for-bool": ("training:\n  stop:\n    no_mistakes: 1\n", "training.stop.no_mistakes",
                     ["true or false"]),
    "number-for-str": ("model:\n  activation: 3\n", "model.activation", ["string"]),
    "number-for-path": ("data:\n  dir: 5\n", "data.dir", ["string"]),
    "nan": ("training:\n  learning_rate: .nan\n", "training.learning_rate", ["finite"]),
    "inf": ("training:\n  decay: .inf\n", "training.decay", ["finite"]),
    # out of range
    "lr-zero": ("training:\n  learning_rate: 0\n", "training.learning_rate", ["> 0"]),
    "lr-negative": ("training:\n  learning_rate: -0.1\n", "training.learning_rate", ["> 0"]),
    "epochs-negative": ("training:\n  epochs: -1\n", "training.epochs", [">= 0"]),
    "hidden-zero": ("model:\n  hidden: [0]\n", "model.hidden", ["> 0"]),
    "hidden-negative": ("model:\n  hidden: [100, -5]\n", "model.hidden", ["> 0"]),
    "validation-negative": ("data:\n  validation: -1\n", "data.validation", [">= 0"]),
    "limit-zero": ("data:\n  limit: 0\n", "data.limit", ["> 0"]),
    "scale-negative": ("model:\n  init:\n    scale: -1\n", "model.init.scale", [">= 0"]),
    "decay-negative": ("training:\n  decay: -0.5\n", "training.decay", [">= 0"]),
    "seed-negative": ("training:\n  seed: -3\n", "training.seed", [">= 0"]),
    "patience-zero": ("training:\n  stop:\n    patience: 0\n", "training.stop.patience", ["> 0"]),
    "tolerance-zero": ("training:\n  stop:\n    tolerance: 0\n", "training.stop.tolerance",
                       ["> 0"]),
    # unknown choices, with suggestions
    "activation-typo": ("model:\n  activation: sigmod\n", "model.activation",
                        ["sigmod", "'sigmoid'"]),
    "output-typo": ("model:\n  output: softmx\n", "model.output", ["'softmax'"]),
    "rule-typo": ("training:\n  rule: backprob\n", "training.rule", ["'backprop'"]),
    "loss-typo": ("training:\n  loss: cross_entropie\n", "training.loss", ["'cross_entropy'"]),
    "scheme-typo": ("model:\n  init:\n    scheme: xavir\n", "model.init.scheme", ["'xavier'"]),
    "schedule-typo": ("training:\n  schedule: constnt\n", "training.schedule", ["'constant'"]),
    "dtype-unknown": ("training:\n  dtype: int8\n", "training.dtype", ["float32", "float64"]),
    "engine-unknown": ("training:\n  engine: warp-drive\n", "training.engine", ["reference"]),
    # combinations that make no sense
    "perceptron-hidden": ("model:\n  hidden: [10]\ntraining:\n  rule: perceptron\n",
                          "model.hidden", ["perceptron"]),
    "delta-hidden": ("model:\n  hidden: [10, 5]\ntraining:\n  rule: delta\n", "model.hidden",
                     ["delta"]),
    "delta-softmax": ("model:\n  output: softmax\ntraining:\n  rule: delta\n", "model.output",
                      ["identity"]),
    "perceptron-sigmoid": ("model:\n  output: sigmoid\ntraining:\n  rule: perceptron\n",
                           "model.output", ["identity"]),
    "perceptron-wrong-loss": ("training:\n  rule: perceptron\n  loss: squared_error\n",
                              "training.loss", ["perceptron"]),
    "delta-wrong-loss": ("training:\n  rule: delta\n  loss: perceptron\n", "training.loss",
                         ["squared_error"]),
    "ce-identity": ("model:\n  output: identity\ntraining:\n  loss: cross_entropy\n",
                    "training.loss", ["identity"]),
    "perceptron-loss-backprop": ("training:\n  rule: backprop\n  loss: perceptron\n",
                                 "training.loss", ["perceptron"]),
    "patience-no-validation": ("training:\n  stop:\n    patience: 3\ndata:\n  validation: 0\n",
                               "training.stop.patience", ["validation"]),
    "validation-equals-limit": ("data:\n  limit: 100\n  validation: 100\n", "data.validation",
                                ["100"]),
    "validation-above-limit": ("data:\n  limit: 100\n  validation: 5000\n", "data.validation",
                               ["5,000", "data.validation=0.1"]),
}


@pytest.mark.parametrize("text, key, words", list(ERROR_CASES.values()), ids=list(ERROR_CASES))
def test_config_errors_name_file_and_key(tmp_path, text, key, words):
    path = write(tmp_path, text)
    message = load_error(path)
    assert str(path) in message
    assert key in message
    for word in words:
        assert word in message


# --------------------------------------------------------------------------- dump_config round trip


ROUND_TRIP_CASES = {
    "defaults": {},
    "perceptron": {"training": {"rule": "perceptron", "epochs": 2}},
    "delta": {"training": {"rule": "delta", "learning_rate": 0.01, "schedule": "inverse",
                           "decay": 0.5}},
    "mlp": {
        "model": {"hidden": [64, 32], "activation": "relu", "output": "sigmoid",
                  "init": {"scheme": "he", "scale": 0.5}},
        "training": {"loss": "squared_error", "dtype": "float64", "shuffle": False, "seed": 7,
                     "stop": {"no_mistakes": True, "tolerance": 1e-4, "patience": 3}},
        "data": {"dir": "somewhere", "train_images": "a.gz", "validation": 10, "limit": 100},
    },
}


@pytest.mark.parametrize("raw", list(ROUND_TRIP_CASES.values()), ids=list(ROUND_TRIP_CASES))
def test_dump_config_round_trip(tmp_path, raw):
    config = config_from_dict(raw, "test")
    again = round_trip(config)
    assert again == config
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
    assert dump_config(again) == dump_config(config)


def test_round_trip_detects_differences():
    config = config_from_dict({"model": {"hidden": [10]}}, "test")
    other = config_from_dict({"model": {"hidden": [11]}}, "test")
    assert round_trip(config) != other


def test_exponent_without_a_dot_is_a_number(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-3 as a string; a user means a number
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  learning_rate: 1e-3\n")
    assert load_config(path).training.learning_rate == 0.001
    path.write_text("training:\n  learning_rate: fast\n")
    with pytest.raises(ConfigError, match="training.learning_rate"):
        load_config(path)
