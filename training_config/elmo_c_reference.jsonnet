// The released ELMo-C configuration (uclanlp/ELMO-C, see ../shared/METHOD.md), as
// far as this plugin's pieces express it:
// - input: the frozen FastText vectors of each word (ELMO_C_TARGETS, as stored),
//   a trainable projection to 512 and layer norm, instead of ELMo's character CNN;
// - 2 LSTM layers of 4096 cells projected to 512, cell and projection clips 3,
//   forget bias 1, residual on layer 2, layer norm on each layer's output,
//   dropout 0.1;
// - the continuous output layer with the cosine loss on the same vectors
//   (centred and normalised, this plugin's default; the reference used them raw);
// - 20-token windows, batch 64, Adam (0.9, 0.999, eps 1e-6), gradient clip 1.0,
//   10,000 warm-up steps to the reference's peak 5e-5 (1e-4 x 64 / 128), then
//   decay as 1/sqrt(step) (the reference decays on its own schedule).
// Differences kept on purpose: the two language models train together (the
// reference trained them as separate runs, "for less GPU communication cost"), and
// the LSTM states are not carried across windows (the reference reset them too).
//
//   ELMO_C_TRAIN=... ELMO_C_VALIDATION=... ELMO_C_TARGETS=crawl-300d-2M-subword.bin ELMO_C_TARGETS_DIM=300 \
//     allennlp train training_config/elmo_c_reference.jsonnet --include-package elmo_c -s OUT
local bilm = import 'elmo_c_encoder.libsonnet';
local data = bilm.data;

{
  vocabulary: bilm.vocabulary,
  dataset_reader: bilm.reader(window_size=20),
  // Validated on whole sentences, as the figures of every other config are.
  validation_dataset_reader: bilm.reader(),
  train_data_path: data.train,
  validation_data_path: data.validation,
  model: bilm.model(
    output_layer=bilm.continuous(bilm.targets(data.targets, data.targets_dim), loss='cosine'),
    input_layer=bilm.word_vectors(data.targets, data.targets_dim, projection_dim=512),
    encoder=bilm.encoder(cell_size=4096, projection_dim=512, num_layers=2, clip=3.0, layer_norm=true),
  ),
  data_loader: bilm.data_loader(batch_size=64),
  validation_data_loader: bilm.validation_data_loader(batch_size=64),
  trainer: bilm.trainer(num_epochs=10, lr=5e-5, warmup_steps=10000),
}
