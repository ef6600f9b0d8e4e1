from elmo_c.modules.input_layers.input_layer import InputLayer
from elmo_c.modules.input_layers.characters import CharacterCnnInput
from elmo_c.modules.input_layers.word_vectors import WordVectorInput
from elmo_c.modules.input_layers.from_archive import ArchivedCharacterInput
