"""Checkpoints: atomic writes and checked reads, the typed record every consumer reads (`record.py`: a file or a
sharded directory, `sharded.py`), and averaging (T2T's `t2t-avg-checkpoints`)."""
