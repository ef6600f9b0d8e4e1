import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")


@pytest.fixture(scope="session", autouse=True)
def elmo_c_cache(tmp_path_factory):
    """
    Points `ELMO_C_CACHE` (where target tables are cached) at a temporary directory
    for the whole session, so that tests never read or write `~/.cache`.
    """
    cache_dir = str(tmp_path_factory.mktemp("elmo_c_cache"))
    previous = os.environ.get("ELMO_C_CACHE")
    os.environ["ELMO_C_CACHE"] = cache_dir
    yield cache_dir
    if previous is None:
        os.environ.pop("ELMO_C_CACHE", None)
    else:
        os.environ["ELMO_C_CACHE"] = previous


@pytest.fixture(scope="session")
def fixtures_dir() -> str:
    """The repository's `fixtures/` directory (corpora, target vectors, configs)."""
    return FIXTURES


@pytest.fixture(scope="session")
def elmo_c_archive(tmp_path_factory, elmo_c_cache) -> str:
    """
    The `model.tar.gz` of a tiny ELMo-C (fixtures/configs/elmo_c_tiny.jsonnet)
    trained for one epoch on the fixtures: trained once per session, read-only.
    """
    import json

    import elmo_c  # noqa: F401  (registers the model and reader)
    from allennlp.commands.train import train_model_from_file

    serialization_dir = tmp_path_factory.mktemp("elmo_c_archive") / "run"
    train_model_from_file(
        os.path.join(FIXTURES, "configs", "elmo_c_tiny.jsonnet"),
        str(serialization_dir),
        overrides=json.dumps({"trainer": {"num_epochs": 1}}),
    )
    return str(serialization_dir / "model.tar.gz")


@pytest.fixture
def elmo_c_archive_variant(elmo_c_archive, tmp_path):
    """
    Makes variants of `elmo_c_archive`, as serialization directories:
    `variant(edit, fresh_weights=False)` applies `edit` to the config's "model"
    dict; with `fresh_weights`, the weights are a newly initialised model's, for
    edits that change parameter shapes.
    """
    import itertools
    import json
    import tarfile

    import torch
    from allennlp.common import Params
    from allennlp.data import Vocabulary
    from allennlp.models import Model

    counter = itertools.count()

    def variant(edit, fresh_weights: bool = False) -> str:
        directory = tmp_path / f"elmo_c_variant_{next(counter)}"
        with tarfile.open(elmo_c_archive) as archive:
            archive.extractall(directory)
        config = json.loads((directory / "config.json").read_text())
        edit(config["model"])
        (directory / "config.json").write_text(json.dumps(config))
        if fresh_weights:
            torch.manual_seed(0)
            vocab = Vocabulary.from_files(str(directory / "vocabulary"))
            model = Model.from_params(params=Params(config["model"]), vocab=vocab)
            torch.save(model.state_dict(), directory / "weights.th")
        return str(directory)

    return variant
