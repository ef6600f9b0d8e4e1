import json
import os
import sys
import tarfile

import h5py
import numpy
import pytest
import torch
from allennlp.commands import main
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch
from allennlp.models.archival import load_archive
from allennlp.modules.elmo import Elmo, batch_to_ids

from elmo_c.commands.export_elmo import export_elmo
from tests.commands.elmo_comparison import layer_differences as compare_layers
from elmo_c.commands.import_elmo import PLACEHOLDER_OUTPUT_LAYER, import_elmo
from elmo_c.modules.token_embedders import ElmoCTokenEmbedder

# Different lengths (padding), a non-ASCII word, and a word past ELMo's 50 characters.
SENTENCES = [
    ["the", "cat", "sat", "on", "the", "mat", "."],
    ["a", "dog", "chased", "Zürich"],
    ["x" * 60, "unseenword"],
]
TOLERANCE = 1e-6
# ELMo's seven filter widths, with few filters each.
SMALL_FILTERS = [[1, 4], [2, 4], [3, 8], [4, 8], [5, 8], [6, 8], [7, 8]]
CELL = "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell"


def write_elmo_files(
    directory,
    filters=SMALL_FILTERS,
    n_highway=2,
    embedding_dim=4,
    cell_size=24,
    projection_dim=12,
    n_layers=2,
    cell_clip=None,
    proj_clip=None,
    seed=0,
):
    """
    ELMo's options.json and weights.hdf5 with random weights, written with h5py in
    bilm-tf's layout (independently of the code under test).  Weights are scaled
    so that every layer's values are of order 1.
    """
    rng = numpy.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    options = {
        "bidirectional": True,
        "char_cnn": {
            "activation": "relu",
            "embedding": {"dim": embedding_dim},
            "filters": filters,
            "max_characters_per_token": 50,
            "n_characters": 262,
            "n_highway": n_highway,
        },
        "lstm": {
            "cell_clip": cell_clip,
            "proj_clip": proj_clip,
            "dim": cell_size,
            "n_layers": n_layers,
            "projection_dim": projection_dim,
            "use_skip_connections": True,
        },
    }

    def random(*shape, fan_in=None):
        scale = 0.1 if fan_in is None else fan_in ** -0.5
        return (rng.standard_normal(shape) * scale).astype(numpy.float32)

    num_filters = sum(number for _, number in filters)
    weight_file = os.path.join(directory, "weights.hdf5")
    with h5py.File(weight_file, "w") as weights:
        weights["char_embed"] = random(261, embedding_dim, fan_in=1)
        for index, (width, number) in enumerate(filters):
            weights[f"CNN/W_cnn_{index}"] = random(1, width, embedding_dim, number, fan_in=width * embedding_dim)
            weights[f"CNN/b_cnn_{index}"] = random(number)
        for index in range(n_highway):
            for part in ("transform", "carry"):
                weights[f"CNN_high_{index}/W_{part}"] = random(num_filters, num_filters, fan_in=num_filters)
                weights[f"CNN_high_{index}/b_{part}"] = random(num_filters)
        weights["CNN_proj/W_proj"] = random(num_filters, projection_dim, fan_in=num_filters)
        weights["CNN_proj/b_proj"] = random(projection_dim)
        for direction in range(2):
            for layer in range(n_layers):
                prefix = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
                weights[f"{prefix}/W_0"] = random(2 * projection_dim, 4 * cell_size, fan_in=2 * projection_dim)
                weights[f"{prefix}/B"] = random(4 * cell_size)
                if projection_dim == cell_size:
                    weights[f"{prefix}/W_P_0"] = numpy.eye(cell_size, dtype=numpy.float32)
                else:
                    weights[f"{prefix}/W_P_0"] = random(cell_size, projection_dim, fan_in=cell_size)
    options_file = os.path.join(directory, "options.json")
    write_options(options_file, options)
    return options_file, weight_file


def read_options(options_file):
    with open(options_file) as options_stream:
        return json.load(options_stream)


def write_options(options_file, options):
    with open(options_file, "w") as options_stream:
        json.dump(options, options_stream)


def edit_options(options_file, edit):
    options = read_options(options_file)
    edit(options)
    write_options(options_file, options)


def read_datasets(weight_file):
    with h5py.File(weight_file, "r") as weights:
        return {name: weights[name][...] for name in datasets_of(weights)}


def datasets_of(weights):
    names = []
    weights.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return names


def layer_differences(archive, options_file, weight_file, sentences=SENTENCES):
    return compare_layers(archive, options_file, weight_file, sentences)


@pytest.fixture
def elmo_files(tmp_path):
    return write_elmo_files(tmp_path / "elmo")


@pytest.mark.parametrize("cell_clip, proj_clip", [(None, None), (0.5, 0.3)])
def test_every_layer_matches_allennlps_elmo_bilm(tmp_path, cell_clip, proj_clip):
    options_file, weight_file = write_elmo_files(tmp_path / "elmo", cell_clip=cell_clip, proj_clip=proj_clip)
    archive = import_elmo(options_file, weight_file, str(tmp_path / "model.tar.gz")).archive_file
    differences, theirs = layer_differences(archive, options_file, weight_file)
    assert len(differences) == 3
    assert max(differences) < TOLERANCE
    assert min(layer.abs().max().item() for layer in theirs["activations"]) > 0.1  # not a comparison of zeros
    if proj_clip is not None:
        assert theirs["activations"][1].abs().max().item() == pytest.approx(proj_clip)  # the clip binds


def test_our_embedder_on_the_import_matches_allennlps_elmo(tmp_path, elmo_files):
    archive = import_elmo(*elmo_files, str(tmp_path / "model.tar.gz")).archive_file
    mix = [0.5, -1.0, 2.0]
    elmo = Elmo(*elmo_files, 1, dropout=0.0, scalar_mix_parameters=mix)
    ours = ElmoCTokenEmbedder(archive, dropout=0.0, scalar_mix_parameters=mix)
    character_ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        reference = elmo(character_ids)["elmo_representations"][0]
        mixed = ours(character_ids)
    assert mixed.shape == reference.shape == (3, 7, 24)
    assert (mixed - reference).abs().max().item() < TOLERANCE


def test_elmos_full_character_cnn_without_lstm_projection(tmp_path):
    # ELMo's real character CNN (2048 filters, 2 highway layers, 16-d characters); an
    # LSTM whose projection_dim equals its dim, stored as an identity W_P_0.
    filters = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]
    options_file, weight_file = write_elmo_files(
        tmp_path / "elmo", filters=filters, embedding_dim=16, cell_size=32, projection_dim=32, n_layers=1
    )
    archive = import_elmo(options_file, weight_file, str(tmp_path / "model.tar.gz")).archive_file
    differences, _ = layer_differences(archive, options_file, weight_file)
    assert len(differences) == 2 and max(differences) < TOLERANCE


def test_elmo_files_round_trip_bit_for_bit(tmp_path, elmo_files):
    options_file, weight_file = elmo_files
    archive = import_elmo(options_file, weight_file, str(tmp_path / "model.tar.gz")).archive_file
    exported_options, exported_weights = export_elmo(archive, str(tmp_path / "exported"))
    assert read_options(exported_options) == read_options(options_file)
    assert_same_datasets(read_datasets(exported_weights), read_datasets(weight_file))


def test_export_import_export_gives_identical_weights(tmp_path, elmo_c_archive):
    first_options, first_weights = export_elmo(elmo_c_archive, str(tmp_path / "first"))
    archive = import_elmo(first_options, first_weights, str(tmp_path / "imported.tar.gz")).archive_file
    second_options, second_weights = export_elmo(archive, str(tmp_path / "second"))
    assert read_options(second_options) == read_options(first_options)
    assert_same_datasets(read_datasets(second_weights), read_datasets(first_weights))


def assert_same_datasets(actual, expected):
    assert sorted(actual) == sorted(expected)
    for name, array in expected.items():
        assert actual[name].dtype == array.dtype and actual[name].shape == array.shape, name
        assert actual[name].tobytes() == array.tobytes(), name


def test_the_archive_loads_with_a_placeholder_output_layer(tmp_path, elmo_files):
    archive = import_elmo(*elmo_files, str(tmp_path / "model.tar.gz")).archive_file
    with tarfile.open(archive) as tar:
        assert {"config.json", "weights.th", "meta.json", "vocabulary"} <= set(tar.getnames())
    loaded = load_archive(archive)
    model = loaded.config["model"].as_dict()
    assert model["type"] == "continuous_output_language_model"
    assert model["output_layer"] == PLACEHOLDER_OUTPUT_LAYER
    assert model["encoder"]["cell_clip"] is None and model["encoder"]["residual"] is True
    assert model["input_layer"]["filters"] == SMALL_FILTERS
    assert loaded.model.vocab.get_vocab_size("tokens") == 2  # padding and @@UNKNOWN@@
    assert all(not parameter.any() for parameter in loaded.model.output_layer.parameters())
    # The whole model runs on the reader's instances: the placeholder predicts nothing.
    instances = [loaded.dataset_reader.text_to_instance(" ".join(sentence)) for sentence in SENTENCES[:2]]
    batch = Batch(instances)
    batch.index_instances(loaded.model.vocab)
    with torch.no_grad():
        output = loaded.model(**batch.as_tensor_dict())
    assert output["num_targets"].item() == 0 and output["loss"].item() == 0.0


def test_dropping_clipping_reports_the_change_on_the_sample(tmp_path):
    options_file, weight_file = write_elmo_files(tmp_path / "elmo", cell_clip=0.5, proj_clip=0.3)
    sample_file = tmp_path / "sample.txt"
    sample_file.write_text("\n".join(" ".join(sentence) for sentence in SENTENCES) + "\n\n")
    imported = import_elmo(
        options_file, weight_file, str(tmp_path / "model.tar.gz"), drop_clipping=True, sample_file=str(sample_file)
    )
    encoder = load_archive(imported.archive_file).config["model"]["encoder"].as_dict()
    assert encoder["cell_clip"] is None and encoder["projection_clip"] is None
    # The report is the change against allennlp's (clipped) Elmo on the sample, layer by layer.
    differences, _ = layer_differences(imported.archive_file, options_file, weight_file)
    assert differences[0] < TOLERANCE
    assert len(imported.clipping_differences) == 2 and min(imported.clipping_differences) > 0.01
    assert imported.clipping_differences == pytest.approx(differences[1:], abs=TOLERANCE)


def test_bilm_tfs_training_character_count_is_accepted(tmp_path, elmo_files):
    options_file, weight_file = elmo_files
    edit_options(options_file, lambda options: options["char_cnn"].update(n_characters=261))
    archive = import_elmo(options_file, weight_file, str(tmp_path / "model.tar.gz")).archive_file
    differences, _ = layer_differences(archive, options_file, weight_file)
    assert max(differences) < TOLERANCE


def _delete_dataset(name):
    def edit(options_file, weight_file):
        with h5py.File(weight_file, "a") as weights:
            del weights[name]

    return edit


def _more_filters(options_file, weight_file):
    edit_options(options_file, lambda options: options["char_cnn"]["filters"][2].__setitem__(1, 16))


def _truncate(options_file, weight_file):
    with open(weight_file, "rb") as weights:
        content = weights.read()
    with open(weight_file, "wb") as weights:
        weights.write(content[: len(content) // 2])


def _not_hdf5(options_file, weight_file):
    with open(weight_file, "w") as weights:
        weights.write("not an HDF5 file\n")


def _options(edit):
    return lambda options_file, weight_file: edit_options(options_file, edit)


def _bert_options(options_file, weight_file):
    write_options(options_file, {"hidden_size": 768, "num_hidden_layers": 12, "vocab_size": 30522})


def _other_character_vocabulary(options_file, weight_file):
    edit_options(options_file, lambda options: options["char_cnn"].update(n_characters=300))


def _larger_character_embedding(options_file, weight_file):
    with h5py.File(weight_file, "a") as weights:
        del weights["char_embed"]
        weights["char_embed"] = numpy.zeros((299, 4), dtype=numpy.float32)


def _not_json(options_file, weight_file):
    with open(options_file, "w") as options_stream:
        options_stream.write('{"char_cnn": ')


def _square_projection_not_identity(options_file, weight_file):
    edit_options(options_file, lambda options: options["lstm"].update(dim=12))
    with h5py.File(weight_file, "a") as weights:
        for direction in range(2):
            for layer in range(2):
                prefix = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
                del weights[f"{prefix}/W_0"], weights[f"{prefix}/B"], weights[f"{prefix}/W_P_0"]
                weights[f"{prefix}/W_0"] = numpy.zeros((24, 48), dtype=numpy.float32)
                weights[f"{prefix}/B"] = numpy.zeros(48, dtype=numpy.float32)
                weights[f"{prefix}/W_P_0"] = 2 * numpy.eye(12, dtype=numpy.float32)


# (edit of the files, which file the message names, what else it says)
BAD_INPUTS = {
    "missing dataset": (
        _delete_dataset(f"{CELL}/B"),
        "weights",
        rf"has no dataset {CELL}/B, which .*options.json implies \(lstm.n_layers",
    ),
    "missing highway": (
        _delete_dataset("CNN_high_1/W_carry"),
        "weights",
        r"no dataset CNN_high_1/W_carry.*\(char_cnn.n_highway",
    ),
    "wrong shape": (
        _more_filters,
        "weights",
        r"dataset CNN/W_cnn_2 is float32 of shape \(1, 3, 4, 8\), but .*options.json "
        r"\(char_cnn.filters.*\(1, 3, 4, 16\)",
    ),
    "truncated": (_truncate, "weights", "it is truncated or not an HDF5 file"),
    "not hdf5": (_not_hdf5, "weights", "it is truncated or not an HDF5 file"),
    "another model's options": (_bert_options, "options", 'has no "char_cnn" section, so it is not an ELMo options'),
    "no lstm section": (_options(lambda options: options.pop("lstm")), "options", 'has no "lstm" section'),
    "no n_layers": (_options(lambda options: options["lstm"].pop("n_layers")), "options", '"lstm.n_layers" is missing'),
    "other characters": (_other_character_vocabulary, "options", '"char_cnn.n_characters" is 300: .*262 or 261'),
    "character rows": (_larger_character_embedding, "weights", r"char_embed .*shape \(299, 4\).*char_cnn.n_characters"),
    "max characters": (
        _options(lambda options: options["char_cnn"].update(max_characters_per_token=64)),
        "options",
        '"char_cnn.max_characters_per_token" is 64',
    ),
    "no residual": (
        _options(lambda options: options["lstm"].update(use_skip_connections=False)),
        "options",
        '"lstm.use_skip_connections" is false: .*residual',
    ),
    "activation": (
        _options(lambda options: options["char_cnn"].update(activation="gelu")),
        "options",
        '"char_cnn.activation" is "gelu"',
    ),
    "negative clip": (
        _options(lambda options: options["lstm"].update(cell_clip=-3)),
        "options",
        '"lstm.cell_clip" is -3',
    ),
    "unidirectional": (
        _options(lambda options: options.update(bidirectional=False)),
        "options",
        '"bidirectional" is false',
    ),
    "not json": (_not_json, "options", "Cannot read the ELMo options file"),
    "square projection": (
        _square_projection_not_identity,
        "weights",
        "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_P_0 is not the identity",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_naming_the_file_and_the_field(tmp_path, elmo_files, case):
    edit, named_file, message = BAD_INPUTS[case]
    options_file, weight_file = elmo_files
    edit(options_file, weight_file)
    output_file = tmp_path / "out" / "model.tar.gz"
    with pytest.raises(ConfigurationError, match=message) as error:
        import_elmo(options_file, weight_file, str(output_file))
    assert (weight_file if named_file == "weights" else options_file) in str(error.value)
    assert os.listdir(output_file.parent) == []  # nothing written, no temporary left


def test_missing_files_are_named(tmp_path, elmo_files):
    options_file, weight_file = elmo_files
    for missing in (str(tmp_path / "nowhere.json"), str(tmp_path / "nowhere.hdf5")):
        arguments = (missing, weight_file) if missing.endswith(".json") else (options_file, missing)
        with pytest.raises(ConfigurationError, match=f"{missing} does not exist"):
            import_elmo(*arguments, str(tmp_path / "model.tar.gz"))


def test_a_failed_import_leaves_the_previous_archive_untouched(tmp_path, elmo_files):
    output_file = tmp_path / "model.tar.gz"
    output_file.write_bytes(b"previous")
    options_file, weight_file = elmo_files
    _truncate(options_file, weight_file)
    with pytest.raises(ConfigurationError):
        import_elmo(options_file, weight_file, str(output_file))
    assert sorted(os.listdir(tmp_path)) == ["elmo", "model.tar.gz"]
    assert output_file.read_bytes() == b"previous"


def test_the_subcommand_writes_the_archive_and_reports_the_change(tmp_path, monkeypatch, capsys):
    options_file, weight_file = write_elmo_files(tmp_path / "elmo", cell_clip=0.5, proj_clip=0.3)
    output_file = tmp_path / "cli" / "model.tar.gz"
    arguments = ["allennlp", "import-elmo", options_file, weight_file, str(output_file), "--drop-clipping"]
    monkeypatch.setattr(sys, "argv", arguments)
    main()
    assert output_file.is_file()
    assert "differ from ELMo's (clipped) ones by at most" in capsys.readouterr().out
    differences, _ = layer_differences(str(output_file), options_file, weight_file)
    assert differences[0] < TOLERANCE


def test_sample_without_drop_clipping_is_refused(tmp_path, elmo_files, monkeypatch):
    arguments = ["allennlp", "import-elmo", *elmo_files, str(tmp_path / "model.tar.gz"), "--sample", "x.txt"]
    monkeypatch.setattr(sys, "argv", arguments)
    with pytest.raises(ConfigurationError, match="--sample measures what --drop-clipping changes"):
        main()
