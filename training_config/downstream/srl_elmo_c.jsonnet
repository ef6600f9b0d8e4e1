// Semantic role labelling on CoNLL-2012 (OntoNotes 5.0) with ELMo-C, set up as
// ELMo's SRL model (Peters et al., 2018, after He et al., 2017): per predicate, the
// word embeddings, the ELMo-C mix and a verb-indicator embedding feed a deep
// alternating BiLSTM with highway connections; BIO tags, span F1 from srl-eval.pl
// (needs perl).
//
//   ELMO_C_ARCHIVE=runs/demo/pretrain/model.tar.gz ELMO_C_DIM=256 \
//   ELMO_C_SRL_TRAIN=conll-formatted-ontonotes-5.0/data/train \
//   ELMO_C_SRL_DEV=conll-formatted-ontonotes-5.0/data/development \
//   ELMO_C_SRL_TEST=conll-formatted-ontonotes-5.0/data/test \
//     allennlp train training_config/downstream/srl_elmo_c.jsonnet -s OUT --include-package elmo_c
//   allennlp evaluate OUT/model.tar.gz $ELMO_C_SRL_TEST --include-package elmo_c
//
// Each path is a directory, searched for `*gold_conll` files.  ELMO_C_EMBEDDER=false
// trains the same model without ELMo-C.  The hidden fields are the sizes.  Unset
// variables default to the bundled fixtures (elmo_c/config_defaults.py).
local elmo_c = import 'elmo_c_embedder.libsonnet';

{
  word_dim:: 100,
  verb_dim:: 100,
  lstm_size:: 300,
  lstm_layers:: 8,

  dataset_reader: {
    type: 'srl',
    token_indexers: { tokens: { type: 'single_id', lowercase_tokens: true } } + elmo_c.indexers,
  },
  train_data_path: std.extVar('ELMO_C_SRL_TRAIN'),
  validation_data_path: std.extVar('ELMO_C_SRL_DEV'),
  // Read for the vocabulary only (so that scoring it with `allennlp evaluate`
  // never meets an unseen tag).
  test_data_path: std.extVar('ELMO_C_SRL_TEST'),
  evaluate_on_test: false,
  model: {
    type: 'srl',
    text_field_embedder: {
      token_embedders: {
        tokens: { type: 'embedding', embedding_dim: $.word_dim, trainable: true },
      } + elmo_c.embedders(dropout=0.1),
    },
    binary_feature_dim: $.verb_dim,
    encoder: {
      type: 'alternating_lstm',
      input_size: $.word_dim + elmo_c.dim + $.verb_dim,
      hidden_size: $.lstm_size,
      num_layers: $.lstm_layers,
      recurrent_dropout_probability: 0.1,
      use_highway: true,
    },
    initializer: { regexes: [['tag_projection_layer.*weight', { type: 'orthogonal' }]] },
  },
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 80 } },
  trainer: {
    optimizer: { type: 'adadelta', rho: 0.95 },
    grad_clipping: 1.0,
    num_epochs: 100,
    patience: 20,
    validation_metric: '+f1-measure-overall',
    checkpointer: { keep_most_recent_by_count: 1 },
  },
}
