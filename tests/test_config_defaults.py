"""The variables the configs read: loud when a toy fixture stands in, named when wrong."""
import json
import logging
import os
import tarfile

import pytest
from allennlp.common.checks import ConfigurationError

from elmo_c import config_defaults
from elmo_c.config_defaults import DEFAULTS, fallback_notice, variable_hint
from elmo_c.data.dataset_readers import SentencesDatasetReader
from elmo_c.data.target_embeddings import FastTextTargetEmbeddings


def _set_defaults(monkeypatch, **variables):
    """`set_config_defaults` in an environment where only `variables` (and nothing of ours) are set."""
    for name in list(os.environ):
        if name.startswith("ELMO_C_") and name != "ELMO_C_CACHE":
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    config_defaults.set_config_defaults()


def test_an_unset_variable_falls_back_loudly(monkeypatch, caplog):
    _set_defaults(monkeypatch)
    assert "ELMO_C_TRAIN is not set" in fallback_notice(DEFAULTS["ELMO_C_TRAIN"])
    with caplog.at_level(logging.WARNING):
        list(SentencesDatasetReader().read(DEFAULTS["ELMO_C_TRAIN"]))
    assert "ELMO_C_TRAIN" in caplog.text and "toy run" in caplog.text


def test_a_set_variable_is_no_fallback_even_when_inherited_as_one(monkeypatch, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a real sentence\n")
    _set_defaults(monkeypatch)
    monkeypatch.setenv("ELMO_C_TRAIN", str(corpus))  # a pipeline sets it for its subprocess
    config_defaults.set_config_defaults()
    assert "ELMO_C_TRAIN" not in os.environ["ELMO_C_DEFAULTED"].split(",")
    assert fallback_notice(str(corpus)) == ""


def test_a_missing_file_named_by_a_variable_names_the_variable(monkeypatch, tmp_path):
    missing = str(tmp_path / "typo.txt")
    _set_defaults(monkeypatch, ELMO_C_TRAIN=missing, ELMO_C_TARGETS=str(tmp_path / "typo.bin"))
    assert variable_hint(missing) == " (from $ELMO_C_TRAIN)"
    with pytest.raises(ConfigurationError, match=r"typo\.txt \(from \$ELMO_C_TRAIN\)"):
        list(SentencesDatasetReader().read(missing))
    from allennlp.data import Vocabulary

    targets = FastTextTargetEmbeddings(Vocabulary(), path=str(tmp_path / "typo.bin"), embedding_dim=4)
    with pytest.raises(ConfigurationError, match=r"\(from \$ELMO_C_TARGETS\) does not exist"):
        targets.load()


def test_the_embedder_size_comes_from_the_archive_when_unset(monkeypatch, tmp_path):
    archive = tmp_path / "model.tar.gz"
    (tmp_path / "config.json").write_text(json.dumps({"model": {"encoder": {"projection_dim": 128}}}))
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "config.json", arcname="config.json")
    _set_defaults(monkeypatch, ELMO_C_ARCHIVE=str(archive))
    assert os.environ["ELMO_C_DIM"] == "256"
    _set_defaults(monkeypatch, ELMO_C_ARCHIVE=str(archive), ELMO_C_DIM="64")
    assert os.environ["ELMO_C_DIM"] == "64"  # a size the user set stays
