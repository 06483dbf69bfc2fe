"""The Hydra config groups (problem, model, hparams, trainer, experiment, ...), in the repository's top-level `conf/`
and installed as the package `t2t_torch.conf` (`setup.py` maps it with setuptools' package-dir), so entry points
read them as `pkg://t2t_torch.conf` from a checkout, an editable install or a wheel alike."""
