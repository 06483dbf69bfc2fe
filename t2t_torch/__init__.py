"""t2t-torch: Tensor2Tensor rebuilt on PyTorch Lightning and Hydra.

    import t2t_torch
    t2t_torch.list_problems()
    problem = t2t_torch.problem("algorithmic_reverse_binary40")
    problem.generate_data("~/t2t_data"); problem.dataset("train", "~/t2t_data")
    net = t2t_torch.model("transformer")(model_hparams, problem.spec("~/t2t_data"), modality_hparams)

Built-in problems and models are imported explicitly below, so the registry is never silently empty.
"""

from functools import partial

# Built-ins: every module that registers something is imported here, explicitly.
from t2t_torch.models import basic_fc_relu as _basic_fc_relu  # noqa: F401
from t2t_torch.models import resnet as _resnet  # noqa: F401
from t2t_torch.models import revnet as _revnet  # noqa: F401
from t2t_torch.models import shake_shake as _shake_shake  # noqa: F401
from t2t_torch.models import transformer as _transformer  # noqa: F401
from t2t_torch.models import transformer_encoder as _transformer_encoder  # noqa: F401
from t2t_torch.models import xception as _xception  # noqa: F401
from t2t_torch.models.t2t_model import T2TModel, build_model
from t2t_torch.problems import algorithmic as _algorithmic  # noqa: F401
from t2t_torch.problems.image import cifar as _cifar  # noqa: F401
from t2t_torch.problems.image import image_folder as _image_folder  # noqa: F401
from t2t_torch.problems.image import imagenet as _imagenet  # noqa: F401
from t2t_torch.problems.image import mnist as _mnist  # noqa: F401
from t2t_torch.problems.speech import common_voice as _common_voice  # noqa: F401
from t2t_torch.problems.speech import librispeech as _librispeech  # noqa: F401
from t2t_torch.problems.speech import speech_folder as _speech_folder  # noqa: F401
from t2t_torch.problems.text import lm_datasets as _lm_datasets  # noqa: F401  (imports lm: text2self_files, brown)
from t2t_torch.problems.text import summarize as _summarize  # noqa: F401
from t2t_torch.problems.text import text_class_datasets as _text_class_datasets  # noqa: F401
from t2t_torch.problems.text import translate as _translate  # noqa: F401
from t2t_torch.problems.text import translate_bible as _translate_bible  # noqa: F401
from t2t_torch.registry import (
    list_hparams,
    list_models,
    list_problems,
    model_class,
    problem,
    register_model,
    register_problem,
)


def model(name: str) -> partial[T2TModel]:
    """The constructor of model `name`: `model(name)(model_hparams, spec, modality_hparams=None)` -> `T2TModel`
    (bottom -> body -> top -> loss for the problem `spec` describes)."""
    return partial(build_model, model_class(name), model_name=name)


__all__ = ["list_hparams", "list_models", "list_problems", "model", "problem", "register_model", "register_problem"]
__version__ = "0.1.0"
