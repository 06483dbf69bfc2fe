"""Problems: what a dataset is, how it is prepared, and its registered instances (ports T2T's `data_generators/`).

The map (serving the prepared examples to Lightning is `t2t_torch/datamodules/`, one layer below):

- `problem.py`: the base: `Problem`, `CachedProblem` (the example cache, EOS, `_rev`), `TokenSequenceProblem`.
- `settings.py`: each problem's typed Hydra node (`problem/<name>`, whose `_target_` builds its DataModule).
- `algorithmic.py`: T2T's generated algorithmic problems (identity, reverse, shift, addition, multiplication).
- `sources/`: where data comes from: downloads, the Hugging Face Hub, local text and image files, the
  `data_files={root: ...}` knob, the content identity of files, the BBC News folder.
- `text/`: `text2text.py` (the text family's base and `text2text_files`), `translate.py`, `translate_bible.py`,
  `lm.py`, `lm_datasets.py`, `text_class.py`, `text_class_datasets.py`, `summarize.py`.
- `image/`: `image2class.py` (the image family's base), `augment.py`, `mnist.py`, `cifar.py`, `imagenet.py`,
  `image_folder.py`.
- `speech/`: `speech_problem.py` (the speech family's base), `audio_features.py`, `speech_folder.py`,
  `librispeech.py`, `common_voice.py`.

Adding a dataset of an existing family is one file in that family's folder (a subclass with `@register_problem`), or
no file at all: a YAML in `conf/problem/` that fills in a template's `data_files`.

Modules that moved when the folder was split by family keep working under their old names for a user's `usr_dir`,
with a `FutureWarning` naming the new one (`_MOVED` below).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# Old module (t2t_torch.problems.<old>) -> where it lives now.
_MOVED = {
    "audio_features": "speech.audio_features", "bbc_news": "sources.bbc_news", "cifar": "image.cifar",
    "common_voice": "speech.common_voice", "downloads": "sources.downloads", "file_identity": "sources.file_identity",
    "hf_source": "sources.hf_source", "image": "image.image2class", "image_augment": "image.augment",
    "image_files": "sources.image_files", "image_folder": "image.image_folder", "imagenet": "image.imagenet",
    "librispeech": "speech.librispeech", "lm": "text.lm", "lm_sources": "text.lm_datasets",
    "speech_folder": "speech.speech_folder", "summarize": "text.summarize", "text_class": "text.text_class",
    "text_class_sources": "text.text_class_datasets", "text_files": "sources.text_files",
    "text_problems": "text.text2text", "translate": "text.translate", "translate_bible": "text.translate_bible",
}
# `image` and `speech` are packages now: their old single-module names resolve to the packages themselves, so only
# names that are not a package today are redirected.
_REDIRECTED = {old: new for old, new in _MOVED.items() if old not in ("image", "speech")}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `t2t_torch.problems.<old>` as the module it moved to: the placeholder module importlib creates is
    replaced in `sys.modules` by the moved module itself (the same module object, so classes match)."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001, ANN201 (the importlib protocol)
        prefix, _, old = fullname.rpartition(".")
        if prefix != __name__ or old not in _REDIRECTED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):  # noqa: ANN001, ANN201
        return None  # importlib's default placeholder, replaced below

    def exec_module(self, module):  # noqa: ANN001, ANN201
        new = f"{__name__}.{_REDIRECTED[module.__name__.rpartition('.')[2]]}"
        warnings.warn(f"{module.__name__} moved to {new}: import it from there", FutureWarning, stacklevel=2)
        sys.modules[module.__name__] = importlib.import_module(new)


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
