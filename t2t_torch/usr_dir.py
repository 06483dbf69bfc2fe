"""Import a user's own folder of problems, models and hparams sets (ports T2T's `--t2t_usr_dir`).

The folder is imported as a Python package (its `__init__.py` imports the modules that register things), and its
`conf/` folder, if any, joins the Hydra config search path, so `conf/hparams/my_set.yaml` becomes `hparams=my_set`.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from t2t_torch.errors import T2TUserError
from t2t_torch.registry import add_config_dir


def usr_conf_dir(usr_dir: str | Path) -> Path | None:
    conf = Path(usr_dir).expanduser().resolve() / "conf"
    return conf if conf.is_dir() else None


def import_usr_dir(usr_dir: str | Path) -> ModuleType:
    """Import `usr_dir` as a package named after the folder, and add its `conf/` to the config search path."""
    path = Path(usr_dir).expanduser().resolve()
    if not path.is_dir():
        raise T2TUserError(f"usr_dir '{usr_dir}' is not a folder: pass usr_dir=<folder with an __init__.py>")
    if not (path / "__init__.py").is_file() and not any(path.glob("*.py")):
        raise T2TUserError(f"usr_dir '{path}' holds no Python files: add an __init__.py that imports your modules")
    parent = str(path.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    module = importlib.import_module(path.name)
    conf = usr_conf_dir(path)
    if conf is not None:
        add_config_dir(conf)
    return module
