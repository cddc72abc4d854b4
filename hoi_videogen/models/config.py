"""One validated config object for the HANDI generator's models (built from ``configs/generator/<name>.yaml``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

__all__ = ["GeneratorConfig", "VAEConfig", "MAConfig", "VideoConfig"]


def _ints(owner: str, name: str, value: Any, least: int = 1) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError(f"{owner}.{name}: expected a list of integers, got {value!r}") from None
    if not out or any(v < least for v in out):
        raise ValueError(f"{owner}.{name}: expected a non-empty list of integers >= {least}, got {value!r}")
    return out


def _build(cls, d: Mapping[str, Any] | None):
    d = dict(d or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; expected some of {sorted(known)}")
    return cls(**d)


@dataclass
class VAEConfig:
    """AutoencoderKL: frames R×R×3 -> latents (R/2^(len(channels)-1))²×latent_channels."""

    block_out_channels: tuple[int, ...] = (32, 32, 64, 64)
    layers_per_block: int = 1
    norm_num_groups: int = 16

    def __post_init__(self) -> None:
        self.block_out_channels = _ints("vae", "block_out_channels", self.block_out_channels)
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(f"vae: block_out_channels {self.block_out_channels} must be multiples of "
                             f"norm_num_groups={self.norm_num_groups}")


def _check_prediction_type(stage: str, value: Any) -> None:
    from hoi_videogen.training.losses import PREDICTION_TYPES

    if value not in PREDICTION_TYPES:
        raise ValueError(f"{stage}: prediction_type must be one of {PREDICTION_TYPES}, got {value!r}")


@dataclass
class MAConfig:
    """Stage 1 (motion area): a UNet2DConditionModel denoising the MA mask at mask_size²."""

    mask_size: int = 32
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_heads: int = 4
    norm_num_groups: int = 16
    # what the denoiser outputs: "epsilon" or "v_prediction" (see VideoConfig)
    prediction_type: str = "epsilon"

    def __post_init__(self) -> None:
        _check_prediction_type("ma", self.prediction_type)
        self.block_out_channels = _ints("ma", "block_out_channels", self.block_out_channels)
        if self.mask_size % (2 ** (len(self.block_out_channels) - 1)):
            raise ValueError(f"ma: mask_size {self.mask_size} must be divisible by 2^(levels-1)")


@dataclass
class VideoConfig:
    """Stage 2 (video): a UNetSpatioTemporalConditionModel over the video latents."""

    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_heads: tuple[int, ...] = (2, 4, 4)
    # diffuse each frame's difference from the context latent instead of the frame itself (VideoDenoiser.to_target)
    residual: bool = False
    # what the denoiser outputs: "epsilon" (the noise) or "v_prediction" (v = √ᾱ ε − √(1−ᾱ) x₀)
    prediction_type: str = "epsilon"
    # condition on the stage-1 motion area (HANDI §2.2); false = the "no MA" ablation: the MA input channel is
    # constant, stage 1 is skipped at sampling and nothing is pasted back (every pixel is generated)
    ma_conditioning: bool = True

    def __post_init__(self) -> None:
        for key in ("residual", "ma_conditioning"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"video: {key} must be true or false, got {getattr(self, key)!r}")
        _check_prediction_type("video", self.prediction_type)
        self.block_out_channels = _ints("video", "block_out_channels", self.block_out_channels, least=32)
        self.attention_heads = _ints("video", "attention_heads", self.attention_heads)
        if len(self.attention_heads) != len(self.block_out_channels):
            raise ValueError("video: attention_heads needs one entry per block_out_channels entry")
        if any(c % 32 for c in self.block_out_channels):
            raise ValueError(f"video: block_out_channels must be multiples of 32, got {self.block_out_channels}")


@dataclass
class GeneratorConfig:
    """Sizes of the whole generator. ``resolution`` frames of ``num_frames``; text = MiniLM token states."""

    name: str = "tiny"
    resolution: int = 128
    num_frames: int = 16
    fps: float = 8.0
    latent_channels: int = 4
    text_max_length: int = 16
    text_dim: int = 384  # all-MiniLM-L6-v2 hidden size
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    vae: VAEConfig = field(default_factory=VAEConfig)
    ma: MAConfig = field(default_factory=MAConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    def __post_init__(self) -> None:
        for sub, cls in (("vae", VAEConfig), ("ma", MAConfig), ("video", VideoConfig)):
            value = getattr(self, sub)
            if not isinstance(value, cls):
                setattr(self, sub, _build(cls, value))
        for name in ("resolution", "num_frames", "latent_channels", "text_max_length", "text_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"generator.{name}: expected a positive integer, got {value!r}")
        down = 2 ** (len(self.vae.block_out_channels) - 1)
        if self.resolution % down:
            raise ValueError(f"generator.resolution {self.resolution} must be divisible by {down} (VAE levels)")
        if self.latent_size % (2 ** (len(self.video.block_out_channels) - 1)):
            raise ValueError(f"generator: latent size {self.latent_size} must be divisible by the video UNet's "
                             f"downsampling 2^{len(self.video.block_out_channels) - 1}")
        if self.fps <= 0:
            raise ValueError(f"generator.fps must be > 0, got {self.fps}")

    @property
    def latent_size(self) -> int:
        return self.resolution // 2 ** (len(self.vae.block_out_channels) - 1)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "GeneratorConfig":
        return _build(cls, d)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for sub in ("vae", "ma", "video"):
            out[sub] = {k: list(v) if isinstance(v, tuple) else v for k, v in out[sub].items()}
        return out
