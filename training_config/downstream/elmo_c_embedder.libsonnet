// The ELMo-C block shared by the downstream configs: an `elmo_characters` indexer and
// the `elmo_c_token_embedder` (a learned scalar mix of a pretrained ELMo-C's layers,
// the biLM frozen), both under the key "elmo_c" (bcn reserves "elmo" for allennlp's
// own `Elmo`), and the size the embedder adds to the model's input.
//
//   ELMO_C_ARCHIVE   the pretrained model.tar.gz (training_config/elmo_c*.jsonnet)
//   ELMO_C_DIM       the size of its representations, 2 x its projection_dim
//                    (256 for elmo_c_small.jsonnet, 1024 for elmo_c.jsonnet)
//   ELMO_C_EMBEDDER  "false" leaves ELMo-C out: the same model without it (the baseline)
//
// Unset variables default to the bundled fixtures (elmo_c/config_defaults.py).
local switch = std.extVar('ELMO_C_EMBEDDER');

{
  enabled:: if switch == 'true' then true
  else if switch == 'false' then false
  else error 'ELMO_C_EMBEDDER must be "true" or "false", not "' + switch + '"',

  // What the embedder adds to the size of the text field embedder's output.
  dim:: if self.enabled then std.parseInt(std.extVar('ELMO_C_DIM')) else 0,

  // Merge into a reader's token_indexers.
  indexers:: if self.enabled then { elmo_c: { type: 'elmo_characters' } } else {},

  // Merge into a text_field_embedder's token_embedders.  `dropout` is on the mix;
  // ELMo's configs use 0 where the model applies its own dropout to the input.
  embedders(dropout=0.0, do_layer_norm=false):: if self.enabled then {
    elmo_c: {
      type: 'elmo_c_token_embedder',
      archive_file: std.extVar('ELMO_C_ARCHIVE'),
      dropout: dropout,
      do_layer_norm: do_layer_norm,
      requires_grad: false,
    },
  } else {},
}
