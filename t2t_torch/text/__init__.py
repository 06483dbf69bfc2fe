"""Text encoders (vocabularies) for text problems, on Hugging Face `tokenizers`.

Ports T2T's `data_generators/text_encoder.py`: reserved ids `<pad>` = 0 and `<EOS>` = 1,
`SubwordEncoder` (T2T's SubwordTextEncoder; byte-level BPE), `ByteEncoder` (ByteTextEncoder,
for `_characters` problems), `TokenFileEncoder` (TokenTextEncoder) and `IntegerEncoder` (the
base TextEncoder: space-separated integers, for algorithmic problems). Every encoder saves to
one JSON file that `load_encoder` reads back as the right class.
"""

from t2t_torch.text.byte import ByteEncoder
from t2t_torch.text.encoder import (
    EOS,
    EOS_ID,
    NUM_RESERVED_IDS,
    PAD,
    PAD_ID,
    UNK,
    UNK_ID,
    EncoderFileError,
    EncoderFileNotFoundError,
    TextEncoder,
    load_encoder,
)
from t2t_torch.text.integer import IntegerEncoder
from t2t_torch.text.subword import SubwordEncoder
from t2t_torch.text.token_file import TokenFileEncoder

__all__ = [
    "EOS",
    "EOS_ID",
    "NUM_RESERVED_IDS",
    "PAD",
    "PAD_ID",
    "UNK",
    "UNK_ID",
    "ByteEncoder",
    "EncoderFileError",
    "EncoderFileNotFoundError",
    "IntegerEncoder",
    "SubwordEncoder",
    "TextEncoder",
    "TokenFileEncoder",
    "load_encoder",
]
