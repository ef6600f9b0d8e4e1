"""AllenNLP subcommands of the `elmo_c` plugin (registered on import)."""
from elmo_c.commands.build_targets import BuildTargets, train_fasttext_targets
from elmo_c.commands.compress_targets import CompressTargets
from elmo_c.commands.embed import ElmoCEmbed
from elmo_c.commands.export_elmo import ExportElmo
from elmo_c.commands.import_elmo import ImportElmo
from elmo_c.commands.build_subwords import BuildSubwords, train_subwords

__all__ = ["BuildTargets", "train_fasttext_targets", "CompressTargets", "ElmoCEmbed", "ExportElmo", "ImportElmo", "BuildSubwords", "train_subwords"]
