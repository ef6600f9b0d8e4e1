"""
ELMo's file format, as allennlp's `Elmo` and bilm-tf read it: the options
(`options.json`) and the datasets of the weight file (`weights.hdf5`, in
TensorFlow's layout), mapped to and from this project's `characters` input layer
and `BidirectionalLmEncoder`.  `export-elmo` and `import-elmo` share it: each
dataset's two directions sit side by side (`ElmoDataset`), so the layout is
written down once.

The mappings are exact (transposes, reorderings and negations of float32 values),
so exporting an imported model gives the weight file back bit for bit.
"""
import json
import logging
import os
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy
import torch
from allennlp.common.checks import ConfigurationError

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=FutureWarning)
    import h5py

if TYPE_CHECKING:
    from elmo_c.models.archive_loading import PretrainedBiLm

logger = logging.getLogger(__name__)

# ELMo's character ids: 256 bytes, 5 specials and padding (bilm-tf's inference value).
N_CHARACTERS = 262
# bilm-tf's training value: the same characters without the padding id, which its
# weight files never hold (readers insert a zero row 0).
TRAINING_N_CHARACTERS = 261
MAX_CHARACTERS_PER_TOKEN = 50
ACTIVATIONS = ("relu", "tanh")


class ElmoDataset:
    """
    One dataset of ELMo's weight file and how it maps to this project's parameters.

    # Parameters

    name : `str`
        Its path in the HDF5 file.
    fields : `str`
        The options that set its shape (for error messages).
    read : `Callable[[], numpy.ndarray]`
        Our parameters -> ELMo's float32 array.
    write : `Callable[[numpy.ndarray], None]`
        ELMo's array -> our parameters (called without gradient tracking).
    """

    def __init__(
        self,
        name: str,
        fields: str,
        read: Callable[[], numpy.ndarray],
        write: Callable[[numpy.ndarray], None],
    ) -> None:
        self.name = name
        self.fields = fields
        self.read = read
        self.write = write

    @property
    def shape(self) -> Tuple[int, ...]:
        """The shape the options imply."""
        return tuple(self.read().shape)


class LayoutError(ValueError):
    """An array has the right shape but a value this project cannot express."""


def lstm_prefix(direction: int, layer: int) -> str:
    """The group of one LSTM layer: direction 0 forward, 1 backward."""
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def elmo_datasets(bilm: "PretrainedBiLm") -> List[ElmoDataset]:
    """Every dataset of ELMo's weight file for `bilm`, in the file's usual order."""
    datasets = _character_cnn_datasets(bilm.input_layer)
    for direction, stack in enumerate((bilm.encoder.forward_layers, bilm.encoder.backward_layers)):
        for index, lstm in enumerate(stack):
            datasets += _lstm_datasets(lstm, lstm_prefix(direction, index))
    return datasets


def elmo_weights(bilm: "PretrainedBiLm") -> Dict[str, numpy.ndarray]:
    """ELMo's weight file as `{hdf5 path: float32 array}`, in TensorFlow's layout."""
    return {dataset.name: dataset.read() for dataset in elmo_datasets(bilm)}


def load_elmo_weights(bilm: "PretrainedBiLm", arrays: Mapping[str, numpy.ndarray], weight_file: str) -> None:
    """
    Copies ELMo's arrays (as `read_elmo_weights` returns them) into `bilm`.
    `ConfigurationError` naming `weight_file` for a value the project cannot express.
    """
    with torch.no_grad():
        for dataset in elmo_datasets(bilm):
            try:
                dataset.write(arrays[dataset.name])
            except LayoutError as error:
                raise ConfigurationError(f"{weight_file}: dataset {dataset.name} {error}") from None


# -- The character CNN.


def _character_cnn_datasets(cnn: torch.nn.Module) -> List[ElmoDataset]:
    filters = "char_cnn.filters, char_cnn.embedding.dim"
    datasets = [_character_embedding(cnn.character_embedding.weight)]
    for index, convolution in enumerate(cnn.convolutions):
        # torch (filters, channels, width) <-> TF (1, width, channels, filters)
        datasets.append(
            _parameter(
                f"CNN/W_cnn_{index}",
                filters,
                convolution.weight,
                to_elmo=lambda weight: weight.permute(2, 1, 0).unsqueeze(0),
                from_elmo=lambda array: array[0].permute(2, 1, 0),
            )
        )
        datasets.append(_parameter(f"CNN/b_cnn_{index}", filters, convolution.bias))
    for index, layer in enumerate(cnn.highways._layers):
        datasets += _highway_datasets(layer, f"CNN_high_{index}")
    projection = "char_cnn.filters, lstm.projection_dim"
    datasets.append(_parameter("CNN_proj/W_proj", projection, cnn.projection.weight, _transpose, _transpose))
    datasets.append(_parameter("CNN_proj/b_proj", projection, cnn.projection.bias))
    return datasets


def _character_embedding(weight: torch.Tensor) -> ElmoDataset:
    # ELMo's file has no padding row: readers insert a zero row 0.
    def write(array: numpy.ndarray) -> None:
        weight.copy_(torch.cat([weight.new_zeros(1, weight.size(1)), _tensor(array)]))

    return ElmoDataset(
        "char_embed", "char_cnn.n_characters, char_cnn.embedding.dim", lambda: _numpy(weight[1:]), write
    )


def _highway_datasets(layer: torch.nn.Linear, prefix: str) -> List[ElmoDataset]:
    """
    allennlp's Highway is one Linear with [transform; carry] rows, its gate
    weighting the input: ELMo's carry gate weights the transform instead, so its
    carry weights and bias are the negation of allennlp's.
    """
    fields = "char_cnn.n_highway, char_cnn.filters"
    transform, carry = slice(0, layer.in_features), slice(layer.in_features, 2 * layer.in_features)
    return [
        _parameter(f"{prefix}/W_transform", fields, layer.weight[transform], _transpose, _transpose),
        _parameter(f"{prefix}/b_transform", fields, layer.bias[transform]),
        _parameter(f"{prefix}/W_carry", fields, layer.weight[carry], _negated_transpose, _negated_transpose),
        _parameter(f"{prefix}/b_carry", fields, layer.bias[carry], _negated, _negated),
    ]


# -- The LSTM layers.


def _lstm_datasets(lstm: torch.nn.LSTM, prefix: str) -> List[ElmoDataset]:
    """
    TensorFlow's LSTMCell keeps one kernel `W_0` for `[input; state]` and one bias
    `B`, gates in the order (input, cell, forget, output), and adds 1 to the forget
    gate's bias at run time (allennlp adds it when loading).  Here that 1 lives in
    `bias_hh_l0` (what an import writes there), so `B` is `bias_ih_l0` exactly.
    """
    cell_size, input_size = lstm.hidden_size, lstm.input_size
    fields = "lstm.n_layers, lstm.dim, lstm.projection_dim"

    def read_kernel() -> numpy.ndarray:
        kernel = torch.cat([lstm.weight_ih_l0, lstm.weight_hh_l0], dim=1)
        return _numpy(_swap_cell_and_forget_gates(kernel, cell_size).t())

    def write_kernel(array: numpy.ndarray) -> None:
        kernel = _swap_cell_and_forget_gates(_tensor(array).t(), cell_size)
        lstm.weight_ih_l0.copy_(kernel[:, :input_size])
        lstm.weight_hh_l0.copy_(kernel[:, input_size:])

    def read_bias() -> numpy.ndarray:
        # Subtracting the offset from bias_hh first keeps B exact where bias_hh is
        # the offset alone (an imported model).
        bias = lstm.bias_ih_l0 + (lstm.bias_hh_l0 - _forget_offset(lstm))
        return _numpy(_swap_cell_and_forget_gates(bias, cell_size))

    def write_bias(array: numpy.ndarray) -> None:
        lstm.bias_ih_l0.copy_(_swap_cell_and_forget_gates(_tensor(array), cell_size))
        lstm.bias_hh_l0.copy_(_forget_offset(lstm))

    return [
        ElmoDataset(f"{prefix}/W_0", fields, read_kernel, write_kernel),
        ElmoDataset(f"{prefix}/B", fields, read_bias, write_bias),
        _projection(lstm, f"{prefix}/W_P_0", fields),
    ]


def _projection(lstm: torch.nn.LSTM, name: str, fields: str) -> ElmoDataset:
    """
    `W_P_0`, `(cell_size, projection_dim)`.  Without projection (`projection_dim ==
    cell_size`) our LSTM computes what the identity projection does; another square
    matrix cannot be expressed.
    """
    if lstm.proj_size > 0:
        return _parameter(name, fields, lstm.weight_hr_l0, _transpose, _transpose)

    def write(array: numpy.ndarray) -> None:
        if not numpy.array_equal(array, numpy.eye(lstm.hidden_size, dtype=array.dtype)):
            raise LayoutError(
                "is not the identity, though lstm.projection_dim equals lstm.dim: this project's LSTM has "
                "no projection at that size, so it cannot express this one"
            )

    return ElmoDataset(name, fields, lambda: numpy.eye(lstm.hidden_size, dtype=numpy.float32), write)


def _swap_cell_and_forget_gates(rows: torch.Tensor, cell_size: int) -> torch.Tensor:
    """torch's gates (input, forget, cell, output) <-> TensorFlow's (input, cell, forget, output)."""
    input_gate, second, third, output_gate = rows.split(cell_size, dim=0)
    return torch.cat([input_gate, third, second, output_gate], dim=0)


def _forget_offset(lstm: torch.nn.LSTM) -> torch.Tensor:
    """TensorFlow's run-time forget bias, in torch's gate order."""
    offset = torch.zeros_like(lstm.bias_hh_l0)
    offset[lstm.hidden_size : 2 * lstm.hidden_size] = 1.0
    return offset


# -- Parameters <-> arrays.


def _parameter(
    name: str,
    fields: str,
    parameter: torch.Tensor,
    to_elmo: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    from_elmo: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
) -> ElmoDataset:
    """A dataset that is one parameter (or a slice of one) under an exact transformation."""
    to_elmo = to_elmo or _same
    from_elmo = from_elmo or _same
    return ElmoDataset(
        name,
        fields,
        lambda: _numpy(to_elmo(parameter)),
        lambda array: parameter.copy_(from_elmo(_tensor(array))),
    )


def _same(values: torch.Tensor) -> torch.Tensor:
    return values


def _transpose(values: torch.Tensor) -> torch.Tensor:
    return values.t()


def _negated(values: torch.Tensor) -> torch.Tensor:
    return -values


def _negated_transpose(values: torch.Tensor) -> torch.Tensor:
    return -values.t()


def _numpy(tensor: torch.Tensor) -> numpy.ndarray:
    return tensor.detach().cpu().float().contiguous().numpy()


def _tensor(array: numpy.ndarray) -> torch.Tensor:
    return torch.from_numpy(numpy.ascontiguousarray(array, dtype=numpy.float32))


# -- Options.


def elmo_options(bilm: "PretrainedBiLm") -> Dict[str, Any]:
    """ELMo's options for `bilm` (the keys allennlp's `Elmo` and bilm-tf read)."""
    cnn, encoder = bilm.input_layer, bilm.encoder
    return {
        "bidirectional": True,
        "char_cnn": {
            "activation": cnn.activation,
            "embedding": {"dim": cnn.character_embedding.embedding_dim},
            "filters": [list(pair) for pair in cnn.filters],
            "max_characters_per_token": MAX_CHARACTERS_PER_TOKEN,
            "n_characters": N_CHARACTERS,
            "n_highway": cnn.num_highway,
        },
        "lstm": {
            # allennlp reads these two keys unconditionally; null means no clipping.
            "cell_clip": encoder.cell_clip,
            "proj_clip": encoder.projection_clip,
            "dim": encoder.cell_size,
            "n_layers": encoder.num_layers,
            "projection_dim": encoder.projection_dim,
            "use_skip_connections": True,
        },
    }


def read_elmo_options(options_file: str) -> Dict[str, Any]:
    """ELMo's options file as a dict; `ConfigurationError` naming it if missing or not JSON."""
    if not os.path.isfile(options_file):
        raise ConfigurationError(f"The ELMo options file {options_file} does not exist: give ELMo's options.json")
    try:
        with open(options_file, encoding="utf-8") as options_stream:
            options = json.load(options_stream)
    except (ValueError, OSError) as error:
        raise ConfigurationError(
            f"Cannot read the ELMo options file {options_file} ({error}): give ELMo's options.json"
        ) from None
    if not isinstance(options, dict):
        raise ConfigurationError(f"{options_file} is not an ELMo options file (not a JSON object)")
    return options


def bilm_config(options: Mapping[str, Any], options_file: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """
    The `characters` input layer's and `BidirectionalLmEncoder`'s parameters for
    ELMo's options, after checking every field allennlp's `Elmo` reads.  Clips of 0
    or null mean no clipping (as in allennlp).

    # Returns

    `(input_layer, encoder)` parameter dicts.
    """
    fields = _OptionFields(options, options_file)
    fields.section("char_cnn")
    fields.section("lstm")
    if options.get("bidirectional", True) is not True:
        fields.refuse("bidirectional", "ELMo's biLM (and this import) needs both directions", options["bidirectional"])
    projection_dim = fields.positive_int("lstm", "projection_dim")
    cell_size = fields.positive_int("lstm", "dim")
    if projection_dim > cell_size:
        fields.refuse("lstm.projection_dim", f"it must not exceed lstm.dim ({cell_size})", projection_dim)
    skip_connections = fields.value("lstm", "use_skip_connections")
    if skip_connections is not True:
        fields.refuse(
            "lstm.use_skip_connections",
            "allennlp's Elmo supports only biLMs with residual connections, and so does this import",
            skip_connections,
        )
    input_layer = {
        "type": "characters",
        "projection_dim": projection_dim,
        "filters": fields.filters(),
        "num_highway": fields.int_at_least("char_cnn", "n_highway", 0),
        "character_embedding_dim": fields.positive_int("char_cnn", "embedding", "dim"),
        "activation": fields.choice("char_cnn", "activation", ACTIVATIONS),
    }
    fields.choice("char_cnn", "max_characters_per_token", (MAX_CHARACTERS_PER_TOKEN,))
    fields.choice("char_cnn", "n_characters", (N_CHARACTERS, TRAINING_N_CHARACTERS), optional=True)
    encoder = {
        "num_layers": fields.positive_int("lstm", "n_layers"),
        "cell_size": cell_size,
        "projection_dim": projection_dim,
        "cell_clip": fields.clip("cell_clip"),
        "projection_clip": fields.clip("proj_clip"),
        "residual": True,
    }
    return input_layer, encoder


_MISSING = object()


class _OptionFields:
    """Reads fields of ELMo's options, each checked, with errors naming the file and the field."""

    def __init__(self, options: Mapping[str, Any], options_file: str) -> None:
        self.options = options
        self.options_file = options_file

    def refuse(self, field: str, reason: str, value: Any = _MISSING) -> None:
        shown = "missing" if value is _MISSING else f"{json.dumps(value)}"
        raise ConfigurationError(f'{self.options_file}: "{field}" is {shown}: {reason}')

    def section(self, name: str) -> Mapping[str, Any]:
        section = self.options.get(name)
        if not isinstance(section, dict):
            raise ConfigurationError(
                f'{self.options_file} has no "{name}" section, so it is not an ELMo options file (ELMo\'s '
                f'options.json has "char_cnn" and "lstm"): give the options of an ELMo model'
            )
        return section

    def value(self, section: str, *keys: str, optional: bool = False) -> Any:
        value: Any = self.section(section)
        for key in keys:
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING and not optional:
            self.refuse(".".join((section,) + keys), "ELMo's options need it")
        return value

    def int_at_least(self, section: str, key: str, minimum: int, *more: str) -> int:
        value = self.value(section, key, *more)
        if not _is_int(value) or value < minimum:
            self.refuse(".".join((section, key) + more), f"it must be an integer of at least {minimum}", value)
        return value

    def positive_int(self, section: str, *keys: str) -> int:
        return self.int_at_least(section, keys[0], 1, *keys[1:])

    def choice(self, section: str, key: str, allowed: Tuple[Any, ...], optional: bool = False) -> Any:
        value = self.value(section, key, optional=optional)
        if value is _MISSING:
            return None
        if value not in allowed or isinstance(value, bool):
            expected = " or ".join(json.dumps(option) for option in allowed)
            self.refuse(f"{section}.{key}", f"ELMo's character CNN needs {expected}", value)
        return value

    def filters(self) -> List[List[int]]:
        filters = self.value("char_cnn", "filters")
        valid = isinstance(filters, list) and filters and all(
            isinstance(pair, list) and len(pair) == 2 and all(_is_int(n) and n > 0 for n in pair) for pair in filters
        )
        if not valid or any(width > MAX_CHARACTERS_PER_TOKEN for width, _ in filters):
            self.refuse(
                "char_cnn.filters",
                f"it must be a list of [width, number of filters] pairs of positive integers, widths at most "
                f"{MAX_CHARACTERS_PER_TOKEN}",
                filters,
            )
        return [list(pair) for pair in filters]

    def clip(self, key: str) -> Optional[float]:
        value = self.value("lstm", key, optional=True)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            self.refuse(f"lstm.{key}", "it must be a non-negative number, or null for no clipping", value)
        return float(value) if value > 0 else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- The weight file.


def read_elmo_weights(weight_file: str, datasets: List[ElmoDataset], options_file: str) -> Dict[str, numpy.ndarray]:
    """
    Reads `datasets` from ELMo's weight file, checking each against the shape the
    options imply.  `ConfigurationError` naming the file, the dataset and the
    options' fields for a missing dataset or a wrong shape, and for a file that
    is missing, truncated or not HDF5.  Datasets the options do not imply are
    ignored with a warning.
    """
    if not os.path.isfile(weight_file):
        raise ConfigurationError(f"The ELMo weight file {weight_file} does not exist: give ELMo's weights.hdf5")
    try:
        with h5py.File(weight_file, "r") as hdf5:
            arrays = {dataset.name: _read_dataset(hdf5, dataset, weight_file, options_file) for dataset in datasets}
            unused = sorted(set(_dataset_names(hdf5)) - set(arrays))
    except OSError as error:
        raise ConfigurationError(
            f"Cannot read the ELMo weight file {weight_file} ({error}): it is truncated or not an HDF5 file; "
            f"download or export it again"
        ) from None
    if unused:
        logger.warning(
            "%s holds %d datasets that %s does not use (%s): is it the weight file of these options?",
            weight_file, len(unused), options_file, ", ".join(unused[:5]) + (", ..." if len(unused) > 5 else ""),
        )
    return arrays


def _read_dataset(hdf5: "h5py.File", dataset: ElmoDataset, weight_file: str, options_file: str) -> numpy.ndarray:
    expected = dataset.shape
    if not isinstance(hdf5.get(dataset.name), h5py.Dataset):
        raise ConfigurationError(
            f"{weight_file} has no dataset {dataset.name}, which {options_file} implies ({dataset.fields}): "
            f"the weight file does not match the options; give the options file that came with it"
        )
    array = hdf5[dataset.name][...]
    if array.shape != expected or array.dtype.kind != "f":
        raise ConfigurationError(
            f"{weight_file}: dataset {dataset.name} is {array.dtype} of shape {array.shape}, but {options_file} "
            f"({dataset.fields}) implies floats of shape {expected}: the weight file does not match the "
            f"options; give the options file that came with it"
        )
    return array


def _dataset_names(hdf5: "h5py.File") -> List[str]:
    names: List[str] = []
    hdf5.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return names
