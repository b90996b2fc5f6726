"""YAML config -> validated dataclasses.

The config is the experiment: every key has a type, a default and a range (schema), unknown keys
are errors with a did-you-mean (suggestions), and combinations that make no sense are refused
before any work starts (checks). The YAML is read with bounds for untrusted text (yaml_reader);
`--set dotted.key=value` overrides are applied before validation (overrides); build puts it
together. The modules import each other, never this package: it only re-exports their public
names, so that callers write `from nnctl.io.config import load_config`.
"""

from nnctl.io.config.build import (
    MAX_INT,
    config_from_dict,
    config_to_dict,
    config_with_overrides,
    dump_config,
    load_config,
)
from nnctl.io.config.checks import (
    INIT_CHECK_EXAMPLES,
    RULE_LOSS,
    check_initial_network,
    network_memory_problem,
)
from nnctl.io.config.overrides import flatten, parse_override, set_dotted
from nnctl.io.config.schema import (
    PATH_KEYS,
    AffineConfig,
    AugmentConfig,
    Config,
    DataConfig,
    DropoutConfig,
    ElasticConfig,
    InitConfig,
    ModelConfig,
    StopConfig,
    TrainingConfig,
    describe_keys,
)
from nnctl.io.config.shown import show_value
from nnctl.io.config.yaml_reader import parse_yaml, read_config_text

__all__ = [
    "INIT_CHECK_EXAMPLES",
    "MAX_INT",
    "PATH_KEYS",
    "RULE_LOSS",
    "AffineConfig",
    "AugmentConfig",
    "Config",
    "DataConfig",
    "DropoutConfig",
    "ElasticConfig",
    "InitConfig",
    "ModelConfig",
    "StopConfig",
    "TrainingConfig",
    "check_initial_network",
    "config_from_dict",
    "config_to_dict",
    "config_with_overrides",
    "describe_keys",
    "dump_config",
    "flatten",
    "load_config",
    "network_memory_problem",
    "parse_override",
    "parse_yaml",
    "read_config_text",
    "set_dotted",
    "show_value",
]
