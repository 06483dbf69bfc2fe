"""Optimizers and learning-rate schedules (ports T2T's `utils/optimize.py`, `utils/learning_rate.py`,
`utils/adafactor.py` and `utils/multistep_optimizer.py`).

Typical use in a LightningModule:

    cfg = OptimConfig.from_mapping(hparams.optim)
    optimizer = build_optimizer(self.named_parameters(), cfg)          # lr=1.0
    scheduler = build_lr_scheduler(optimizer, cfg, hidden_size, train_steps=trainer.max_steps)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

with `Trainer(accumulate_grad_batches=accumulate_grad_batches(cfg), gradient_clip_val=gradient_clip_val(cfg))`.
"""

from t2t_torch.optim.adafactor import Adafactor
from t2t_torch.optim.config import OptimConfig, OptimConfigError
from t2t_torch.optim.optimizers import (
    OPTIMIZER_NAMES,
    accumulate_grad_batches,
    build_optimizer,
    canonical_optimizer_name,
    gradient_clip_val,
)
from t2t_torch.optim.schedule import (
    LEGACY_DECAY_SCHEMES,
    SCHEDULE_FACTORS,
    ScheduleError,
    build_lr_lambda,
    build_lr_scheduler,
    parse_schedule,
)

__all__ = [
    "LEGACY_DECAY_SCHEMES",
    "OPTIMIZER_NAMES",
    "SCHEDULE_FACTORS",
    "Adafactor",
    "OptimConfig",
    "OptimConfigError",
    "ScheduleError",
    "accumulate_grad_batches",
    "build_lr_lambda",
    "build_lr_scheduler",
    "build_optimizer",
    "canonical_optimizer_name",
    "gradient_clip_val",
    "parse_schedule",
]
