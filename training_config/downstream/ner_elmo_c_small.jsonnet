// ner_elmo_c.jsonnet at CPU size, for the demo (scripts/demo.py): the same tagger with
// a smaller character CNN, one BiLSTM layer of 100 and 25 epochs (on the demo's
// ~1,900 WNUT-16 tweets both taggers' dev F1 still rises after 10; the best epochs
// were 19-22).  Same variables.
(import 'ner_elmo_c.jsonnet') + {
  char_filters:: 32,
  lstm_size:: 100,
  lstm_layers:: 1,
  num_epochs:: 25,
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 32 } },
}
