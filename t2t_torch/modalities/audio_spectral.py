"""The audio-spectral modality (T2T's `SpeechRecognitionModality`): filterbank frames (T, bins) in.

Bottom: two 3x3 convolutions of stride 2 over (time, frequency), each with a ReLU — 4x fewer frames, as T2T's
speech bottom — then the flattened channels x frequencies projected to hidden_size: (B, T/4, D). A frame that is all
`pad_value` is padding; the mask follows the subsampling. As an input only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2t_torch.modalities.base import Modality
from t2t_torch.spec import FeatureSpec


@dataclass
class AudioSpectralConfig:
    """hparams.modality.audio_spectral."""

    channels: int = 32  # filters of each convolution


class AudioSpectralModality(Modality):
    name = "audio_spectral"
    config_class = AudioSpectralConfig
    can_be_target = False
    length_unit = "frames"
    bounds_output_length = True  # a transcript has at most one symbol per encoder frame (as CTC assumes)

    def __init__(self, feature: FeatureSpec, hidden_size: int, config: AudioSpectralConfig,
                 body_input: str = "sequence") -> None:
        super().__init__(feature, hidden_size, config, body_input)
        if not feature.is_variable_length or len(feature.inner_shape) != 1:
            raise ValueError(f"the audio_spectral modality takes (T, bins) frames, not shape {feature.shape}")
        bins = feature.inner_shape[0]
        self.conv1 = nn.Conv2d(1, config.channels, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(config.channels, config.channels, 3, stride=2, padding=1)
        self.projection = nn.Linear(config.channels * ((bins + 3) // 4), hidden_size)

    def bottom(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv2(F.relu(self.conv1(x.float().unsqueeze(1)))))  # (B, C, T/4, bins/4)
        batch, channels, frames, bins = h.shape
        return self.projection(h.permute(0, 2, 1, 3).reshape(batch, frames, channels * bins))  # (B, T/4, D)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        real = (x != self.feature.pad_value).any(-1).float().unsqueeze(1)  # (B, 1, T)
        for _ in range(2):  # as the convolutions: kernel 3, stride 2, padding 1
            real = F.max_pool1d(real, 3, stride=2, padding=1)
        return real.squeeze(1) > 0  # (B, T/4)
