import json
import logging
import os

from allennlp.models.archival import CONFIG_NAME
from allennlp.training.callbacks import TrainerCallback

from elmo_c.common.atomic import atomic_output_path
from elmo_c.models.archived_modules import resolve_archived_modules

logger = logging.getLogger(__name__)


@TrainerCallback.register("self_contained_archive")
class SelfContainedArchiveCallback(TrainerCallback):
    """
    When training has ended, writes into the serialization directory's
    `config.json` what each `from_archive` input layer and encoder stands for (the
    archive's own entry, with the config's changes such as `dropout`), just before
    `allennlp train` archives the model.  The new `model.tar.gz` then loads without
    the archive it started from, and reads like any ELMo-C archive
    (`elmo_c_token_embedder`, `export-elmo`, the downstream configs' `ELMO_C_DIM`).

    Only when training ended normally: until then `config.json` stays as given,
    which is what `--recover` compares the config with.  (An archive that `allennlp
    train` writes from the best weights after an interrupt still needs the archive
    it started from.)

    Registered as a `TrainerCallback` with name "self_contained_archive".

    # Parameters

    serialization_dir : `str`
    """

    def on_end(self, trainer, metrics=None, epoch=None, is_primary: bool = True, **kwargs) -> None:
        if metrics is None or not is_primary:
            return
        path = os.path.join(self.serialization_dir, CONFIG_NAME)
        with open(path, encoding="utf-8") as stream:
            config = json.load(stream)
        resolved = resolve_archived_modules(config)
        if resolved == config:
            return
        with atomic_output_path(path) as temporary, open(temporary, "w", encoding="utf-8") as stream:
            json.dump(resolved, stream, indent=4)
        logger.info(f"self_contained_archive: {path} now gives the sizes of the modules started from an archive")
