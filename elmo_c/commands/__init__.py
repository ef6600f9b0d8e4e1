"""AllenNLP subcommands of the `elmo_c` plugin (registered on import)."""
from elmo_c.commands.build_targets import BuildTargets, train_fasttext_targets

__all__ = ["BuildTargets", "train_fasttext_targets"]
