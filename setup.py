"""The package list for setuptools (the rest of the metadata is in pyproject.toml): every package under
`t2t_torch/` and `hydra_plugins/`, plus `t2t_torch.conf`, whose files live in the top-level `conf/` folder
(package-dir), where DESIGN.md puts the config groups."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["t2t_torch", "t2t_torch.*", "hydra_plugins", "hydra_plugins.*"]),
              "t2t_torch.conf"],
    package_dir={"t2t_torch.conf": "conf"},
)
