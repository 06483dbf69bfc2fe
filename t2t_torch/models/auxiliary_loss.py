"""Auxiliary losses on an encoder's output, declared by a body (`Body.auxiliary_losses(config)`: name -> share of the
loss) and mixed by the generic wrapper (`T2TModel`): loss = (1 - sum of shares) x the decoder's loss + sum of
share x auxiliary loss. A new one is a module with `loss(memory, mask, targets)`, built as `cls(hidden_size, spec)`,
and a line in `AUXILIARY_LOSSES`; the wrapper never names one.
"""

from __future__ import annotations

import torch.nn as nn

from t2t_torch.models.ctc import CtcHead

AUXILIARY_LOSSES: dict[str, type[nn.Module]] = {
    "ctc": CtcHead,  # joint CTC-attention training (models/ctc.py)
}
