from typing import List

from allennlp.data.tokenizers import Token, Tokenizer


@Tokenizer.register("spacy_blank")
class SpacyBlankTokenizer(Tokenizer):
    """
    spaCy's rule-based tokeniser for a language (`spacy.blank(language)`), which
    needs no model package and therefore nothing downloaded.

    Registered as a `Tokenizer` with name "spacy_blank".

    # Parameters

    language : `str`, optional (default = `"en"`)
    """

    def __init__(self, language: str = "en") -> None:
        import spacy

        self.language = language
        self._nlp = spacy.blank(language)

    def tokenize(self, text: str) -> List[Token]:
        # The tokenizer alone: calling the (empty) pipeline would refuse texts longer than
        # `nlp.max_length` (1,000,000 characters).
        return [Token(token.text, idx=token.idx) for token in self._nlp.tokenizer(text) if not token.is_space]

    def _to_params(self):
        return {"type": "spacy_blank", "language": self.language}
