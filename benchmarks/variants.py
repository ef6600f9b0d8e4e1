"""
The models compared by the whole-model benchmarks (training step, parameters,
memory), each built from the library's own classes exactly as the configs in
`training_config/` build them, at an encoder size of `common.SIZES`:

| variant | output layer | optimizer (as its config) |
|---|---|---|
| `encoder_only` | none: the loss is the sum of the top states (the limit of any output layer) | adam |
| `elmo_c` | `continuous`, 300-d targets, cosine loss (elmo_c.jsonnet) | adam |
| `elmo` | `sampled_softmax`, 8192 samples, sparse (elmo.jsonnet) | dense_sparse_adam |
| `elmo_a` | `adaptive_softmax`, cutoffs from the vocabulary (elmo_a.jsonnet) | adam |
| `elmo_sub` | `subword_softmax` over 8K BPE pieces (elmo_sub.jsonnet) | adam |
| `allennlp_elmo` | AllenNLP's recipe (`benchmarks/allennlp_recipe.py`) | dense_sparse_adam |

A training step is what AllenNLP's trainer does per batch: zero the gradients,
forward, backward, clip the gradient norm to 1 (our configs' `grad_norm`, applied
to every variant alike), optimizer step.  `output_layer_step` is the step of an
output layer alone (`output_layers.py`, and its share of the step in
`training_step.py`).
"""
import itertools
from typing import Callable, Dict, List, Tuple

import numpy
import torch
from allennlp.common import Lazy, Params
from allennlp.training.optimizers import Optimizer

from benchmarks import allennlp_recipe
from benchmarks.common import TARGET_DIM, Config, ModelSize, SyntheticCorpus
from elmo_c.models.continuous_output_language_model import ContinuousOutputLanguageModel
from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder
from elmo_c.modules.input_layers import CharacterCnnInput
from elmo_c.modules.output_layers import (
    AdaptiveSoftmaxOutputLayer,
    ContinuousOutputLayer,
    OutputLayer,
    SampledSoftmaxOutputLayer,
    SoftmaxOutputLayer,
    SubwordSoftmaxOutputLayer,
)

STEP_VARIANTS = ("encoder_only", "elmo_c", "elmo", "elmo_a", "elmo_sub", "allennlp_elmo")
LABELS = {
    "encoder_only": "encoder only (no output layer)",
    "elmo_c": "ELMo-C (continuous)",
    "elmo": "ELMo (sampled softmax)",
    "elmo_a": "ELMo-A (adaptive softmax)",
    "elmo_sub": "ELMo-Sub (subword softmax)",
    "allennlp_elmo": "AllenNLP's ELMo recipe",
}
OUTPUT_KIND = {
    "encoder_only": "none",
    "elmo_c": "continuous",
    "elmo": "sampled",
    "elmo_a": "adaptive",
    "elmo_sub": "subword",
}
SPARSE_KINDS = ("sampled",)
NUM_TARGET_BATCHES = 2  # target batches an output layer step cycles through


class NoOutputLayer(OutputLayer):
    """No output layer: the summed top states are the loss, so the encoder still gets a backward pass."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()

    def forward(  # type: ignore[override]
        self, hidden: torch.Tensor, targets: torch.Tensor, direction: int
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        return hidden.sum(), torch.tensor(float(len(targets)), device=hidden.device)


def build_output_layer(kind: str, input_dim: int, corpus: SyntheticCorpus, config: Config) -> OutputLayer:
    """One of the library's output layers (or `none`) over the corpus' vocabulary."""
    if kind == "continuous":
        return ContinuousOutputLayer(input_dim, corpus.target_embeddings(TARGET_DIM))
    if kind == "sampled":
        return SampledSoftmaxOutputLayer(input_dim, corpus.vocab, num_samples=config.num_samples, sparse=True)
    if kind == "adaptive":
        return AdaptiveSoftmaxOutputLayer(input_dim, corpus.vocab)
    if kind == "subword":
        model_path = corpus.subword_model_path(config.subword_pieces)
        return SubwordSoftmaxOutputLayer(input_dim, corpus.vocab, subword_model=model_path)
    if kind == "softmax":
        return SoftmaxOutputLayer(input_dim, corpus.vocab)
    if kind == "none":
        return NoOutputLayer(input_dim)
    raise ValueError(f"unknown output layer {kind!r}")


def build_optimizer(module: torch.nn.Module, sparse: bool) -> torch.optim.Optimizer:
    """Our configs' Adam (`dense_sparse_adam` for sparse gradients), through AllenNLP's registry."""
    parameters = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    settings = {"type": "dense_sparse_adam" if sparse else "adam", "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-6}
    return Optimizer.from_params(model_parameters=parameters, params=Params(settings))


def output_layer_step(
    kind: str, corpus: SyntheticCorpus, input_dim: int, num_targets: int, config: Config
) -> Callable[[], None]:
    """A training step of one output layer alone (see the docstring of `output_layers.py`); seeded as `build_model`."""
    torch.manual_seed(config.seed)
    device = config.device
    layer = build_output_layer(kind, input_dim, corpus, config).to(device).train()
    optimizer = build_optimizer(layer, sparse=kind in SPARSE_KINDS)
    rng = corpus.rng(stream=20)
    hidden = [torch.randn(num_targets, input_dim, device=device, requires_grad=True) for _ in range(2)]
    batches = itertools.cycle(
        [[torch.from_numpy(corpus.sample_ids((num_targets,), rng)).to(device) for _ in range(2)]
         for _ in range(NUM_TARGET_BATCHES)]
    )

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        targets = next(batches)
        losses = []
        for direction in (0, 1):
            hidden[direction].grad = None
            loss_sum, count = layer(hidden[direction], targets[direction], direction)
            losses.append(loss_sum / count.clamp(min=1.0))
        (0.5 * (losses[0] + losses[1])).backward()
        optimizer.step()

    return step


def build_model(variant: str, size: ModelSize, corpus: SyntheticCorpus, config: Config) -> torch.nn.Module:
    """
    The training model of a variant (see the module docstring), in training mode, on
    `config.device`.  Seeded with `config.seed`, so that two runs time the same
    weights (and the variants built from the library share their input layer's and
    encoder's, built first in the same order).
    """
    torch.manual_seed(config.seed)
    if variant == "allennlp_elmo":
        model = allennlp_recipe.build_language_model(size, corpus.vocab, config.num_samples)
    else:
        kind = OUTPUT_KIND[variant]
        input_layer = CharacterCnnInput(size.projection_dim, size.filters, size.num_highway)
        encoder = Lazy(
            lambda input_dim: BidirectionalLmEncoder(input_dim, 2, size.cell_size, size.projection_dim, dropout=0.1)
        )
        output_layer = Lazy(lambda input_dim: build_output_layer(kind, input_dim, corpus, config))
        model = ContinuousOutputLanguageModel(corpus.vocab, input_layer, encoder, output_layer, dropout=0.1)
    return model.to(config.device).train()


def build_variant_optimizer(variant: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    if variant == "allennlp_elmo":
        parameters = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        return Optimizer.from_params(model_parameters=parameters, params=Params(dict(allennlp_recipe.OPTIMIZER)))
    return build_optimizer(model, sparse=OUTPUT_KIND[variant] in SPARSE_KINDS)


def make_batches(
    variant: str, corpus: SyntheticCorpus, shape: Tuple[int, int], count: int, device: torch.device
) -> List[Dict[str, Dict[str, torch.Tensor]]]:
    """
    `count` batches of `shape` (sentences, tokens): full 20-token windows as the
    configs' reader makes them, Zipf word ids and their ELMo character ids, keyed as
    the variant's model reads them.
    """
    rng = corpus.rng(stream=10)
    characters_key = allennlp_recipe.CHARACTERS_KEY if variant == "allennlp_elmo" else "elmo_characters"
    batches = []
    for _ in range(count):
        ids = corpus.sample_ids(shape, rng)
        batches.append(
            {
                "tokens": {"tokens": torch.from_numpy(ids).to(device)},
                characters_key: {"elmo_tokens": corpus.character_ids(ids).to(device)},
            }
        )
    return batches


def training_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: List[Dict], grad_norm: float = 1.0
) -> Callable[[], None]:
    """One trainer step per call, cycling through `batches`."""
    cycle = itertools.cycle(batches)
    parameters = [p for p in model.parameters() if p.requires_grad]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(source=next(cycle))["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in parameters if p.grad is not None], grad_norm)
        optimizer.step()

    return step


def trainable_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def parameter_bytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def fixed_table_elements(model: torch.nn.Module) -> int:
    """Elements of the fixed (never trained) tables a variant reads: targets, piece ids."""
    layer = getattr(model, "output_layer", None)
    if isinstance(layer, ContinuousOutputLayer):
        return layer.target_embeddings.num_rows * layer.target_embeddings.embedding_dim
    if isinstance(layer, SubwordSoftmaxOutputLayer):
        return int(numpy.prod(layer.piece_ids.shape))
    return 0


BYTES_PER_TRAINED_PARAMETER = 16  # fp32 weight, gradient and Adam's two moments


def output_layer_parameters(kind: str, input_dim: int, corpus: SyntheticCorpus, config: Config) -> int:
    """Parameters of an output layer, counted on the meta device (nothing is allocated)."""
    if kind == "subword":  # building it segments the whole vocabulary: count instead
        return input_dim * config.subword_pieces + config.subword_pieces
    with torch.device("meta"):
        return sum(p.numel() for p in build_output_layer(kind, input_dim, corpus, config).parameters())


def encoder_parameters(size: ModelSize) -> int:
    """Parameters of the character CNN and the biLM encoder, counted on the meta device."""
    with torch.device("meta"):
        input_layer = CharacterCnnInput(size.projection_dim, size.filters, size.num_highway)
        encoder = BidirectionalLmEncoder(input_layer.get_output_dim(), 2, size.cell_size, size.projection_dim)
    return trainable_parameters(input_layer) + trainable_parameters(encoder)


def estimated_training_bytes(variant: str, size: ModelSize, corpus: SyntheticCorpus, config: Config) -> float:
    """A rough bound of what training a variant holds: 16 bytes per parameter (activations left out)."""
    kind = OUTPUT_KIND.get(variant, "sampled")  # AllenNLP's recipe: a sampled softmax
    parameters = encoder_parameters(size) + output_layer_parameters(kind, size.projection_dim, corpus, config)
    return float(BYTES_PER_TRAINED_PARAMETER * parameters)
