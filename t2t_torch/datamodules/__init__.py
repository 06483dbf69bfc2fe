"""Serving data to Lightning (the design card's `datamodules/`): below `problems/`, typed against the
`ServedProblem` protocol, so a new dataset never touches it.

- `datamodule.py`: `ProblemDataModule`, the LightningDataModule of any problem; every problem node's `_target_`
  (`instantiate(cfg.problem, data_dir=..., batching=..., seed=...)`), with exact resumption of the data position.
- `batching.py`: `BatchingConfig` (`hparams.batching.*`) and the token-bucket and example-count batch samplers.
- `example_cache.py`: the memory-mapped example cache that prepared splits are stored in.
- `collation.py`: examples into batch tensors, through each feature's modality.
- `preprocessing.py`: per-example preprocessing (augmentation) as examples are served.
- `served_problem.py`: the `ServedProblem` protocol, what a problem offers the DataModule.
"""
