import json
import os
import sys

import h5py
import numpy
import pytest
import torch
from allennlp.commands import main
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.modules.elmo import Elmo, batch_to_ids
from allennlp.modules.token_embedders import TokenEmbedder

import elmo_c.commands.export_elmo as export_module
from elmo_c.commands.export_elmo import export_elmo
from elmo_c.models.archive_loading import PretrainedBiLm
from elmo_c.modules.token_embedders import ElmoCTokenEmbedder
from tests.commands.elmo_comparison import layer_differences

# Different lengths (padding), a non-ASCII word, and a word past ELMo's 50 characters.
SENTENCES = [
    ["the", "cat", "sat", "on", "the", "mat", "."],
    ["a", "dog", "chased", "Zürich"],
    ["x" * 60, "unseenword"],
]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exported(elmo_c_archive, tmp_path_factory):
    return export_elmo(elmo_c_archive, str(tmp_path_factory.mktemp("exported")))


def max_layer_differences(archive, options_file, weight_file):
    """Max abs difference per layer between our biLM and allennlp's, and allennlp's max abs value."""
    differences, theirs = layer_differences(archive, options_file, weight_file, SENTENCES)
    return differences, max(layer.abs().max().item() for layer in theirs["activations"])


def test_every_layer_matches_allennlps_elmo_bilm(elmo_c_archive, exported):
    differences, scale = max_layer_differences(elmo_c_archive, *exported)
    assert len(differences) == 3
    assert max(differences) < TOLERANCE
    assert scale > 0.1  # not a comparison of zeros


@pytest.mark.parametrize(
    "mix, do_layer_norm",
    [([0.0, 0.0, 0.0], False), ([-1e9, -1e9, 1e9], False), ([1e9, -1e9, -1e9], False), ([0.5, -1.0, 2.0], True)],
)
def test_elmo_and_our_embedder_agree_for_a_fixed_mix(elmo_c_archive, exported, mix, do_layer_norm):
    options_file, weight_file = exported
    elmo = Elmo(options_file, weight_file, 1, dropout=0.0, do_layer_norm=do_layer_norm, scalar_mix_parameters=mix)
    ours = ElmoCTokenEmbedder(elmo_c_archive, dropout=0.0, do_layer_norm=do_layer_norm, scalar_mix_parameters=mix)
    character_ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        reference = elmo(character_ids)["elmo_representations"][0]
        mixed = ours(character_ids)
    assert mixed.shape == reference.shape == (3, 7, 32)
    assert (mixed - reference).abs().max().item() < TOLERANCE


def test_allennlps_elmo_token_embedder_loads_the_export(elmo_c_archive, exported):
    options_file, weight_file = exported
    params = {"options_file": options_file, "weight_file": weight_file, "dropout": 0.0}
    elmo = TokenEmbedder.from_params(Params({"type": "elmo_token_embedder", **params}))
    ours = ElmoCTokenEmbedder(elmo_c_archive, dropout=0.0)
    character_ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        assert (ours(character_ids) - elmo(character_ids)).abs().max().item() < TOLERANCE


def test_options_and_weight_layout(exported):
    options_file, weight_file = exported
    with open(options_file) as options_stream:
        options = json.load(options_stream)
    assert options["char_cnn"] == {
        "activation": "relu",
        "embedding": {"dim": 16},
        "filters": [[1, 8], [2, 8], [3, 16]],
        "max_characters_per_token": 50,
        "n_characters": 262,
        "n_highway": 1,
    }
    lstm = options["lstm"]
    assert lstm["cell_clip"] is None and lstm["proj_clip"] is None
    assert (lstm["dim"], lstm["projection_dim"], lstm["n_layers"], lstm["use_skip_connections"]) == (32, 16, 2, True)
    with h5py.File(weight_file, "r") as weights:
        assert weights["char_embed"].shape == (261, 16)
        assert weights["CNN/W_cnn_2"].shape == (1, 3, 16, 16)
        assert weights["CNN_high_0/W_carry"].shape == (32, 32)
        assert weights["CNN_proj/W_proj"].shape == (32, 16)
        cell = weights["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell"]
        assert (cell["W_0"].shape, cell["B"].shape, cell["W_P_0"].shape) == ((32, 128), (128,), (32, 16))
        assert all(array.dtype == numpy.float32 for array in (cell["W_0"], cell["B"], weights["char_embed"]))


def test_clipping_is_exported_and_reproduced(elmo_c_archive_variant, tmp_path):
    archive = elmo_c_archive_variant(lambda model: model["encoder"].update(cell_clip=0.05, projection_clip=0.02))
    options_file, weight_file = export_elmo(archive, str(tmp_path / "clipped"))
    with open(options_file) as options_stream:
        lstm = json.load(options_stream)["lstm"]
    assert (lstm["cell_clip"], lstm["proj_clip"]) == (0.05, 0.02)
    differences, _ = max_layer_differences(archive, options_file, weight_file)
    assert max(differences) < TOLERANCE
    with torch.no_grad():
        first_lstm_layer = PretrainedBiLm.from_archive(archive)(batch_to_ids(SENTENCES))[0][1]
    assert first_lstm_layer.abs().max().item() == pytest.approx(0.02)  # the clip binds


def test_a_model_without_projection_is_exported_with_an_identity_projection(elmo_c_archive_variant, tmp_path):
    archive = elmo_c_archive_variant(lambda model: model["encoder"].update(cell_size=16), fresh_weights=True)
    options_file, weight_file = export_elmo(archive, str(tmp_path / "unprojected"))
    with h5py.File(weight_file, "r") as weights:
        numpy.testing.assert_array_equal(weights["RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_P_0"][...], numpy.eye(16))
    differences, scale = max_layer_differences(archive, options_file, weight_file)
    assert max(differences) < TOLERANCE and scale > 0.1


def _no_residual(model):
    model["encoder"]["residual"] = False


def _zero_clip(model):
    model["encoder"]["cell_clip"] = 0.0


def _smaller_input_layer(model):
    model["input_layer"]["projection_dim"] = 8


def _layer_norm(model):
    model["encoder"]["layer_norm"] = True


def _word_vector_input(model):
    model["input_layer"] = {"type": "word_vectors", "vectors": model["output_layer"]["target_embeddings"]}


@pytest.mark.parametrize(
    "edit, fresh_weights, message",
    [
        (_no_residual, False, "no residual connections"),
        (_zero_clip, False, "cell_clip is 0.0"),
        (_smaller_input_layer, True, r"projection_dim \(8\) to equal the LSTM's projection_dim \(16\)"),
        (_word_vector_input, False, '"word_vectors" input layer'),
        (_layer_norm, True, "layer_norm=true"),
    ],
)
def test_models_elmo_cannot_express_are_refused(elmo_c_archive_variant, tmp_path, edit, fresh_weights, message):
    archive = elmo_c_archive_variant(edit, fresh_weights=fresh_weights)
    with pytest.raises(ConfigurationError, match=message):
        export_elmo(archive, str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out" / "weights.hdf5")


def test_a_one_layer_model_without_residual_is_exported(elmo_c_archive_variant, tmp_path):
    def one_layer(model):
        model["encoder"].update(num_layers=1, residual=False)

    archive = elmo_c_archive_variant(one_layer, fresh_weights=True)
    differences, _ = max_layer_differences(archive, *export_elmo(archive, str(tmp_path / "one_layer")))
    assert len(differences) == 2 and max(differences) < TOLERANCE


def test_a_failed_export_leaves_the_previous_files_untouched(elmo_c_archive, tmp_path, monkeypatch):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "weights.hdf5").write_bytes(b"previous")

    complete_weights = export_module.elmo_weights

    def broken_weights(bilm):
        weights = complete_weights(bilm)
        weights["CNN_proj/W_proj"] = object()  # h5py cannot store it: fails mid-file
        return weights

    monkeypatch.setattr(export_module, "elmo_weights", broken_weights)
    with pytest.raises(TypeError):
        export_elmo(elmo_c_archive, str(output_dir))
    assert sorted(os.listdir(output_dir)) == ["weights.hdf5"]
    assert (output_dir / "weights.hdf5").read_bytes() == b"previous"


def test_the_subcommand_writes_both_files(elmo_c_archive, tmp_path, monkeypatch):
    output_dir = tmp_path / "cli"
    monkeypatch.setattr(sys, "argv", ["allennlp", "export-elmo", elmo_c_archive, str(output_dir)])
    main()
    assert sorted(os.listdir(output_dir)) == ["options.json", "weights.hdf5"]
