"""The HANDI generator's models built from diffusers blocks: VAE, stage-1 MA denoiser, stage-2 video denoiser.

Importing this package imports torch and diffusers; :mod:`hoi_videogen.models.text` loads the MiniLM text encoder.
"""
from hoi_videogen.models.config import GeneratorConfig, MAConfig, VAEConfig, VideoConfig
from hoi_videogen.models.networks import MADenoiser, VideoDenoiser, build_models, build_vae, count_params

__all__ = [
    "GeneratorConfig",
    "MAConfig",
    "MADenoiser",
    "VAEConfig",
    "VideoConfig",
    "VideoDenoiser",
    "build_models",
    "build_vae",
    "count_params",
]
