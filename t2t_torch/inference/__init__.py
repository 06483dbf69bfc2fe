"""Checkpoint -> predictions: rebuild a trained model and its problem from a checkpoint and decode (T2T's decoding.py
`decode_from_file` / `decode_from_dataset` side), dispatching on the target modality."""
