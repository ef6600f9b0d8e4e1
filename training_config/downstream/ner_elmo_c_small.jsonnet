// ner_elmo_c.jsonnet at CPU size, for the demo (scripts/demo.py): the same tagger with
// a smaller character CNN, one BiLSTM layer of 100 and 10 epochs.  Same variables.
(import 'ner_elmo_c.jsonnet') + {
  char_filters:: 32,
  lstm_size:: 100,
  lstm_layers:: 1,
  num_epochs:: 10,
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 32 } },
}
