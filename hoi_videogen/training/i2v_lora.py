"""``hoi-finetune-i2v``: LoRA fine-tuning of a local diffusers image-to-video model on HOIClips, with the HRL.

The ``diffusers-i2v`` backend (:mod:`hoi_videogen.i2v`) animates a context frame with any local
:class:`diffusers.StableVideoDiffusionPipeline` folder. This module adapts such a model to hand-object clips without
touching its weights: LoRA adapters (``peft``, rank ``rank``) on the UNet's attention projections are the only
trained parameters; the VAE, the CLIP image encoder and the base UNet stay frozen.

Objective per batch (SVD's EDM parameterisation, v-prediction, as its scheduler samples it):

* the clip's frames are encoded by the frozen VAE (``z``, scaled); ``σ`` is log-normal (``p_mean``, ``p_std``);
  the UNet sees ``c_in·(z + σ·ε)`` next to the context frame's (noise-augmented) latent, timestep ``¼·ln σ``, the
  context frame's CLIP embedding and SVD's added time ids (fps − 1, motion bucket, noise augmentation);
* ``ẑ₀ = c_skip·z_σ + c_out·F(·)`` and ``noise loss = mean(λ(σ)·(ẑ₀ − z)²)`` with ``λ = (σ² + 1)/σ²``;
* after ``hrl_warmup`` steps, HANDI's Hand Refinement Loss (Eq. 2): ``hrl_frames`` frames of ``ẑ₀`` decoded by
  the frozen VAE, the frozen keypoint net Υ on them, MSE to the clip's keypoints with missing joints zeroed
  (:func:`~hoi_videogen.training.hand_loss.hand_refinement_loss`); ``loss = noise + hrl_weight · HRL``.

Outputs in ``<out>/``: ``checkpoint.pt`` (adapter weights, optimizer, step, RNG, sampler position: rerunning the same
command resumes; SIGINT/SIGTERM write one before exiting), ``losses.csv`` + ``losses.png``, and ``lora/``
(``adapter_model.safetensors`` + ``adapter_config.json``), which ``build_generator({"name": "diffusers-i2v",
"path": ..., "lora": "<out>/lora"})`` loads on top of the base model.
"""
from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

__all__ = ["LoRAConfig", "I2VLoRATrainer", "add_lora", "load_lora", "save_lora", "finetune", "main"]

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def _require_peft() -> None:
    try:
        import peft  # noqa: F401
    except ImportError as exc:  # pragma: no cover - peft is a dependency of the project
        raise ImportError("LoRA fine-tuning needs `peft` (pip install peft); it is in requirements/lock.txt") from exc


def add_lora(unet: torch.nn.Module, rank: int, alpha: float | None = None,
             target_modules: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0"), seed: int = 0) -> dict:
    """Freeze ``unet`` and inject LoRA adapters (B initialised to zero: the model's output is unchanged).

    Returns the adapter's config (what :func:`save_lora` writes and :func:`load_lora` reads).
    """
    _require_peft()
    from peft import LoraConfig, inject_adapter_in_model

    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    cfg = {"r": int(rank), "lora_alpha": float(alpha if alpha is not None else rank),
           "target_modules": list(target_modules), "lora_dropout": 0.0}
    unet.requires_grad_(False)
    torch.manual_seed(seed)
    inject_adapter_in_model(LoraConfig(**cfg), unet)
    if not any(p.requires_grad for p in unet.parameters()):
        raise ValueError(f"LoRA: none of the target modules {list(target_modules)} exist in {type(unet).__name__}")
    return cfg


def save_lora(unet: torch.nn.Module, cfg: dict, folder: str | Path) -> Path:
    """Write the adapter weights (safetensors) and config of ``unet`` to ``folder`` (atomically per file)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(unet).items()}
    tmp = folder / f".{ADAPTER_WEIGHTS}.tmp"
    save_file(state, str(tmp))
    os.replace(tmp, folder / ADAPTER_WEIGHTS)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(cfg, indent=2))
    return folder


def load_lora(unet: torch.nn.Module, folder: str | Path) -> dict:
    """Inject the adapter saved in ``folder`` into ``unet`` and load its weights; returns its config."""
    _require_peft()
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = Path(folder)
    missing = [f for f in (ADAPTER_WEIGHTS, ADAPTER_CONFIG) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"LoRA adapter folder {folder} lacks {missing} (write one with hoi-finetune-i2v)")
    cfg = json.loads((folder / ADAPTER_CONFIG).read_text())
    add_lora(unet, cfg["r"], cfg["lora_alpha"], tuple(cfg["target_modules"]))
    result = set_peft_model_state_dict(unet, load_file(str(folder / ADAPTER_WEIGHTS)))
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ValueError(f"LoRA adapter {folder} does not fit this UNet: unexpected keys {unexpected[:3]}...")
    unet.requires_grad_(False)
    return cfg


@dataclass
class LoRAConfig:
    """Settings of :class:`I2VLoRATrainer` (``configs/finetune_i2v.yaml``)."""

    path: str = ""  # local StableVideoDiffusionPipeline folder (model_index.json)
    data: str = "data/hoiclips_128"  # HOIClip dataset
    out: str = "outputs/finetune_i2v/run"
    rank: int = 8
    alpha: float | None = None  # LoRA scale numerator (None = rank)
    target_modules: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")
    steps: int = 500
    batch_size: int = 1
    lr: float = 1e-4
    grad_clip: float = 1.0
    p_mean: float = 0.7  # log-normal σ of the EDM noise levels
    p_std: float = 1.6
    conditioning_fps: int = 7  # SVD micro-conditions (the same values the generator samples with)
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02
    hrl_weight: float = 0.05  # eta: Hand Refinement Loss weight; 0 = off
    hrl_warmup: int = 100  # steps before the HRL switches on
    hrl_frames: int = 2  # frames per clip decoded for the HRL
    keypoint_net: str | None = None  # frozen Υ folder; None = the shipped one
    max_clips: int | None = None
    max_seed: int | None = None  # hold out seeds >= max_seed
    seed: int = 0
    threads: int = 1
    log_every: int = 10
    ckpt_every: int = 50
    stop_after: int | None = None  # stop (as if killed) after this many steps in this process (tests)

    def __post_init__(self) -> None:
        self.target_modules = tuple(self.target_modules)
        if not (Path(self.path) / "model_index.json").is_file():
            raise FileNotFoundError(f"finetune_i2v: path={self.path!r} is not a local diffusers pipeline folder "
                                    "(no model_index.json); nothing is downloaded")
        for name in ("rank", "steps", "batch_size", "hrl_frames", "log_every", "ckpt_every", "threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"finetune_i2v: {name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.p_std <= 0 or self.hrl_weight < 0 or self.hrl_warmup < 0:
            raise ValueError("finetune_i2v: lr and p_std must be > 0, hrl_weight and hrl_warmup >= 0")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LoRAConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"finetune_i2v: unknown keys {unknown}")
        return cls(**dict(d))


class I2VLoRATrainer:
    """LoRA on a StableVideoDiffusionPipeline's UNet, trained on a HOIClip dataset (see the module docstring)."""

    def __init__(self, cfg: LoRAConfig, bank: Any = None) -> None:
        from diffusers import StableVideoDiffusionPipeline

        from hoi_videogen.training.trainer import ClipBank, Sampler

        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(cfg.threads)
        pipe = StableVideoDiffusionPipeline.from_pretrained(cfg.path, local_files_only=True)
        self.vae, self.unet, self.encoder = pipe.vae, pipe.unet, pipe.image_encoder
        self.processor = pipe.feature_extractor
        for m in (self.vae, self.encoder):
            m.requires_grad_(False).eval()
        self.lora_cfg = add_lora(self.unet, cfg.rank, cfg.alpha, cfg.target_modules, cfg.seed)
        self.params = [p for p in self.unet.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr)
        self.g = torch.Generator().manual_seed(cfg.seed)
        if bank is None:  # the clips' own size (SVD's UNet is convolutional; sizes must be multiples of 8·VAE scale)
            size, num_frames = _clip_shape(cfg.data)
            bank = ClipBank(cfg.data, size, num_frames, cfg.max_clips, cfg.max_seed)
        self.bank = bank
        self.sampler = Sampler(len(bank), cfg.seed, stage=0)
        self.step, self.steps_this_process, self.history = 0, 0, []
        self.hrl_net = None
        self._signal: int | None = None

    # ------------------------------------------------------------------------------------------------ model
    @torch.no_grad()
    def _condition(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """CLIP embedding (B×1×D), noise-augmented context latent (B×C×h×w) and added time ids (B×3) of ``ctx``."""
        B = ctx.shape[0]
        x = F.interpolate(ctx, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
        x = (x + 1) / 2
        mean = x.new_tensor(self.processor.image_mean).view(1, 3, 1, 1)
        std = x.new_tensor(self.processor.image_std).view(1, 3, 1, 1)
        emb = self.encoder((x - mean) / std).image_embeds.unsqueeze(1)
        aug = self.cfg.noise_aug_strength
        noisy_ctx = ctx + aug * torch.randn(ctx.shape, generator=self.g)
        lat = self.vae.encode(noisy_ctx).latent_dist.mode()
        ids = torch.tensor([[self.cfg.conditioning_fps - 1, self.cfg.motion_bucket_id, aug]], dtype=emb.dtype)
        return emb, lat, ids.repeat(B, 1)

    def loss(self, idx: list[int]) -> dict[str, torch.Tensor]:
        """Noise loss (+ HRL after warm-up) on clips ``idx``."""
        frames = self.bank.images(idx)  # B×(T+1)×3×H×W, frame 0 = context
        ctx, video = frames[:, 0], frames[:, 1:]
        B, T = video.shape[:2]
        sf = self.vae.config.scaling_factor
        with torch.no_grad():
            z = self.vae.encode(video.flatten(0, 1)).latent_dist.sample(self.g) * sf
        z = z.view(B, T, *z.shape[1:])
        emb, ctx_lat, ids = self._condition(ctx)
        sigma = torch.exp(self.cfg.p_mean + self.cfg.p_std * torch.randn(B, generator=self.g)).view(B, 1, 1, 1, 1)
        z_sigma = z + sigma * torch.randn(z.shape, generator=self.g)
        c_in = 1 / (sigma**2 + 1).sqrt()
        unet_in = torch.cat([c_in * z_sigma, ctx_lat[:, None].expand(-1, T, -1, -1, -1)], dim=2)
        out = self.unet(unet_in, (0.25 * sigma.log()).flatten(), encoder_hidden_states=emb, added_time_ids=ids).sample
        z0 = out * (-sigma / (sigma**2 + 1).sqrt()) + z_sigma / (sigma**2 + 1)
        noise = ((sigma**2 + 1) / sigma**2 * (z0 - z) ** 2).mean()
        res = {"noise": noise, "loss": noise}
        if self.cfg.hrl_weight > 0 and self.step >= self.cfg.hrl_warmup:
            res["hrl"] = self._hrl(idx, z0)
            res["loss"] = noise + self.cfg.hrl_weight * res["hrl"]
        return res

    def _hrl(self, idx: list[int], z0: torch.Tensor) -> torch.Tensor:
        from hoi_videogen.hands.keypoint_net import load_keypoint_net
        from hoi_videogen.training.hand_loss import hand_refinement_loss

        if self.hrl_net is None:
            self.hrl_net = load_keypoint_net(self.cfg.keypoint_net)
        B, T = z0.shape[:2]
        k = min(self.cfg.hrl_frames, T)
        pick = torch.stack([torch.randperm(T, generator=self.g)[:k] for _ in range(B)])  # B×k
        lat = z0[torch.arange(B)[:, None], pick] / self.vae.config.scaling_factor  # B×k×C×h×w
        img = self.vae.decode(lat.flatten(0, 1), num_frames=k).sample  # (B·k)×3×H×W
        res = self.hrl_net.config.resolution
        if img.shape[-1] < res:  # a small model's frames: up-sample for Υ (differentiably)
            img = F.interpolate(img, size=(res, res), mode="bilinear", align_corners=False)
        img = img.view(B, k, *img.shape[1:])
        ii = torch.as_tensor(idx)[:, None]
        return hand_refinement_loss(img, self.bank.kp[ii, pick], self.bank.vis[ii, pick], self.hrl_net)

    # ----------------------------------------------------------------------------------------- checkpointing
    def save_checkpoint(self) -> None:
        from peft import get_peft_model_state_dict

        from hoi_videogen.training.trainer import _atomic_torch_save

        state = {"lora": get_peft_model_state_dict(self.unet), "opt": self.opt.state_dict(), "step": self.step,
                 "sampler": [self.sampler.epoch, self.sampler.cursor], "history": self.history,
                 "rng": {"g": self.g.get_state(), "torch": torch.get_rng_state()}, "cfg": self._identity()}
        _atomic_torch_save(state, self.out / "checkpoint.pt")
        self._write_curves()

    def _identity(self) -> dict:
        d = asdict(self.cfg)
        for k in ("out", "steps", "stop_after", "log_every", "ckpt_every", "threads"):
            d.pop(k)
        return json.loads(json.dumps(d))

    def load_checkpoint(self) -> bool:
        from peft import set_peft_model_state_dict

        path = self.out / "checkpoint.pt"
        if not path.is_file():
            return False
        st = torch.load(path, map_location="cpu", weights_only=False)
        if st["cfg"] != self._identity():
            raise ValueError(f"{path} belongs to a run with other settings; use a new `out` folder")
        set_peft_model_state_dict(self.unet, st["lora"])
        self.opt.load_state_dict(st["opt"])
        self.step, self.history = st["step"], st["history"]
        self.sampler.epoch, self.sampler.cursor = st["sampler"]
        self.g.set_state(st["rng"]["g"])
        torch.set_rng_state(st["rng"]["torch"])
        return True

    def _write_curves(self) -> None:
        from hoi_videogen.training.curves import write_curves

        write_curves(self.history, self.out, title="LoRA fine-tuning")

    # ---------------------------------------------------------------------------------------------- training
    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        self._signal = signum

    def run(self) -> dict[str, Any]:
        """Train to ``steps`` (resuming from ``<out>/checkpoint.pt``); writes ``<out>/lora``; returns a summary."""
        resumed = self.load_checkpoint()
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        interrupted, t0 = False, time.perf_counter()
        bar = tqdm(total=self.cfg.steps, initial=self.step, desc="finetune i2v (LoRA)", dynamic_ncols=True)
        acc: dict[str, list[float]] = {}
        try:
            while self.step < self.cfg.steps:
                if self._signal is not None or (self.cfg.stop_after is not None
                                                 and self.steps_this_process >= self.cfg.stop_after):
                    interrupted = True
                    break
                losses = self.loss(self.sampler.take(self.cfg.batch_size))
                self.opt.zero_grad(set_to_none=True)
                losses["loss"].backward()
                if self.cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
                self.opt.step()
                self.step += 1
                self.steps_this_process += 1
                for k, v in losses.items():
                    acc.setdefault(k, []).append(float(v.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{float(losses['loss'].detach()):.4f}")
                if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
                    self.history.append({"step": self.step, **{k: float(np.mean(v)) for k, v in acc.items()}})
                    acc = {}
                if self.step % self.cfg.ckpt_every == 0:
                    self.save_checkpoint()
        finally:
            bar.close()
            for s, h in old.items():
                signal.signal(s, h)
        self.save_checkpoint()
        lora = None if interrupted else str(save_lora(self.unet, self.lora_cfg, self.out / "lora"))
        return {"out": str(self.out), "step": self.step, "resumed": resumed, "interrupted": interrupted,
                "lora": lora, "trainable_params": int(sum(p.numel() for p in self.params)),
                "seconds": round(time.perf_counter() - t0, 1), "last": self.history[-1] if self.history else None}


def _clip_shape(root: str | Path) -> tuple[int, int]:
    """(resolution, num_frames) of the first clip of a HOIClip dataset."""
    from hoi_videogen.data import HOIClipDataset

    recs = HOIClipDataset(root).records
    if not recs:
        raise ValueError(f"finetune_i2v: no clips in {root}")
    return int(recs[0]["width"]), int(recs[0]["num_frames"])


def finetune(cfg: Mapping[str, Any] | LoRAConfig, bank: Any = None) -> dict[str, Any]:
    """Fine-tune (or resume) from a plain config; returns the run summary."""
    cfg = cfg if isinstance(cfg, LoRAConfig) else LoRAConfig.from_dict(cfg)
    return I2VLoRATrainer(cfg, bank).run()


def main() -> None:
    """Console script ``hoi-finetune-i2v`` (Hydra: ``configs/finetune_i2v.yaml``)."""
    import hydra

    from hoi2robot.config import CONFIG_PATH, to_plain

    @hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="finetune_i2v")
    def _main(cfg) -> None:
        print(json.dumps(finetune(to_plain(cfg)), indent=2, default=str))

    _main()


if __name__ == "__main__":
    main()
