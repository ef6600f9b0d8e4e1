// Named-entity recognition on CoNLL-2003 with ELMo-C, set up as ELMo's NER tagger
// (Peters et al., 2018): a CRF tagger over word embeddings, a character CNN and the
// ELMo-C mix, a 2-layer BiLSTM, BIOUL tags with constrained decoding, span F1.
//
//   ELMO_C_ARCHIVE=runs/demo/pretrain/model.tar.gz ELMO_C_DIM=256 \
//   ELMO_C_NER_TRAIN=eng.train ELMO_C_NER_DEV=eng.testa ELMO_C_NER_TEST=eng.testb \
//     allennlp train training_config/downstream/ner_elmo_c.jsonnet -s OUT --include-package elmo_c
//   allennlp evaluate OUT/model.tar.gz eng.testb --include-package elmo_c
//
// Files are CoNLL-2003 columns (word POS chunk NER; IOB1 or BIO tags, both read
// right).  ELMO_C_EMBEDDER=false trains the same tagger without ELMo-C.  The
// hidden fields are the sizes: ner_elmo_c_small.jsonnet overrides them.  Unset
// variables default to the bundled fixtures (elmo_c/config_defaults.py).
local elmo_c = import 'elmo_c_embedder.libsonnet';

{
  word_dim:: 50,
  char_filters:: 128,
  lstm_size:: 200,
  lstm_layers:: 2,
  num_epochs:: 75,

  dataset_reader: {
    type: 'conll2003',
    tag_label: 'ner',
    convert_to_coding_scheme: 'BIOUL',
    token_indexers: {
      tokens: { type: 'single_id', lowercase_tokens: true },
      token_characters: { type: 'characters', min_padding_length: 3 },
    } + elmo_c.indexers,
  },
  train_data_path: std.extVar('ELMO_C_NER_TRAIN'),
  validation_data_path: std.extVar('ELMO_C_NER_DEV'),
  // Read for the vocabulary only, as allennlp-models' taggers do (so that scoring
  // it with `allennlp evaluate` never meets an unseen tag).
  test_data_path: std.extVar('ELMO_C_NER_TEST'),
  evaluate_on_test: false,
  model: {
    type: 'crf_tagger',
    label_encoding: 'BIOUL',
    constrain_crf_decoding: true,
    calculate_span_f1: true,
    include_start_end_transitions: false,
    dropout: 0.5,
    text_field_embedder: {
      token_embedders: {
        tokens: { type: 'embedding', embedding_dim: $.word_dim, trainable: true },
        token_characters: {
          type: 'character_encoding',
          embedding: { embedding_dim: 16 },
          encoder: {
            type: 'cnn',
            embedding_dim: 16,
            num_filters: $.char_filters,
            ngram_filter_sizes: [3],
            conv_layer_activation: 'relu',
          },
        },
      } + elmo_c.embedders(dropout=0.0),
    },
    encoder: {
      type: 'lstm',
      input_size: $.word_dim + $.char_filters + elmo_c.dim,
      hidden_size: $.lstm_size,
      num_layers: $.lstm_layers,
      dropout: if $.lstm_layers > 1 then 0.5 else 0.0,
      bidirectional: true,
    },
  },
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 64 } },
  trainer: {
    optimizer: { type: 'adam', lr: 0.001 },
    grad_norm: 5.0,
    num_epochs: $.num_epochs,
    patience: 25,
    validation_metric: '+f1-measure-overall',
    checkpointer: { keep_most_recent_by_count: 1 },
  },
}
