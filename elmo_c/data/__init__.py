from elmo_c.data.counted_vocabulary import CountedVocabulary
from elmo_c.data.dataset_readers import SentencesDatasetReader
from elmo_c.data.target_embeddings import TargetEmbeddings
from elmo_c.data.tokenizers import SpacyBlankTokenizer
from elmo_c.data.data_loaders import ReproducibleDataLoader
