"""Checkpoint files: atomic writes and checked reads, and averaging (T2T's `t2t-avg-checkpoints`)."""
