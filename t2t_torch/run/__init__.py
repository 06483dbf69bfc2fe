"""One training run from a composed config: train or evaluate, its run directory's identity, and the config checks and
registrations made before Hydra composes (T2T's `t2t-trainer` side)."""
