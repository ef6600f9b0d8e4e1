"""Comparing a biLM archive with allennlp's own ELMo on the same files (export and import tests)."""
import torch
from allennlp.modules.elmo import _ElmoBiLm, batch_to_ids

from elmo_c.models.archive_loading import PretrainedBiLm


def layer_differences(archive, options_file, weight_file, sentences):
    """Max abs difference per layer between the archive's biLM and a fresh allennlp `_ElmoBiLm` (first call)."""
    character_ids = batch_to_ids(sentences)
    with torch.no_grad():
        ours, our_mask = PretrainedBiLm.from_archive(archive)(character_ids)
        theirs = _ElmoBiLm(options_file, weight_file)(character_ids)
    assert torch.equal(our_mask, theirs["mask"])
    assert len(ours) == len(theirs["activations"])
    return [(mine - reference).abs().max().item() for mine, reference in zip(ours, theirs["activations"])], theirs
