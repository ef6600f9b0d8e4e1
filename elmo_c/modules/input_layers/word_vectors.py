import torch
from allennlp.data import TextFieldTensors, Vocabulary

from elmo_c.data.target_embeddings import TargetEmbeddings
from elmo_c.modules.input_layers.input_layer import InputLayer


@InputLayer.register("word_vectors")
class WordVectorInput(InputLayer):
    """
    Frozen pretrained word vectors, a trainable linear projection and layer norm:
    the input layer of the reference ELMo-C code.  The frozen table is copied from
    `vectors` the first time the layer runs and is saved with the model (downstream
    use then needs no vector file); it never receives a gradient.

    Registered as an `InputLayer` with name "word_vectors".

    # Parameters

    vocab : `Vocabulary`
    vectors : `TargetEmbeddings`
        Any source of vectors aligned to the `tokens` namespace (often the same
        file as the targets).  Words without a vector get zeros.
    projection_dim : `int`, optional (default = `512`)
    layer_norm : `bool`, optional (default = `True`)
    indexer_name : `str`, optional (default = `"tokens"`)
    """

    def __init__(
        self,
        vocab: Vocabulary,
        vectors: TargetEmbeddings,
        projection_dim: int = 512,
        layer_norm: bool = True,
        indexer_name: str = "tokens",
    ) -> None:
        super().__init__()
        self.vectors = vectors
        self.indexer_name = indexer_name
        num_words = vocab.get_vocab_size(vectors.namespace)
        self.embedding = torch.nn.Embedding(num_words, vectors.embedding_dim)
        self.embedding.weight.requires_grad = False
        self.register_buffer("filled", torch.tensor(False))
        # A bias before layer norm would be cancelled by it.
        self.projection = torch.nn.Linear(vectors.embedding_dim, projection_dim, bias=not layer_norm)
        self.layer_norm = torch.nn.LayerNorm(projection_dim) if layer_norm else None

    def get_output_dim(self) -> int:
        return self.projection.out_features

    def forward(self, source: TextFieldTensors) -> torch.Tensor:
        if not bool(self.filled):
            self._fill()
        embedded = self.projection(self.embedding(source[self.indexer_name]["tokens"]))
        return self.layer_norm(embedded) if self.layer_norm is not None else embedded

    @torch.no_grad()
    def _fill(self) -> None:
        ids = torch.arange(self.embedding.num_embeddings)
        rows, valid = self.vectors.lookup(ids)
        self.embedding.weight.copy_(rows * valid.unsqueeze(-1))
        self.filled.fill_(True)
