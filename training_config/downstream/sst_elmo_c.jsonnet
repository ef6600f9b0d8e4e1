// Sentiment classification on the Stanford Sentiment Treebank with ELMo-C, set up as
// ELMo's SST model (Peters et al., 2018): the biattentive classification network
// (McCann et al., 2017) with the ELMo-C mix added to its input, trained on every
// labelled phrase and validated on whole sentences; accuracy.
//
//   ELMO_C_ARCHIVE=runs/demo/pretrain/model.tar.gz ELMO_C_DIM=256 \
//   ELMO_C_SST_TRAIN=trees/train.txt ELMO_C_SST_DEV=trees/dev.txt ELMO_C_SST_TEST=trees/test.txt \
//   ELMO_C_SST_GRANULARITY=5-class \
//     allennlp train training_config/downstream/sst_elmo_c.jsonnet -s OUT --include-package elmo_c
//   allennlp evaluate OUT/model.tar.gz trees/test.txt --include-package elmo_c
//
// ELMO_C_SST_GRANULARITY is "5-class" (SST-5, the default) or "2-class" (SST-2:
// neutral sentences dropped).  ELMo-C is an ordinary token embedder here (key
// "elmo_c"), which is what bcn's `use_input_elmo` does with allennlp's `Elmo`.
// ELMO_C_EMBEDDER=false trains the same model without ELMo-C.  The hidden fields are
// the sizes.  Unset variables default to the bundled fixtures (elmo_c/config_defaults.py).
local elmo_c = import 'elmo_c_embedder.libsonnet';
local granularity = std.extVar('ELMO_C_SST_GRANULARITY');
local num_classes = { '5-class': 5, '3-class': 3, '2-class': 2 }[granularity];

{
  word_dim:: 300,
  hidden:: 300,

  local reader(use_subtrees) = {
    type: 'sst_tokens',
    granularity: granularity,
    use_subtrees: use_subtrees,
    token_indexers: { tokens: { type: 'single_id', lowercase_tokens: true } } + elmo_c.indexers,
  },
  dataset_reader: reader(use_subtrees=true),
  validation_dataset_reader: reader(use_subtrees=false),
  train_data_path: std.extVar('ELMO_C_SST_TRAIN'),
  validation_data_path: std.extVar('ELMO_C_SST_DEV'),
  // Read for the vocabulary only; `allennlp evaluate` scores it.
  test_data_path: std.extVar('ELMO_C_SST_TEST'),
  evaluate_on_test: false,
  model: {
    type: 'bcn',
    text_field_embedder: {
      token_embedders: {
        tokens: { type: 'embedding', embedding_dim: $.word_dim, trainable: true },
      } + elmo_c.embedders(dropout=0.0),
    },
    embedding_dropout: 0.5,
    pre_encode_feedforward: {
      input_dim: $.word_dim + elmo_c.dim,
      num_layers: 1,
      hidden_dims: [$.hidden],
      activations: ['relu'],
      dropout: [0.25],
    },
    encoder: { type: 'lstm', input_size: $.hidden, hidden_size: $.hidden, num_layers: 1, bidirectional: true },
    integrator: { type: 'lstm', input_size: 6 * $.hidden, hidden_size: $.hidden, num_layers: 1, bidirectional: true },
    integrator_dropout: 0.1,
    output_layer: {
      input_dim: 8 * $.hidden,
      num_layers: 3,
      output_dims: [4 * $.hidden, 2 * $.hidden, num_classes],
      pool_sizes: 4,
      dropout: [0.2, 0.3, 0.0],
    },
  },
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 100 } },
  trainer: {
    optimizer: { type: 'adam', lr: 0.001 },
    grad_norm: 5.0,
    num_epochs: 20,
    patience: 5,
    validation_metric: '+accuracy',
    checkpointer: { keep_most_recent_by_count: 1 },
  },
}
