"""Hyperparameter sweeps (T2T's `--hparams_range` + `--autotune_*` tuner, ported to Hydra + Optuna).

- `search_space`: ranges as plain data (T2T's `RangedHParams`), parsed from `conf/hparams_search/*.yaml`;
- `plan`: the one-line checks a sweep passes before any trial runs (keys, ranges, objective), and `SweepPlan`;
- `study`: the Optuna study in `<sweep dir>/optuna.db` and how an interrupted sweep resumes;
- `results`: `results.csv`, `results.md` and `best.yaml` in the sweep directory.

The Hydra side is the sweeper plugin `hydra_plugins/t2t_optuna_sweeper` (`hydra/sweeper=t2t_optuna`).
"""
