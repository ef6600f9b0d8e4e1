// Continued pretraining on a domain: the character CNN and the LSTMs start from a
// trained model (an ELMo-C archive, or ELMo's own files made into one by
// `allennlp import-elmo`), with its sizes and weights, and go on training on the
// domain's text under a new continuous output layer, over targets trained on that
// text (`allennlp build-targets`) and the vocabulary of that text.  The input layer
// and the first ELMO_C_FROZEN_LSTM_LAYERS LSTM layers stay frozen for the first
// ELMO_C_FREEZE_BATCHES batches (0: none), while the new output layer learns.
//
//   ELMO_C_PRETRAINED=runs/elmo_c/model.tar.gz \
//   ELMO_C_TRAIN=domain.train.txt ELMO_C_VALIDATION=domain.valid.txt \
//   ELMO_C_TARGETS=domain_fasttext.bin ELMO_C_TARGETS_DIM=100 \
//     allennlp train training_config/elmo_c_adapt.jsonnet --include-package elmo_c -s OUT
//
// OUT/model.tar.gz is a self-standing ELMo-C archive (it no longer needs
// ELMO_C_PRETRAINED).  Unset variables default to the bundled fixtures
// (elmo_c/config_defaults.py).
local bilm = import 'elmo_c_encoder.libsonnet';
local data = bilm.data;
local pretrained = std.extVar('ELMO_C_PRETRAINED');
local freeze_batches = std.parseInt(std.extVar('ELMO_C_FREEZE_BATCHES'));
local frozen_lstm_layers = std.parseInt(std.extVar('ELMO_C_FROZEN_LSTM_LAYERS'));

// The input layer, then both directions' first LSTM layers (with their layer norms, if any).
local frozen = ['^input_layer\\.'] + [
  '^encoder\\.(forward|backward)_(layers|norms)\\.%d\\.' % layer
  for layer in std.range(0, frozen_lstm_layers - 1)
];

{
  vocabulary: bilm.vocabulary,
  dataset_reader: bilm.reader(),
  train_data_path: data.train,
  validation_data_path: data.validation,
  model: bilm.model(
    output_layer=bilm.continuous(bilm.targets(data.targets, data.targets_dim), loss='cosine'),
    input_layer={ type: 'from_archive', archive_file: pretrained },
    encoder={ type: 'from_archive', archive_file: pretrained },
  ),
  data_loader: bilm.data_loader(batch_size=32),
  validation_data_loader: bilm.validation_data_loader(batch_size=32),
  trainer: bilm.trainer(num_epochs=3, lr=1e-3, warmup_steps=200) + {
    callbacks+: [
      { type: 'freeze_then_unfreeze', patterns: frozen, num_batches: freeze_batches },
      // Last: the archive's sizes go into OUT/config.json once training has ended.
      { type: 'self_contained_archive' },
    ],
  },
}
