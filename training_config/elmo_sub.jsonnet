// ELMo-Sub: elmo_c.jsonnet's biLM with a softmax over subwords: each target word
// is scored as the sum of its sentencepiece pieces' log-likelihoods, predicted
// from the word's state (see SubwordSoftmaxOutputLayer for how this relates to the
// paper's subword-level ELMo-Sub).  Build the pieces first:
//
//   allennlp build-subwords $ELMO_C_TRAIN subwords.model --vocab-size 8000 --include-package elmo_c
//   ELMO_C_TRAIN=... ELMO_C_VALIDATION=... ELMO_C_SUBWORDS=subwords.model \
//     allennlp train training_config/elmo_sub.jsonnet --include-package elmo_c -s OUT
//
// Unset variables default to the bundled fixtures (elmo_c/config_defaults.py), here
// a 128-piece model of the toy corpus.
local bilm = import 'elmo_c_encoder.libsonnet';
local data = bilm.data;

{
  // 20-token windows of the running text, as ELMo and ELMo-C were trained.
  vocabulary: bilm.vocabulary,
  dataset_reader: bilm.reader(window_size=20),
  // Validated on whole sentences, as the figures of every other config are.
  validation_dataset_reader: bilm.reader(),
  train_data_path: data.train,
  validation_data_path: data.validation,
  model: bilm.model(
    output_layer=bilm.subword_softmax(std.extVar('ELMO_C_SUBWORDS')),
    input_layer=bilm.characters(projection_dim=512),
    encoder=bilm.encoder(cell_size=4096, projection_dim=512, num_layers=2),
  ),
  data_loader: bilm.data_loader(batch_size=64),
  validation_data_loader: bilm.validation_data_loader(batch_size=64),
  trainer: bilm.softmax_trainer(num_epochs=10, lr=1e-3),
}
