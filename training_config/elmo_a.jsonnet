// ELMo-A: elmo_c.jsonnet's biLM with an adaptive softmax over the word vocabulary
// (Grave et al., 2017).  The clusters follow the frequency order of the vocabulary
// built from the data: a head of the 20K most frequent words, then clusters 4
// times larger each ([20000, 100000, 420000] for ELMo's 793K words); pass
// `cutoffs=[...]` to choose them.  Model selection is on the validation perplexity.
//
//   ELMO_C_TRAIN=... ELMO_C_VALIDATION=... \
//     allennlp train training_config/elmo_a.jsonnet --include-package elmo_c -s OUT
//
// Unset variables default to the bundled fixtures (elmo_c/config_defaults.py).
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
    output_layer=bilm.adaptive_softmax(cutoffs=null, div_value=4.0),
    input_layer=bilm.characters(projection_dim=512),
    encoder=bilm.encoder(cell_size=4096, projection_dim=512, num_layers=2),
  ),
  data_loader: bilm.data_loader(batch_size=64),
  validation_data_loader: bilm.validation_data_loader(batch_size=64),
  trainer: bilm.softmax_trainer(num_epochs=10, lr=1e-3),
}
