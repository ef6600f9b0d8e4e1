// ELMo-C at the paper's size: ELMo's character CNN, 2 LSTM layers of 4096 cells
// projected to 512, and the continuous output layer regressing 300-d FastText
// vectors with the cosine loss.
//
//   ELMO_C_TRAIN=... ELMO_C_VALIDATION=... ELMO_C_TARGETS=crawl-300d-2M-subword.bin \
//     allennlp train training_config/elmo_c.jsonnet --include-package elmo_c -s OUT
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
    output_layer=bilm.continuous(bilm.targets(data.targets, data.targets_dim), loss='cosine'),
    input_layer=bilm.characters(projection_dim=512),
    encoder=bilm.encoder(cell_size=4096, projection_dim=512, num_layers=2),
  ),
  data_loader: bilm.data_loader(batch_size=64),
  validation_data_loader: bilm.validation_data_loader(batch_size=64),
  trainer: bilm.trainer(num_epochs=10, lr=1e-3),
}
