"""The HANDI generator's networks, built from diffusers blocks from a :class:`GeneratorConfig` (no download).

* :func:`build_vae` — a small ``AutoencoderKL`` (frames R×R×3 in [-1, 1] -> latents (R/8)²×4).
* :class:`MADenoiser` — stage 1 (HANDI §2.1): a ``UNet2DConditionModel`` denoising the motion-area mask (mask_size²,
  values in [-1, 1]) given the context latent and a prior mask as extra input channels; text by cross-attention over
  the MiniLM token states and the pooled sentence vector as a class embedding.
* :class:`VideoDenoiser` — stage 2 (HANDI §2.2): a ``UNetSpatioTemporalConditionModel`` over the video latents
  (B×F×C×h×w) with the context latent repeated over time and the MA mask (at latent size) concatenated as channels;
  text by cross-attention, and the pooled text vector through the added-time embedding (its sinusoidal projection
  is replaced by the identity, so the pooled vector feeds ``add_embedding`` directly).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel, UNetSpatioTemporalConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from hoi_videogen.models.config import GeneratorConfig

__all__ = ["build_vae", "MADenoiser", "VideoDenoiser", "build_models", "count_params"]


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_vae(cfg: GeneratorConfig) -> AutoencoderKL:
    n = len(cfg.vae.block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg.vae.block_out_channels),
        layers_per_block=cfg.vae.layers_per_block,
        latent_channels=cfg.latent_channels,
        norm_num_groups=cfg.vae.norm_num_groups,
        sample_size=cfg.resolution,
        scaling_factor=1.0,
        shift_factor=0.0,
    )


class _Predicts:
    """``prediction_type``: what ``forward`` outputs, "epsilon" or "v_prediction" (folders saved before the option
    existed: epsilon)."""

    @property
    def prediction_type(self) -> str:
        return self.config.get("prediction_type", "epsilon")


class MADenoiser(_Predicts, ModelMixin, ConfigMixin):
    """Stage-1 denoiser: ``forward(noisy_mask B×1×M×M, t, context_latent B×C×h×w, tokens, pooled)`` -> ε (or v).

    ``prior`` (a 1×1×M×M buffer in [0, 1], saved with the weights) is the prior mask given as an input channel; the
    trainer sets it to the mean motion area of the training set.
    """

    @register_to_config
    def __init__(
        self,
        mask_size: int = 32,
        latent_channels: int = 4,
        text_dim: int = 384,
        block_out_channels: tuple[int, ...] = (32, 64, 64),
        layers_per_block: int = 1,
        attention_heads: int = 4,
        norm_num_groups: int = 16,
        prediction_type: str = "epsilon",
    ) -> None:
        super().__init__()
        n = len(block_out_channels)
        self.unet = UNet2DConditionModel(
            sample_size=mask_size,
            in_channels=1 + latent_channels + 1,
            out_channels=1,
            down_block_types=("CrossAttnDownBlock2D",) * n,
            up_block_types=("CrossAttnUpBlock2D",) * n,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            cross_attention_dim=text_dim,
            attention_head_dim=attention_heads,
            norm_num_groups=norm_num_groups,
            class_embed_type="projection",
            projection_class_embeddings_input_dim=text_dim,
        )
        self.register_buffer("prior", torch.zeros(1, 1, mask_size, mask_size))

    def forward(self, noisy_mask, timestep, context_latent, tokens, pooled):
        size = self.config.mask_size
        ctx = F.interpolate(context_latent, size=(size, size), mode="bilinear", align_corners=False)
        prior = (self.prior * 2.0 - 1.0).expand(noisy_mask.shape[0], -1, -1, -1).to(noisy_mask.dtype)
        x = torch.cat([noisy_mask, ctx, prior], dim=1)
        return self.unet(x, timestep, encoder_hidden_states=tokens, class_labels=pooled).sample


class VideoDenoiser(_Predicts, ModelMixin, ConfigMixin):
    """Stage-2 denoiser: ``forward(noisy B×F×C×h×w, t, context_latent B×C×h×w, ma B×1×h×w, tokens, pooled)`` -> ε,
    or v with ``prediction_type="v_prediction"``; with ``ma_conditioning=False`` the ``ma`` input is ignored."""

    @register_to_config
    def __init__(
        self,
        num_frames: int = 16,
        latent_channels: int = 4,
        latent_size: int = 16,
        text_dim: int = 384,
        block_out_channels: tuple[int, ...] = (32, 64, 64),
        layers_per_block: int = 1,
        attention_heads: tuple[int, ...] = (2, 4, 4),
        residual: bool = False,
        prediction_type: str = "epsilon",
        ma_conditioning: bool = True,
    ) -> None:
        super().__init__()
        n = len(block_out_channels)
        self.unet = UNetSpatioTemporalConditionModel(
            sample_size=latent_size,
            in_channels=2 * latent_channels + 1,
            out_channels=latent_channels,
            down_block_types=("CrossAttnDownBlockSpatioTemporal",) * (n - 1) + ("DownBlockSpatioTemporal",),
            up_block_types=("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * (n - 1),
            block_out_channels=tuple(block_out_channels),
            addition_time_embed_dim=text_dim,  # unused: add_time_proj is replaced below
            projection_class_embeddings_input_dim=text_dim,
            layers_per_block=layers_per_block,
            cross_attention_dim=text_dim,
            num_attention_heads=tuple(attention_heads),
            num_frames=num_frames,
        )
        # the pooled text vector goes straight into add_embedding (the sinusoidal projection has no weights)
        self.unet.add_time_proj = nn.Identity()

    def to_target(self, frames: torch.Tensor, context_latent: torch.Tensor) -> torch.Tensor:
        """The clean sample the diffusion runs on: the frame latents B×F×C×h×w, or with ``residual`` their
        difference from the context latent B×C×h×w (zero wherever nothing moves; the model then only has to
        produce the hand and what it moves, and pure noise decodes to the static scene)."""
        return frames - context_latent.unsqueeze(1) if self.config.get("residual", False) else frames

    def from_target(self, sample: torch.Tensor, context_latent: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_target`: a denoised sample -> frame latents."""
        return sample + context_latent.unsqueeze(1) if self.config.get("residual", False) else sample

    @property
    def ma_conditioning(self) -> bool:
        """False for the "no MA" ablation: ``forward`` ignores ``ma`` (the channel is all ones, a full-frame area)."""
        return bool(self.config.get("ma_conditioning", True))

    def forward(self, noisy, timestep, context_latent, ma, tokens, pooled):
        f = noisy.shape[1]
        if not self.ma_conditioning:
            ma = torch.ones_like(ma)
        ctx = context_latent.unsqueeze(1).expand(-1, f, -1, -1, -1)
        size = noisy.shape[-2:]
        if ma.shape[-2:] != size:
            ma = F.interpolate(ma, size=size, mode="area")
        ma = (ma * 2.0 - 1.0).unsqueeze(1).expand(-1, f, -1, -1, -1)
        x = torch.cat([noisy, ctx.to(noisy.dtype), ma.to(noisy.dtype)], dim=2)
        return self.unet(x, timestep, encoder_hidden_states=tokens, added_time_ids=pooled).sample


def build_models(cfg: GeneratorConfig) -> tuple[AutoencoderKL, MADenoiser, VideoDenoiser]:
    """Fresh (randomly initialized) VAE, stage-1 and stage-2 denoisers for ``cfg``."""
    vae = build_vae(cfg)
    ma = MADenoiser(
        mask_size=cfg.ma.mask_size,
        latent_channels=cfg.latent_channels,
        text_dim=cfg.text_dim,
        block_out_channels=tuple(cfg.ma.block_out_channels),
        layers_per_block=cfg.ma.layers_per_block,
        attention_heads=cfg.ma.attention_heads,
        norm_num_groups=cfg.ma.norm_num_groups,
        prediction_type=cfg.ma.prediction_type,
    )
    video = VideoDenoiser(
        num_frames=cfg.num_frames,
        latent_channels=cfg.latent_channels,
        latent_size=cfg.latent_size,
        text_dim=cfg.text_dim,
        block_out_channels=tuple(cfg.video.block_out_channels),
        layers_per_block=cfg.video.layers_per_block,
        attention_heads=tuple(cfg.video.attention_heads),
        residual=cfg.video.residual,
        prediction_type=cfg.video.prediction_type,
        ma_conditioning=cfg.video.ma_conditioning,
    )
    return vae, ma, video
