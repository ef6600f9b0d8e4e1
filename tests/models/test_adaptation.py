"""
Continued pretraining on a domain (training_config/elmo_c_adapt.jsonnet): the input
layer and encoder start from an archive (ELMo-C, or ELMo through `import-elmo`) with
its weights, the frozen layers stay fixed for the frozen batches and train after, the
new archive stands on its own, and a bad start is refused clearly.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
from types import SimpleNamespace

import pytest
import torch
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive
from allennlp.training.callbacks import TrainerCallback

from elmo_c.commands.import_elmo import import_elmo
from elmo_c.config_defaults import DEFAULTS, elmo_c_dim
from elmo_c.models.archive_loading import PretrainedBiLm
from elmo_c.models.archived_modules import resolve_archived_modules
from elmo_c.training.freeze_then_unfreeze import FreezeThenUnfreezeCallback
from tests.commands.test_import_elmo import write_elmo_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "training_config", "elmo_c_adapt.jsonnet")
TINY_ARCHIVE = os.path.join(ROOT, "fixtures", "elmo_c_tiny", "model.tar.gz")
TARGETS = os.path.join(ROOT, "fixtures", "targets", "fasttext.bin")
ALLENNLP = os.path.join(os.path.dirname(sys.executable), "allennlp")
# What the default freezing covers: the input layer and both directions' first LSTM layer.
FROZEN_PREFIXES = ("input_layer.", "encoder.forward_layers.0.", "encoder.backward_layers.0.")
# The fixtures' 60 training sentences in batches of 32: 2 batches an epoch.
FAST = {"trainer.learning_rate_scheduler.warmup_steps": 2, "trainer.optimizer.lr": 1e-2}


def _variables(pretrained: str, freeze_batches: int = 2) -> dict:
    return {"ELMO_C_PRETRAINED": pretrained, "ELMO_C_TARGETS": TARGETS, "ELMO_C_TARGETS_DIM": "16",
            "ELMO_C_FREEZE_BATCHES": str(freeze_batches), "ELMO_C_FROZEN_LSTM_LAYERS": "1"}


def _params(monkeypatch, pretrained: str, freeze_batches: int = 2, overrides: dict = None) -> Params:
    for name, value in _variables(pretrained, freeze_batches).items():
        monkeypatch.setenv(name, value)
    return Params.from_file(CONFIG, json.dumps({**FAST, **(overrides or {})}))


def _build(monkeypatch, pretrained: str) -> Model:
    return Model.from_params(vocab=Vocabulary(), params=_params(monkeypatch, pretrained).pop("model"))


def _archived_weights(archive: str, directory) -> dict:
    """The archive's own weights, read with tarfile and torch alone."""
    with tarfile.open(archive) as tar:
        tar.extract("weights.th", directory)
    return torch.load(os.path.join(directory, "weights.th"), map_location="cpu")


def _started_modules(state: dict) -> dict:
    return {name: value for name, value in state.items() if name.split(".")[0] in ("input_layer", "encoder")}


def _edited_archive(tmp_path, edit) -> str:
    """The tiny archive as a serialization directory, its config's "model" edited."""
    directory = tmp_path / "edited"
    with tarfile.open(TINY_ARCHIVE) as tar:
        tar.extractall(directory)
    config = json.loads((directory / "config.json").read_text())
    edit(config["model"])
    (directory / "config.json").write_text(json.dumps(config))
    return str(directory)


@TrainerCallback.register("test_adaptation_recorder", exist_ok=True)
class _Recorder(TrainerCallback):
    """Every parameter and its Adam step count after each training batch."""

    runs = []

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary, **kwargs)
        _Recorder.runs.append([])

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number, is_training,
                 is_primary=True, **kwargs) -> None:
        if is_training:
            _Recorder.runs[-1].append({
                name: (parameter.detach().clone(), int(trainer.optimizer.state.get(parameter, {}).get("step", 0)))
                for name, parameter in trainer.model.named_parameters()
            })


# -- starting from an archive ------------------------------------------------------------


def test_the_input_layer_and_encoder_start_with_the_archives_weights(monkeypatch, tmp_path):
    model = _build(monkeypatch, TINY_ARCHIVE)
    archived = _started_modules(_archived_weights(TINY_ARCHIVE, tmp_path))
    started = _started_modules(model.state_dict())
    assert started.keys() == archived.keys() and len(started) > 20
    for name, value in archived.items():
        assert torch.equal(started[name], value), name
    assert model.encoder.dropout.p == 0.1 and model.encoder.num_layers == 2  # the archive's settings


def test_the_encoders_dropout_can_be_changed(monkeypatch):
    params = _params(monkeypatch, TINY_ARCHIVE, overrides={"model.encoder.dropout": 0.3})
    model = Model.from_params(vocab=Vocabulary(), params=params.pop("model"))
    assert model.encoder.dropout.p == 0.3


def test_an_imported_elmo_archive_is_a_start_too(monkeypatch, tmp_path):
    options_file, weight_file = write_elmo_files(tmp_path / "elmo", cell_clip=3.0, proj_clip=3.0)
    archive = import_elmo(options_file, weight_file, str(tmp_path / "elmo.tar.gz")).archive_file
    model = _build(monkeypatch, archive)
    archived = _started_modules(_archived_weights(archive, tmp_path))
    for name, value in archived.items():
        assert torch.equal(model.state_dict()[name], value), name
    assert model.encoder.cell_clip == 3.0 and model.encoder.projection_clip == 3.0  # ELMo's clipping kept
    # And it trains on the domain, into an archive that stands without the ELMo import.
    params = _params(monkeypatch, archive, freeze_batches=1, overrides={"trainer.num_epochs": 1})
    train_model(params, str(tmp_path / "adapted"))
    os.remove(archive)
    bilm = PretrainedBiLm.from_archive(str(tmp_path / "adapted" / "model.tar.gz"))
    assert bilm.encoder.projection_dim == 12 and bilm.encoder.cell_clip == 3.0


# -- freezing ----------------------------------------------------------------------------


def test_frozen_parameters_stay_fixed_for_the_frozen_batches_then_train(monkeypatch, tmp_path):
    config = _params(monkeypatch, TINY_ARCHIVE, freeze_batches=3, overrides={"trainer.num_epochs": 3}).as_dict()
    config["trainer"]["callbacks"].append({"type": "test_adaptation_recorder"})
    train_model(Params(config), str(tmp_path / "run"))
    batches = _Recorder.runs[-1]
    assert len(batches) == 6
    archived = _started_modules(_archived_weights(TINY_ARCHIVE, tmp_path))
    frozen = [name for name in archived if name.startswith(FROZEN_PREFIXES)]
    trained = [name for name in archived if name not in frozen]
    assert frozen and trained
    for number, batch in enumerate(batches, start=1):
        for name in frozen:
            value, steps = batch[name]
            if number <= 3:
                assert torch.equal(value, archived[name]) and steps == 0, (number, name)
            else:  # trained since, with Adam's state started afresh when unfrozen
                assert steps == number - 3, (number, name)
        assert all(batch[name][1] == number for name in trained)
    for name in frozen:
        if "character_embedding" not in name:  # padding's row, and characters the text lacks, get no gradient
            assert not torch.equal(batches[-1][name][0], archived[name]), name
    for name in trained:
        assert not torch.equal(batches[0][name][0], archived[name]), name


def test_a_resumed_run_unfreezes_at_the_same_batch():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    callback = FreezeThenUnfreezeCallback("unused", patterns=[r"^0\."], num_batches=3)
    callback.load_state_dict({"batches_completed": 2})  # as a checkpoint left it
    callback.on_start(SimpleNamespace(model=model))
    assert not model[0].weight.requires_grad and model[1].weight.requires_grad
    callback.on_batch(None, [], [], {}, 0, 1, is_training=False)
    assert not model[0].weight.requires_grad  # validation batches do not count
    callback.on_batch(None, [], [], {}, 0, 1, is_training=True)
    assert model[0].weight.requires_grad and callback.state_dict() == {"batches_completed": 3}
    late = FreezeThenUnfreezeCallback("unused", patterns=[r"^0\."], num_batches=3)
    late.load_state_dict({"batches_completed": 3})
    late.on_start(SimpleNamespace(model=model))
    assert model[0].weight.requires_grad


def test_parameters_frozen_from_the_start_stay_frozen():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model[0].bias.requires_grad_(False)
    callback = FreezeThenUnfreezeCallback("unused", patterns=[r"^0\."], num_batches=1)
    callback.on_start(SimpleNamespace(model=model))
    callback.on_batch(None, [], [], {}, 0, 1, is_training=True)
    assert model[0].weight.requires_grad and not model[0].bias.requires_grad


def test_a_pattern_that_matches_nothing_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    callback = FreezeThenUnfreezeCallback("unused", patterns=[r"^encoder\.forward_layers\.2\."], num_batches=5)
    with pytest.raises(ConfigurationError, match=r"forward_layers\\\.2.*matches no parameter"):
        callback.on_start(SimpleNamespace(model=model))


def test_distributed_training_is_told_to_expect_parameters_without_gradients(tmp_path):
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'group'}", rank=0, world_size=1)
    try:
        for find_unused in (False, True):
            model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
            wrapped = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=find_unused)
            trainer = SimpleNamespace(model=model, _ddp_wrapped_model=SimpleNamespace(model=wrapped))
            callback = FreezeThenUnfreezeCallback("unused", patterns=[r"^0\."], num_batches=2)
            if not find_unused:
                with pytest.raises(ConfigurationError, match='"find_unused_parameters": true'):
                    callback.on_start(trainer)
                continue
            callback.on_start(trainer)
            for _ in range(2):  # DDP accepts the frozen layer's missing gradients, step after step
                wrapped(torch.ones(1, 2)).sum().backward()
            assert model[0].weight.grad is None and model[1].weight.grad is not None
    finally:
        torch.distributed.destroy_process_group()


# -- the new archive ---------------------------------------------------------------------


def test_the_config_trains_through_the_cli_into_an_archive_that_stands_alone(tmp_path):
    start = str(tmp_path / "start.tar.gz")
    shutil.copy(TINY_ARCHIVE, start)
    output = tmp_path / "adapted"
    environment = {**{k: v for k, v in os.environ.items() if k not in DEFAULTS}, **_variables(start)}
    # A constant rate: the config's warm-up outlasts the fixtures (as tests/test_training_configs.py).
    overrides = {"trainer.num_epochs": 3, "trainer.learning_rate_scheduler": {"type": "constant"},
                 "trainer.optimizer.lr": 1e-2}
    command = [ALLENNLP, "train", CONFIG, "--include-package", "elmo_c", "-s", str(output), "-o", json.dumps(overrides)]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "unfrozen after 2 batches" in result.stdout + result.stderr
    with open(output / "metrics.json") as stream:
        metrics = json.load(stream)
    with open(output / "metrics_epoch_0.json") as stream:
        assert metrics["training_loss"] < 0.95 * json.load(stream)["training_loss"]  # it learns
    assert -1.0 <= metrics["validation_cosine"] <= 1.0 and "validation_top10_accuracy" in metrics
    os.remove(start)  # the new archive needs nothing from it
    archive = str(output / "model.tar.gz")
    assert elmo_c_dim(archive) == 32  # what the downstream configs read
    model = load_archive(archive).model
    assert model.encoder.projection_dim == 16 and model.vocab.get_vocab_size("tokens") > 100
    assert PretrainedBiLm.from_archive(archive).num_layers == 3


def _chained_archive(tmp_path) -> str:
    """An archive that itself still points at another (an interrupted adaptation's, say)."""
    return _edited_archive(tmp_path, lambda model: model.update(
        input_layer={"type": "from_archive", "archive_file": TINY_ARCHIVE},
        encoder={"type": "from_archive", "archive_file": TINY_ARCHIVE, "dropout": 0.2}))


def test_from_archive_entries_are_replaced_by_what_they_stand_for(tmp_path):
    chained = _chained_archive(tmp_path)
    config = {"trainer": {"num_epochs": 1}, "model": {
        "type": "continuous_output_language_model", "output_layer": {"type": "continuous"},
        "input_layer": {"type": "from_archive", "archive_file": chained},
        "encoder": {"type": "from_archive", "archive_file": chained, "dropout": 0.3, "cell_clip": None},
    }}
    resolved = resolve_archived_modules(config)
    assert resolved["model"]["input_layer"]["type"] == "characters"
    assert resolved["model"]["input_layer"]["filters"] == [[1, 8], [2, 8], [3, 16]]
    assert resolved["model"]["encoder"]["projection_dim"] == 16
    assert resolved["model"]["encoder"]["dropout"] == 0.3  # the config's change, over the chain's 0.2
    assert "archive_file" not in json.dumps(resolved)
    assert resolved["trainer"] == config["trainer"] and resolved["model"]["output_layer"] == {"type": "continuous"}


def test_an_archive_that_points_at_another_is_a_start_too(monkeypatch, tmp_path):
    model = _build(monkeypatch, _chained_archive(tmp_path))
    archived = _started_modules(_archived_weights(TINY_ARCHIVE, tmp_path))
    assert all(torch.equal(model.state_dict()[name], value) for name, value in archived.items())
    assert model.encoder.projection_dim == 16 and model.encoder.dropout.p == 0.2


# -- bad starts --------------------------------------------------------------------------


def test_a_missing_start_archive_is_named_with_its_variable(monkeypatch, tmp_path):
    missing = str(tmp_path / "typo.tar.gz")
    monkeypatch.setenv("ELMO_C_DEFAULTED", "")
    with pytest.raises(ConfigurationError, match=r"typo\.tar\.gz \(from \$ELMO_C_PRETRAINED\) does not exist"):
        _build(monkeypatch, missing)


def test_a_file_that_is_no_archive_is_refused(monkeypatch):
    with pytest.raises(ConfigurationError, match=r"Cannot read the model archive .*fasttext\.bin"):
        _build(monkeypatch, TARGETS)


def test_a_word_vector_input_layer_is_refused(monkeypatch, tmp_path):
    archive = _edited_archive(tmp_path, lambda model: model.update(
        input_layer={"type": "word_vectors", "vectors": model["output_layer"]["target_embeddings"]}))
    with pytest.raises(ConfigurationError, match=r'"word_vectors" input layer.*aligned to the vocabulary'):
        _build(monkeypatch, archive)


def test_an_encoder_that_reads_another_input_size_is_refused(monkeypatch):
    params = _params(monkeypatch, TINY_ARCHIVE, overrides={"model.input_layer": {"type": "characters",
                                                                                  "projection_dim": 24}})
    with pytest.raises(ConfigurationError, match=r"reads 16-d token vectors, but the input layer gives 24-d"):
        Model.from_params(vocab=Vocabulary(), params=params.pop("model"))


def test_another_model_type_is_refused(monkeypatch, tmp_path):
    archive = _edited_archive(tmp_path, lambda model: model.update(type="crf_tagger"))
    with pytest.raises(ConfigurationError, match='"crf_tagger" model, not an ELMo-C language model'):
        _build(monkeypatch, archive)
