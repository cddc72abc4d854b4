"""The ``diffusers-i2v`` generator backend: any local diffusers image-to-video folder, HANDI-wrapped.

``build_i2v_generator(path)`` loads a :class:`diffusers.StableVideoDiffusionPipeline` folder (``model_index.json`` +
its components; e.g. a downloaded Stable Video Diffusion checkpoint, copied to this machine) and wraps it with
HANDI's inference recipe:

1. a motion-area (MA) mask for the frame + instruction: from the ``tiny`` generator's stage 1 when it is available
   (``mask="tiny"``; its GeneratedVideo's ``ma_mask``), else a prior mask (``mask="prior"``: the mean MA of a
   HOIClip dataset, or a fixed ellipse over the lower middle of the image when no dataset is given);
2. the i2v model animates the frame (SVD conditions on the image only: the instruction reaches the video through the
   MA mask alone);
3. the background outside the (binary) MA is pasted back from the context frame, bit-exact.

Nothing is downloaded: the folder must exist locally (``local_files_only``). :func:`save_tiny_random_svd` writes a
tiny random-config pipeline of the same classes (for tests and smoke runs).

LoRA fine-tuning with the Hand Refinement Loss: :mod:`hoi_videogen.training.i2v_lora` (``hoi-finetune-i2v``) trains
adapters on HOIClips; ``lora=<folder>`` loads them on top of the base model here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from hoi2robot.contracts import CameraModel, GeneratedVideo

__all__ = ["I2VConfig", "I2VGenerator", "build_i2v_generator", "paste_background", "prior_mask",
           "save_tiny_random_svd"]  # fmt: skip

log = logging.getLogger(__name__)

NAME = "diffusers-i2v"
MASK_SOURCES = ("auto", "tiny", "prior")


def prior_mask(height: int, width: int, dataset: str | Path | None = None, task: str | None = None,
               threshold: float = 0.25) -> np.ndarray:  # fmt: skip
    """An H×W float32 {0, 1} prior motion area.

    With ``dataset`` (a HOIClip root): pixels inside the MA of at least ``threshold`` of its clips (of ``task`` when
    given), resized to H×W. Without: an ellipse centred at (0.5 W, 0.6 H) with half-axes (0.35 W, 0.35 H).
    """
    if dataset is not None:
        from hoi_videogen.data import HOIClipDataset

        ds = HOIClipDataset(dataset)
        clips = [ds.get(r["id"]) for r in ds.records if task is None or r["task"] == task]
        if not clips:
            raise ValueError(f"prior_mask: no clips{' of task ' + task if task else ''} in {dataset}")
        mean = np.mean([c.ma_mask for c in clips], axis=0).astype(np.float32)
        mean = cv2.resize(mean, (width, height), interpolation=cv2.INTER_LINEAR)
        return (mean >= threshold).astype(np.float32)
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (round(0.5 * width), round(0.6 * height)), (round(0.35 * width), round(0.35 * height)),
                0, 0, 360, 1, -1)  # fmt: skip
    return mask.astype(np.float32)


def paste_background(frames: np.ndarray, context: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep ``frames`` (T×H×W×3 uint8) inside ``mask`` (H×W or T×H×W, >= 0.5 = inside) and ``context`` (H×W×3)
    outside: the background is the context frame, bit-exact."""
    m = np.asarray(mask) >= 0.5
    m = np.broadcast_to(m if m.ndim == 3 else m[None], frames.shape[:3])[..., None]
    return np.where(m, frames, context[None]).astype(np.uint8)


@dataclass
class I2VConfig:
    """Settings of :class:`I2VGenerator` (keyword arguments of ``build_generator({"name": "diffusers-i2v", ...})``).

    Attributes:
        path: local diffusers folder of a StableVideoDiffusionPipeline.
        num_frames: frames per video (None = the UNet's ``num_frames``).
        num_inference_steps: denoising steps.
        height, width: generation size (None = the input frame's size; SVD needs multiples of 8 · VAE scale).
        fps: frame rate of the output video; ``conditioning_fps`` is SVD's fps micro-condition.
        motion_bucket_id, noise_aug_strength, min_guidance_scale, max_guidance_scale: SVD's conditioning knobs.
        mask: MA source, one of :data:`MASK_SOURCES` (``auto`` = tiny if it loads, else prior).
        mask_dataset: HOIClip root for the prior mask (None = the fixed ellipse).
        dilate_px: grow the MA by this many pixels before the paste.
        lora: folder of a LoRA adapter written by ``hoi-finetune-i2v`` (``<out>/lora``), loaded onto the UNet.
        device: torch device.
    """

    path: str
    num_frames: int | None = None
    num_inference_steps: int = 25
    height: int | None = None
    width: int | None = None
    fps: float = 8.0
    conditioning_fps: int = 7
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 3.0
    mask: str = "auto"
    mask_dataset: str | None = None
    dilate_px: int = 2
    lora: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.mask not in MASK_SOURCES:
            raise ValueError(f"I2VConfig.mask must be one of {MASK_SOURCES}, got {self.mask!r}")
        if self.num_inference_steps < 1:
            raise ValueError(f"I2VConfig.num_inference_steps must be >= 1, got {self.num_inference_steps}")
        if not (Path(self.path) / "model_index.json").is_file():
            raise FileNotFoundError(
                f"diffusers-i2v: {self.path} is not a local diffusers pipeline folder (no model_index.json). Copy an "
                "image-to-video checkpoint (e.g. Stable Video Diffusion, saved with save_pretrained) there; nothing is "
                "downloaded at run time."
            )


class I2VGenerator:
    """A StableVideoDiffusionPipeline with HANDI's MA mask and background paste (see the module docstring)."""

    name = NAME

    def __init__(self, config: I2VConfig, mask_fn: Callable[[np.ndarray, str, int], np.ndarray] | None = None) -> None:
        import torch
        from diffusers import StableVideoDiffusionPipeline

        self.config = config
        self.pipe = StableVideoDiffusionPipeline.from_pretrained(config.path, local_files_only=True)
        if config.lora:
            from hoi_videogen.training.i2v_lora import load_lora

            load_lora(self.pipe.unet, config.lora)
        self.pipe.to(config.device)
        self.pipe.set_progress_bar_config(disable=True)
        self._torch = torch
        self._mask_fn = mask_fn
        self._tiny: Any = None
        self.mask_source = config.mask
        if mask_fn is None and config.mask in ("auto", "tiny"):
            try:
                from hoi_videogen.generators import build_generator

                self._tiny = build_generator({"name": "tiny"})
                self.mask_source = "tiny"
            except Exception as exc:  # the tiny model is optional here
                if config.mask == "tiny":
                    raise RuntimeError(f"diffusers-i2v: mask='tiny' but the tiny generator does not load ({exc})") from exc
                log.info("diffusers-i2v: tiny generator unavailable (%s); using the prior mask", exc)
                self.mask_source = "prior"
        elif mask_fn is not None:
            self.mask_source = "custom"

    def motion_area(self, image: np.ndarray, instruction: str, seed: int = 0,
                    mask: np.ndarray | None = None) -> np.ndarray:
        """H×W float32 {0, 1} motion area for ``image`` (dilated by ``dilate_px``); ``mask``: use this one (any size,
        values in [0, 1]) instead of the configured source."""
        H, W = image.shape[:2]
        if mask is not None:
            m = np.asarray(mask, np.float32)
            if m.ndim != 2:
                raise ValueError(f"diffusers-i2v: ma_mask must be a 2-D mask, got shape {m.shape}")
        elif self._mask_fn is not None:
            m = np.asarray(self._mask_fn(image, instruction, seed), np.float32)
        elif self._tiny is not None:
            m = self._tiny.generate(image, instruction, seed=seed).ma_mask
            m = m.max(0) if m.ndim == 3 else m
        else:
            m = prior_mask(H, W, self.config.mask_dataset)
        if m.shape != (H, W):
            m = cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR)
        m = (m >= 0.5).astype(np.uint8)
        if self.config.dilate_px > 0:
            k = 2 * self.config.dilate_px + 1
            m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        return m.astype(np.float32)

    def generate(
        self,
        image: np.ndarray,
        instruction: str,
        *,
        seed: int = 0,
        camera: CameraModel | None = None,
        progress: Callable[[float], None] | None = None,
        ma_mask: np.ndarray | None = None,
    ) -> GeneratedVideo:
        """``ma_mask``: a motion area to use instead of the configured source (``hoi-eval-generator gt_ma_row``)."""
        from PIL import Image

        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"diffusers-i2v: expected an H×W×3 uint8 RGB image, got {got}")
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError("diffusers-i2v: the instruction must be a non-empty string")
        cfg = self.config
        H, W = image.shape[:2]
        h, w = cfg.height or H, cfg.width or W
        mask = self.motion_area(image, instruction, seed, ma_mask)
        steps = cfg.num_inference_steps

        def on_step(pipe: Any, i: int, t: Any, kwargs: dict) -> dict:
            if progress is not None:
                progress((i + 1) / steps)
            return kwargs

        gen = self._torch.Generator(device="cpu").manual_seed(int(seed))
        out = self.pipe(
            image=Image.fromarray(image),
            height=h,
            width=w,
            num_frames=cfg.num_frames or self.pipe.unet.config.num_frames,
            num_inference_steps=steps,
            min_guidance_scale=cfg.min_guidance_scale,
            max_guidance_scale=cfg.max_guidance_scale,
            fps=cfg.conditioning_fps,
            motion_bucket_id=cfg.motion_bucket_id,
            noise_aug_strength=cfg.noise_aug_strength,
            generator=gen,
            output_type="np",
            callback_on_step_end=on_step,
        ).frames[0]
        frames = np.clip(np.round(np.asarray(out) * 255.0), 0, 255).astype(np.uint8)  # T×h×w×3
        if frames.shape[1:3] != (H, W):
            frames = np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR) for f in frames])
        frames[0] = image  # frame 0 is the context frame
        frames = paste_background(frames, image, mask)
        return GeneratedVideo(frames=frames, fps=cfg.fps, ma_mask=mask, instruction=instruction, seed=int(seed),
                              generator=f"{NAME}:{Path(cfg.path).name}{'+lora' if cfg.lora else ''}:mask={self.mask_source}")  # fmt: skip


def build_i2v_generator(path: str | None = None, **kwargs: Any) -> I2VGenerator:
    """Registry factory of ``diffusers-i2v``: ``build_generator({"name": "diffusers-i2v", "path": DIR, ...})``."""
    if not path:
        raise ValueError("diffusers-i2v: give `path`, a local diffusers image-to-video folder (model_index.json)")
    mask_fn = kwargs.pop("mask_fn", None)
    return I2VGenerator(I2VConfig(path=str(path), **kwargs), mask_fn=mask_fn)


def save_tiny_random_svd(path: str | Path, seed: int = 0, num_frames: int = 4, image_size: int = 32) -> Path:
    """Write a tiny random-config StableVideoDiffusionPipeline (same classes as SVD, ~0.5 M params) to ``path``."""
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=image_size // 4,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        block_out_channels=(32, 64),
        addition_time_embed_dim=32,
        projection_class_embeddings_input_dim=3 * 32,
        layers_per_block=1,
        cross_attention_dim=32,
        num_attention_heads=(2, 4),
        num_frames=num_frames,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        latent_channels=4,
        layers_per_block=1,
        sample_size=image_size,
    )
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, image_size=224, patch_size=32)  # fmt: skip
    )
    processor = CLIPImageProcessor(crop_size=224, size=224)  # SVD resizes the image to 224² for CLIP
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
        steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
    )  # fmt: skip
    pipe = StableVideoDiffusionPipeline(
        vae=vae, image_encoder=encoder, unet=unet, scheduler=scheduler, feature_extractor=processor
    )
    path = Path(path)
    pipe.save_pretrained(path, safe_serialization=True)
    return path
