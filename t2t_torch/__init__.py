"""t2t-torch: Tensor2Tensor rebuilt on PyTorch Lightning and Hydra.

    import t2t_torch
    t2t_torch.list_problems()
    problem = t2t_torch.problem("algorithmic_reverse_binary40")
    problem.generate_data("~/t2t_data"); problem.dataset("train", "~/t2t_data")
    net = t2t_torch.model("transformer")(hparams, problem.info())

Built-in problems and models are imported explicitly below, so the registry is never silently empty.
"""

# Built-ins: every module that registers something is imported here, explicitly.
from t2t_torch.problems import algorithmic as _algorithmic  # noqa: F401
from t2t_torch.problems import translate as _translate  # noqa: F401
from t2t_torch.problems import translate_bible as _translate_bible  # noqa: F401
from t2t_torch.models import transformer as _transformer  # noqa: F401
from t2t_torch.registry import (
    list_hparams,
    list_models,
    list_problems,
    model,
    problem,
    register_model,
    register_problem,
)

__all__ = ["list_hparams", "list_models", "list_problems", "model", "problem", "register_model", "register_problem"]
__version__ = "0.1.0"
