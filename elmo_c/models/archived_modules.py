"""
Modules started from a trained model, for continued pretraining on a domain: the
config entry and the weights of an archive's input layer or encoder, and a training
config with its `from_archive` entries replaced by what they stand for, so that the
model it trains is archived like any other.
"""
import logging
from typing import Any, Dict, Tuple

import torch
from allennlp.common.checks import ConfigurationError

from elmo_c.config_defaults import fallback_notice

logger = logging.getLogger(__name__)

FROM_ARCHIVE = "from_archive"
# The model's modules that can start from an archive (the output layer never does:
# a domain brings its own targets and vocabulary).
ARCHIVED_MODULES = ("input_layer", "encoder")
# A `from_archive` entry's keys that name the archive rather than change the module.
_SOURCE_KEYS = ("type", "archive_file")
# An archive trained from another archive, itself trained from another, ...
_MAX_CHAIN = 20

_announced = set()


def archived_module(archive_file: str, name: str) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """
    The config entry of the archive's `name` module ("input_layer" or "encoder"),
    as concrete as `concrete_entry` makes it, and its trained weights (named as in
    the module, without the `name.` prefix), on the CPU.

    Raises `ConfigurationError` naming the archive if it is missing, unreadable or
    not a `continuous_output_language_model`.
    """
    from elmo_c.models.archive_loading import read_bilm_archive  # the models import this package's modules

    _announce_fallback(archive_file)
    config, state = read_bilm_archive(archive_file)
    entry = concrete_entry(config.as_dict(quiet=True)["model"].get(name, {}), name)
    prefix = name + "."
    weights = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    if not weights:
        raise ConfigurationError(f"{archive_file} has no {name} weights: give the model.tar.gz of a trained ELMo-C")
    return entry, weights


def concrete_entry(entry: Dict[str, Any], name: str, _depth: int = 0) -> Dict[str, Any]:
    """
    A config entry of the `name` module; a `from_archive` one is replaced by the
    archive's own entry (followed through archives that started from archives),
    with the entry's other keys (e.g. an encoder's `dropout`) applied over it.
    """
    if entry.get("type") != FROM_ARCHIVE:
        return dict(entry)
    if _depth >= _MAX_CHAIN:
        raise ConfigurationError(
            f"The {name} starts from an archive whose {name} starts from another, more than {_MAX_CHAIN} deep: "
            f"start from an archive whose config gives the {name} itself"
        )
    if not entry.get("archive_file"):
        raise ConfigurationError(f'A "{FROM_ARCHIVE}" {name} needs "archive_file": the model.tar.gz to start from')
    from elmo_c.models.archive_loading import read_bilm_archive

    archived = read_bilm_archive(entry["archive_file"])[0].as_dict(quiet=True)["model"].get(name, {})
    changes = {key: value for key, value in entry.items() if key not in _SOURCE_KEYS and value is not None}
    return {**concrete_entry(archived, name, _depth + 1), **changes}


def resolve_archived_modules(config: Dict[str, Any]) -> Dict[str, Any]:
    """
    A whole training config with each `from_archive` input layer and encoder
    replaced by its `concrete_entry`: the config of a model that loads without the
    archive it started from.
    """
    model = dict(config.get("model", {}))
    for name in ARCHIVED_MODULES:
        if isinstance(model.get(name), dict):
            model[name] = concrete_entry(model[name], name)
    return {**config, "model": model}


def load_archived_weights(module: torch.nn.Module, weights: Dict[str, torch.Tensor], archive_file: str,
                          name: str) -> None:
    """`module.load_state_dict(weights)`, a mismatch reported as the archive's fault."""
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:
        raise ConfigurationError(
            f"The {name} weights of {archive_file} do not fit the {name} its config describes ({error}): "
            f"the archive is damaged; write it again"
        ) from None


def _announce_fallback(archive_file: str) -> None:
    notice = fallback_notice(archive_file)
    if notice and archive_file not in _announced:
        _announced.add(archive_file)
        logger.warning(notice)
