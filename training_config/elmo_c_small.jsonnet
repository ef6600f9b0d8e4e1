// A small ELMo-C for CPU runs (the README's demo): a lighter character CNN and
// 2 LSTM layers of 512 cells projected to 128.  Same variables as elmo_c.jsonnet.
local bilm = import 'elmo_c_encoder.libsonnet';
local data = bilm.data;

{
  vocabulary: bilm.vocabulary,
  dataset_reader: bilm.reader(),
  train_data_path: data.train,
  validation_data_path: data.validation,
  model: bilm.model(
    output_layer=bilm.continuous(bilm.targets(data.targets, data.targets_dim), loss='cosine'),
    input_layer=bilm.characters(projection_dim=128, filters=[[1, 32], [2, 32], [3, 64], [4, 128], [5, 128]], num_highway=1),
    encoder=bilm.encoder(cell_size=512, projection_dim=128, num_layers=2),
  ),
  data_loader: bilm.data_loader(batch_size=32),
  validation_data_loader: bilm.validation_data_loader(batch_size=32),
  trainer: bilm.trainer(num_epochs=5, lr=2e-3, warmup_steps=200),
}
