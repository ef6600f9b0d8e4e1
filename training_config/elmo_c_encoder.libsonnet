// The biLM shared by every pretraining config (ELMo-C and its baselines): one
// place for the input layer and encoder sizes, so that the variants differ only
// in their output layer.
{
  // ELMo's character CNN (bilm-tf's options): 2048 filters, 2 highway layers.
  characters(projection_dim=512, filters=[[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]], num_highway=2):: {
    type: 'characters',
    projection_dim: projection_dim,
    filters: filters,
    num_highway: num_highway,
    character_embedding_dim: 16,
    activation: 'relu',
  },

  // ELMo's LSTM: 2 layers of 4096 cells projected to 512, residual between them.
  encoder(cell_size=4096, projection_dim=512, num_layers=2, dropout=0.1, clip=null, layer_norm=false):: {
    num_layers: num_layers,
    cell_size: cell_size,
    projection_dim: projection_dim,
    dropout: dropout,
    cell_clip: clip,
    projection_clip: clip,
    residual: true,
    layer_norm: layer_norm,
  },

  // The reference ELMo-C code's input layer: frozen pretrained word vectors (the file
  // as it is, not centred), a trainable projection and layer norm.
  word_vectors(path, embedding_dim, projection_dim=512):: {
    type: 'word_vectors',
    vectors: $.targets(path, embedding_dim, centre=null, normalize=false),
    projection_dim: projection_dim,
    layer_norm: true,
  },

  // One sentence per line, indexed as characters (input) and word ids (targets);
  // `window_size` packs the token stream into fixed windows (ELMo used 20).
  reader(tokenizer='whitespace', max_sequence_length=400, window_size=null):: {
    type: 'elmo_c_sentences',
    tokenizer: { type: tokenizer },
    max_sequence_length: max_sequence_length,
    window_size: window_size,
  },

  // The pretraining model around a given output layer.
  model(output_layer, input_layer=self.characters(), encoder=self.encoder(), dropout=0.1):: {
    type: 'continuous_output_language_model',
    input_layer: input_layer,
    encoder: encoder,
    output_layer: output_layer,
    dropout: dropout,
  },

  // Fixed target vectors; the format follows the file name (.bin: FastText with
  // subwords, .npy: matrix + words file, .ctt: `allennlp compress-targets`' compressed
  // table, otherwise .vec/GloVe text, .gz allowed).  By default they are normalised
  // and centred on their frequency-weighted mean (`centre=null, normalize=false`
  // keeps the file's vectors): raw word vectors share a common direction that a
  // cosine loss learns instead of the next word.  A .ctt table is centred when it
  // is made (`compress-targets --centre`).
  targets(path, embedding_dim, centre='frequency', normalize=true, remove_principal_directions=0):: {
    type: if std.endsWith(path, '.bin') then 'fasttext' else if std.endsWith(path, '.npy') then 'npy'
    else if std.endsWith(path, '.ctt') then 'compressed' else 'text',
    path: path,
    embedding_dim: embedding_dim,
  } + if std.endsWith(path, '.ctt') then {} else {
    centre: centre,
    normalize: normalize,
    remove_principal_directions: remove_principal_directions,
  },

  // The vocabulary built from the data, with each word's count: frequency-centred
  // targets and the metrics' baselines (constant prediction, unigram model) need them.
  vocabulary:: { type: 'counted' },

  // ELMo-C's output layer.  `<S>`/`</S>` are left out of the loss by default: every
  // sentence ends with `</S>`, an easy target that teaches nothing about context (on
  // PTB it lifts the cosine gain over the constant prediction by half:
  // benchmarks/RESULTS_ablation.md).
  continuous(targets, loss='cosine', boundaries_in_loss=false):: {
    type: 'continuous',
    target_embeddings: targets,
    loss: { type: loss },
    boundaries_in_loss: boundaries_in_loss,
  },

  // The data paths and target vectors, from the environment (unset variables
  // default to the bundled fixtures: see elmo_c/config_defaults.py).
  data:: {
    train: std.extVar('ELMO_C_TRAIN'),
    validation: std.extVar('ELMO_C_VALIDATION'),
    targets: std.extVar('ELMO_C_TARGETS'),
    targets_dim: std.parseInt(std.extVar('ELMO_C_TARGETS_DIM')),
  },

  // Adam as in the reference ELMo-C code, gradient clipping, and a schedule that
  // warms up linearly to `lr` and then decays as 1/sqrt(step) (Noam's, which
  // unlike linear decay needs no epoch length: the loader streams the corpus).
  trainer(num_epochs=10, lr=1e-3, warmup_steps=1000, checkpoint_every_seconds=1800):: {
    optimizer: { type: 'adam', lr: lr, betas: [0.9, 0.999], eps: 1e-6 },
    learning_rate_scheduler: { type: 'noam', model_size: 1, warmup_steps: warmup_steps, factor: lr * std.sqrt(warmup_steps) },
    grad_norm: 1.0,
    num_epochs: num_epochs,
    validation_metric: '+cosine',
    // Also within an epoch, so a killed run loses at most `checkpoint_every_seconds`;
    // the random states and the epoch's running metrics go with each checkpoint, so
    // `--recover` ends where an uninterrupted run ends.  The progress bar shows
    // tokens/s and the time left.
    checkpointer: { type: 'atomic', keep_most_recent_by_count: 2, save_every_num_seconds: checkpoint_every_seconds },
    callbacks: [{ type: 'rng_state' }, { type: 'resumable_metrics' }, { type: 'throughput' }],
  },

  // Batches of sentences of similar length, bucketed within a window of
  // instances so that memory stays flat however large the corpus is.
  // `reproducible`: with loader workers (`num_workers`), batches in a fixed order.
  data_loader(batch_size=64, max_instances_in_memory=100 * batch_size):: {
    type: 'reproducible',
    batch_sampler: { type: 'bucket', batch_size: batch_size, sorting_keys: ['source'] },
    max_instances_in_memory: max_instances_in_memory,
  },

  // Validation in a fixed order, without padding noise: AllenNLP averages the loss
  // over batches, so random batches would make the figure itself random (and a
  // resumed run, which skips earlier validations, would see other batches).
  validation_data_loader(batch_size=64, max_instances_in_memory=100 * batch_size):: self.data_loader(batch_size, max_instances_in_memory) + {
    batch_sampler+: { shuffle: false, padding_noise: 0.0 },
  },

  // -- The softmax baselines of the paper: the same biLM with another output layer.

  // A full softmax over the `tokens` vocabulary (one for both directions, as ELMo).
  softmax(share_between_directions=true):: {
    type: 'softmax',
    share_between_directions: share_between_directions,
  },

  // ELMo's sampled softmax: 8192 log-uniform negative samples, full softmax in
  // evaluation; sparse gradients need `softmax_trainer(sparse=true)`.
  sampled_softmax(num_samples=8192, sparse=true, share_between_directions=true):: {
    type: 'sampled_softmax',
    num_samples: num_samples,
    sparse: sparse,
    share_between_directions: share_between_directions,
  },

  // ELMo-A's adaptive softmax; `cutoffs=null` derives them from the vocabulary size
  // (a head of the 20K most frequent words, then clusters 4 times larger each).
  adaptive_softmax(cutoffs=null, div_value=4.0, share_between_directions=true):: {
    type: 'adaptive_softmax',
    cutoffs: cutoffs,
    div_value: div_value,
    share_between_directions: share_between_directions,
  },

  // ELMo-Sub's softmax over the pieces of a sentencepiece model (`allennlp build-subwords`).
  subword_softmax(subword_model, share_between_directions=true):: {
    type: 'subword_softmax',
    subword_model: subword_model,
    share_between_directions: share_between_directions,
  },

  // `trainer` for a softmax baseline: model selection on the validation perplexity,
  // and with `sparse` (the sampled softmax's sparse gradients) AllenNLP's
  // `dense_sparse_adam`, the same Adam on dense parameters and lazy Adam on sparse ones.
  softmax_trainer(num_epochs=10, lr=1e-3, warmup_steps=1000, sparse=false)::
    self.trainer(num_epochs=num_epochs, lr=lr, warmup_steps=warmup_steps) + {
      optimizer+: if sparse then { type: 'dense_sparse_adam' } else {},
      validation_metric: '-perplexity',
    },
}
