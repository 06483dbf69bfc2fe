"""Checkpoint -> predictions: rebuild a trained model and its problem from a checkpoint and decode (T2T's decoding.py
`decode_from_file` / `decode_from_dataset` side), dispatching on the target modality.

`predictor.py` (`Predictor`: generation, classification, scoring from text), `search.py` (batched search over
encoded inputs), `decode_config.py` (`DecodeConfig`), `scoring.py` (a language model's continuations scored),
`speech_search.py` (a speech model's search); `translator.py` is the old module path, kept with a FutureWarning."""
