"""
The untrained control of a pretrained biLM: the same architecture, vocabulary and
initialisation seed, with the weights it had before training.  Downstream, the
value of pretraining is the trained model's score minus this one's: a frozen
random LSTM already gives a tagger useful features.
"""
import os
import shutil
import tarfile
import tempfile

from elmo_c.pipeline.runner import stage


def make_untrained_archive(archive_path: str, output_path: str) -> str:
    """
    Writes `output_path`, a copy of `archive_path` whose weights are those of the
    same model freshly built from its config (with the config's seeds), once.
    """
    if os.path.exists(output_path):
        print(f"    reusing {output_path}")
        return output_path
    return stage(f"The untrained control of {archive_path}", lambda: _write_untrained(archive_path, output_path))


def fresh_model(directory: str):
    """
    The config of the extracted archive in `directory` and the model it describes,
    freshly initialised with the config's seeds, over the archive's vocabulary (read
    with its own class: the `counted` one keeps the counts the baselines need).
    """
    from allennlp.common import Params
    from allennlp.common.util import prepare_environment
    from allennlp.data import Vocabulary
    from allennlp.models import Model

    import elmo_c  # noqa: F401  (registers the plugin)

    config = Params.from_file(os.path.join(directory, "config.json"))
    vocab_type = config.get("vocabulary", {}).get("type", Vocabulary.default_implementation)
    vocab = Vocabulary.resolve_class_name(vocab_type)[0].from_files(os.path.join(directory, "vocabulary"))
    prepare_environment(config)
    return config, Model.from_params(vocab=vocab, params=config.duplicate().pop("model"))


def _write_untrained(archive_path: str, output_path: str) -> str:
    import torch

    with tempfile.TemporaryDirectory() as directory:
        with tarfile.open(archive_path) as archive:
            archive.extractall(directory)
        _, model = fresh_model(directory)
        torch.save(model.state_dict(), os.path.join(directory, "weights.th"))
        os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
        temporary = output_path + ".tmp"
        with tarfile.open(temporary, "w:gz") as archive:
            for name in sorted(os.listdir(directory)):
                archive.add(os.path.join(directory, name), arcname=name)
        shutil.move(temporary, output_path)
    return output_path
