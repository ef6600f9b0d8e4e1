from typing import Any, Dict, Optional

import numpy
import torch
from allennlp.training.callbacks import TrainerCallback


@TrainerCallback.register("rng_state")
class RngStateCallback(TrainerCallback):
    """
    Saves torch's (CPU and CUDA) and numpy's random states with every checkpoint,
    and puts them back when a run resumes with `--recover`, so that the batches
    after the checkpoint draw the dropout masks and sampled-softmax negatives that
    the uninterrupted run drew.  Python's `random` is left alone: AllenNLP replays
    the data loader up to the checkpoint, which advances it as the first run did.

    With it, a run killed mid-epoch and resumed ends where the uninterrupted run
    ends (with the `reproducible` data loader when there are loader workers).

    Registered as a `TrainerCallback` with name "rng_state".
    """

    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self._restored: Optional[Dict[str, Any]] = None

    def state_dict(self) -> Dict[str, Any]:
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": _numpy_state(),
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._restored = state_dict

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary, **kwargs)
        # After the checkpoint is loaded and before any batch is trained: the replay
        # of the data up to the checkpoint draws nothing from these generators.
        if self._restored is None:
            return
        torch.set_rng_state(self._restored["torch"])
        if self._restored["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._restored["cuda"])
        _set_numpy_state(self._restored["numpy"])
        self._restored = None


# Tensors and plain numbers only: AllenNLP's checkpoints are read with torch.load's
# default `weights_only=True`, which refuses numpy arrays.
def _numpy_state() -> Dict[str, Any]:
    name, keys, position, has_gauss, cached_gaussian = numpy.random.get_state()
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(numpy.int64)),
        "position": int(position),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached_gaussian),
    }


def _set_numpy_state(state: Dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(numpy.uint32)
    numpy.random.set_state(
        (state["name"], keys, state["position"], state["has_gauss"], state["cached_gaussian"])
    )
