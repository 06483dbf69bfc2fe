"""t2t-torch's Hydra sweeper plugin, `hydra/sweeper=t2t_optuna` (see `t2t_optuna_sweeper.py`)."""
