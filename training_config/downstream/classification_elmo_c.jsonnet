// Sentence classification (sentiment, topic, question type, ...) with ELMo-C: a
// BiLSTM over word embeddings and the ELMo-C mix, max-pooled, then a linear layer
// (allennlp's `basic_classifier`), accuracy.  Sized for CPU runs; the paper's SST
// model is sst_elmo_c.jsonnet (BCN).
//
//   ELMO_C_ARCHIVE=runs/demo/pretrain/model.tar.gz ELMO_C_DIM=256 \
//   ELMO_C_CLS_TRAIN=train.jsonl ELMO_C_CLS_DEV=dev.jsonl ELMO_C_CLS_TEST=test.jsonl \
//     allennlp train training_config/downstream/classification_elmo_c.jsonnet -s OUT --include-package elmo_c
//   allennlp evaluate OUT/model.tar.gz test.jsonl --include-package elmo_c
//
// Files are JSON lines {"text": "tokenised text", "label": "..."} (allennlp's
// `text_classification_json`); the text is split on whitespace.  ELMO_C_EMBEDDER=false
// trains the same classifier without ELMo-C.  Unset variables default to the
// bundled fixtures (elmo_c/config_defaults.py).
local elmo_c = import 'elmo_c_embedder.libsonnet';

{
  word_dim:: 50,
  lstm_size:: 100,
  num_epochs:: 10,

  dataset_reader: {
    type: 'text_classification_json',
    tokenizer: { type: 'whitespace' },
    token_indexers: { tokens: { type: 'single_id', lowercase_tokens: true } } + elmo_c.indexers,
  },
  train_data_path: std.extVar('ELMO_C_CLS_TRAIN'),
  validation_data_path: std.extVar('ELMO_C_CLS_DEV'),
  model: {
    type: 'basic_classifier',
    text_field_embedder: {
      token_embedders: {
        tokens: { type: 'embedding', embedding_dim: $.word_dim, trainable: true },
      } + elmo_c.embedders(dropout=0.5),
    },
    seq2seq_encoder: {
      type: 'lstm',
      input_size: $.word_dim + elmo_c.dim,
      hidden_size: $.lstm_size,
      bidirectional: true,
    },
    seq2vec_encoder: { type: 'boe', embedding_dim: 2 * $.lstm_size, averaged: true },
    dropout: 0.3,
  },
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 32 } },
  trainer: {
    optimizer: { type: 'adam', lr: 0.001 },
    grad_norm: 5.0,
    num_epochs: $.num_epochs,
    patience: 5,
    validation_metric: '+accuracy',
    checkpointer: { keep_most_recent_by_count: 1 },
  },
}
