// ELMo, the paper's main baseline: elmo_c.jsonnet's biLM (ELMo's character CNN, 2
// LSTM layers of 4096 cells projected to 512) with ELMo's output layer, a softmax
// over the word vocabulary trained with 8192 sampled negatives (full softmax in
// validation).  Its sparse gradients go to AllenNLP's dense_sparse_adam, Adam with
// elmo_c.jsonnet's settings; model selection is on the validation perplexity.
//
//   ELMO_C_TRAIN=... ELMO_C_VALIDATION=... \
//     allennlp train training_config/elmo.jsonnet --include-package elmo_c -s OUT
//
// The vocabulary is built from the data (sorted by frequency, as the log-uniform
// sampler assumes).  Unset variables default to the bundled fixtures
// (elmo_c/config_defaults.py).
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
    output_layer=bilm.sampled_softmax(num_samples=8192, sparse=true),
    input_layer=bilm.characters(projection_dim=512),
    encoder=bilm.encoder(cell_size=4096, projection_dim=512, num_layers=2),
  ),
  data_loader: bilm.data_loader(batch_size=64),
  validation_data_loader: bilm.validation_data_loader(batch_size=64),
  trainer: bilm.softmax_trainer(num_epochs=10, lr=1e-3, sparse=true),
}
