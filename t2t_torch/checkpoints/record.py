"""What a checkpoint holds, parsed once: `CheckpointRecord`, the one reader of a checkpoint's contents that resuming,
decoding, averaging, warm starting, evaluating and translate-all use.

    record = CheckpointRecord.load("outputs/RUN/checkpoints/last.ckpt")             # metadata only (memory-mapped)
    record = CheckpointRecord.load("outputs/RUN/checkpoints/last.ckpt", weights=True)  # and its state_dict
    record.model_name, record.problem_name, record.spec, record.batching, record.vocab_hashes, record.run_identity
    record.mismatch(other)   # 'another model hparams (hidden_size: 16 vs 32)', or None: the same network and data

A checkpoint is a single file (`torch.save`, loaded with `weights_only=True`: `atomic_io.py`) or a sharded directory
(Lightning's FSDP `state_dict_type="sharded"`: `sharded.py`); both give the same record, and the weights of a
directory are assembled into full tensors in this process when asked.

T2TModule saves its constructor arguments as the checkpoint's `hyper_parameters` (model name and hparams, optim and
modality hparams, problem name, problem spec, the composed run config, vocabulary hashes); the stored vocabularies
sit beside them (`models/checkpoint_vocabulary.py`). A field that an older t2t-torch did not record is None (or
empty), and reading what needs it is one line: a checkpoint without a problem spec says it was written by an older
t2t-torch (`spec`), one without a model name that it is not a t2t-train checkpoint (`require_model`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from t2t_torch import registry
from t2t_torch.checkpoints.atomic_io import load_checkpoint_file
from t2t_torch.checkpoints.resume_point import RESUMABLE_KEYS
from t2t_torch.checkpoints.run_identity import first_differences, identity
from t2t_torch.checkpoints.sharded import (
    holds_optimizer_state,
    is_sharded_checkpoint,
    read_sharded_meta,
    read_sharded_state_dict,
)
from t2t_torch.datamodules.batching import BatchingConfig
from t2t_torch.errors import T2TUserError
from t2t_torch.hparams import dataclass_from_mapping
from t2t_torch.models.checkpoint_vocabulary import VOCABULARIES_KEY, stored_encoders
from t2t_torch.models.t2t_module import T2TModule, identity_mismatch, spec_from_hparams
from t2t_torch.problems.problem import Problem
from t2t_torch.spec import ProblemSpec
from t2t_torch.text import TextEncoder


def _not_a_setting(key: str) -> bool:
    """The keys of a run config's problem node that are no knob of the problem: its name and Hydra's own
    (`_target_`, which builds its DataModule: problems/settings.py)."""
    return key == "name" or (key.startswith("_") and key.endswith("_"))


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class CheckpointRecord:
    """A checkpoint's contents as typed fields (see the module docstring)."""

    path: Path | None  # None for a record of a module's hparams (`from_hparams`)
    hyper_parameters: Mapping[str, Any] = field(repr=False)  # as saved: what the module is rebuilt from
    global_step: int | None = None
    epoch: int | None = None
    lightning_version: str | None = None
    model_name: str | None = None
    model_hparams: dict[str, Any] = field(default_factory=dict)
    optim_hparams: dict[str, Any] = field(default_factory=dict)
    modality_hparams: dict[str, Any] = field(default_factory=dict)
    problem_name: str = ""
    problem_settings: dict[str, Any] = field(default_factory=dict)  # the run config's problem knobs (no name)
    problem_spec: Mapping[str, Any] | None = field(default=None, repr=False)  # as recorded (`spec` reads it)
    run_config: dict[str, Any] | None = field(default=None, repr=False)  # None: the checkpoint stores none
    vocab_hashes: dict[str, str] | None = None  # feature -> sha256; None: recorded by no t2t-torch of the time
    vocabularies: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)  # sha256 -> {file, text}
    best_model_path: Path | None = None  # the best checkpoint its ModelCheckpoint state records
    resumable: bool = False  # it holds a whole training state (optimizer and loop states)
    sharded: bool = False  # a sharded directory, not a single file
    state_dict: dict[str, Any] | None = field(default=None, repr=False, compare=False)  # only when asked

    @classmethod
    def load(cls, path: str | Path, weights: bool = False) -> CheckpointRecord:
        """The record of the checkpoint file or sharded directory `path` (one-line errors for a missing, foreign or
        unreadable one); its `state_dict` only with `weights` (a file is memory-mapped either way)."""
        path = Path(path)
        if is_sharded_checkpoint(path):
            meta = read_sharded_meta(path)
            resumable = all(key in meta for key in ("global_step", "loops")) and holds_optimizer_state(path)
            return cls.from_checkpoint(meta, path, state_dict=read_sharded_state_dict(path) if weights else None,
                                       resumable=resumable, sharded=True)
        checkpoint = load_checkpoint_file(path, mmap=True)
        state_dict = checkpoint.get("state_dict") if weights else None
        return cls.from_checkpoint(checkpoint, path, state_dict=state_dict,
                                   resumable=all(key in checkpoint for key in RESUMABLE_KEYS))

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any], path: Path | None, state_dict: Any = None,
                        resumable: bool = False, sharded: bool = False) -> CheckpointRecord:
        """The record of a loaded checkpoint dictionary (its weights are `state_dict`, when given)."""
        hp = _mapping(checkpoint.get("hyper_parameters"))
        run_config = hp.get("run_config")
        node = _mapping((run_config or {}).get("problem") if isinstance(run_config, Mapping) else None)
        problem_name = hp.get("problem_name") or node.get("name", "")
        settings = {k: v for k, v in node.items() if not _not_a_setting(k)}
        step, epoch = checkpoint.get("global_step"), checkpoint.get("epoch")
        hashes = hp.get("vocab_hashes")
        return cls(
            path=path, hyper_parameters=hp,
            global_step=int(step) if step is not None else None, epoch=int(epoch) if epoch is not None else None,
            lightning_version=checkpoint.get("pytorch-lightning_version"),
            model_name=hp.get("model_name"), model_hparams=_mapping(hp.get("model_hparams")),
            optim_hparams=_mapping(hp.get("optim_hparams")), modality_hparams=_mapping(hp.get("modality_hparams")),
            problem_name=str(problem_name or ""), problem_settings=settings,
            problem_spec=hp.get("problem_spec"),
            run_config=dict(run_config) if isinstance(run_config, Mapping) and run_config else None,
            vocab_hashes=dict(hashes) if isinstance(hashes, Mapping) else None,
            vocabularies=_mapping(checkpoint.get(VOCABULARIES_KEY)),
            best_model_path=_best_model_path(checkpoint.get("callbacks")),
            resumable=resumable, sharded=sharded,
            state_dict=dict(state_dict) if isinstance(state_dict, Mapping) else None,
        )

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any], path: Path | None = None) -> CheckpointRecord:
        """The record a module with these `hyper_parameters` would save (to compare a built module with a
        checkpoint, or read a problem from saved hparams)."""
        return cls.from_checkpoint({"hyper_parameters": hparams}, path)

    @property
    def where(self) -> str:
        return f"checkpoint '{self.path}'" if self.path is not None else "the checkpoint"

    @cached_property
    def spec(self) -> ProblemSpec:
        """The problem spec it was built with; one line for a checkpoint of an older t2t-torch (no spec)."""
        return spec_from_hparams({"problem_spec": self.problem_spec}, self.where)

    @cached_property
    def batching(self) -> BatchingConfig:
        """The run's batching settings (the defaults when it stores no run config)."""
        return dataclass_from_mapping(BatchingConfig, ((self.run_config or {}).get("hparams") or {}).get("batching"),
                                      "batching")

    @cached_property
    def run_identity(self) -> dict[str, Any] | None:
        """The settings that make its run (`run_identity.identity`); None when it stores no run config."""
        return identity(self.run_config) if self.run_config is not None else None

    @property
    def data_dir(self) -> str | None:
        return (self.run_config or {}).get("data_dir")

    @property
    def usr_dir(self) -> str | None:
        return (self.run_config or {}).get("usr_dir")

    def require_model(self) -> None:
        """One line when it is no t2t-train checkpoint (it names no model)."""
        if "model_name" not in self.hyper_parameters:
            raise T2TUserError(f"{self.where} holds no t2t-torch hyper_parameters: pass a .ckpt of a t2t-train run")

    def mismatch(self, other: CheckpointRecord, skip: tuple[str, ...] = ()) -> str | None:
        """'another <what> (<this> vs <other>)' for the first difference in model, model/modality hparams, problem
        (name, settings, spec) or vocabulary (keys in `skip` aside, e.g. 'vocab_hashes'), else None."""
        return identity_mismatch(self._identity_hparams(), other._identity_hparams(), skip)

    def _identity_hparams(self) -> dict[str, Any]:
        """What `identity_mismatch` compares: the saved hparams, with the problem's settings as read here."""
        return {**self.hyper_parameters, "run_config": {"problem": self.problem_settings}}

    def run_differences(self, config: Mapping[str, Any] | None) -> list[str] | None:
        """The first run-identity settings in which this checkpoint's run differs from the run `config` ('seed: 1 vs
        2'; [] for one run), or None when either is unknown (a checkpoint that stores no run config)."""
        if self.run_config is None or not config:
            return None
        return first_differences(self.run_config, config)

    def problem(self) -> Problem:
        """The problem it was trained on, with the settings of its run (importing the run's usr_dir)."""
        if self.usr_dir and self.problem_name not in registry.list_problems(include_reversed=True):
            from t2t_torch.usr_dir import import_usr_dir

            import_usr_dir(self.usr_dir)
        if not self.problem_name:
            raise T2TUserError("the checkpoint does not name its problem: pass a .ckpt written by t2t-train")
        return registry.problem(self.problem_name, **self.problem_settings)

    def encoders(self) -> dict[str, TextEncoder] | None:
        """The encoder of each feature (as served) from the vocabularies it stores, each checked against the
        recorded sha256; None when it stores none."""
        return stored_encoders(self.vocabularies, self.vocab_hashes, self.path)

    def weights(self) -> dict[str, Any]:
        """Its state_dict; one line when it holds none (a record loaded without `weights` is a caller's bug)."""
        if self.state_dict is None:
            raise T2TUserError(f"{self.where} holds no state_dict: pass a checkpoint written by t2t-train")
        return self.state_dict

    def model_weights(self) -> dict[str, Any]:
        """The weights of the network (`T2TModel`), without the LightningModule's `model.` prefix."""
        return {k[len("model."):]: v for k, v in (self.state_dict or {}).items() if k.startswith("model.")}

    def module(self) -> T2TModule:
        """The LightningModule it was trained as, with its weights (loaded as saved, no key surgery)."""
        init = T2TModule.__init__.__code__
        known = set(init.co_varnames[1:init.co_argcount])
        module = T2TModule(**{"optim_hparams": {}, **{k: v for k, v in self.hyper_parameters.items() if k in known}})
        try:  # metric states a checkpoint may carry are not the model's: only model.* must match exactly
            result = module.load_state_dict(self.weights(), strict=False)
            problems = [*result.missing_keys, *(k for k in result.unexpected_keys if k.startswith("model."))]
            if problems:
                raise RuntimeError(f"keys that do not match: {', '.join(problems[:5])}")
        except RuntimeError as error:
            detail = " ".join(str(error).split())[:300]
            raise T2TUserError(f"{self.where} does not fit its own model ({detail}): is it corrupt?") from None
        return module.eval()

    def decoding_checkpoint(self, state_dict: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        """A checkpoint for decoding and evaluation with `state_dict` and this one's hparams, step and stored
        vocabularies (no optimizer state: not for resuming), as a single file holds them."""
        entries = {"hyper_parameters": dict(self.hyper_parameters) if self.hyper_parameters else None,
                   "global_step": self.global_step, "epoch": self.epoch,
                   "pytorch-lightning_version": self.lightning_version, VOCABULARIES_KEY: self.vocabularies or None}
        return {**{k: v for k, v in entries.items() if v is not None}, "state_dict": dict(state_dict), **extra}


def _best_model_path(callbacks: Any) -> Path | None:
    """The best_model_path the ModelCheckpoint state (of the `best-<step>` files) records, if any."""
    for key, state in _mapping(callbacks).items():
        if "ModelCheckpoint" in str(key) and isinstance(state, Mapping) \
                and "best-" in str(state.get("best_model_path", "")):
            return Path(state["best_model_path"])
    return None
