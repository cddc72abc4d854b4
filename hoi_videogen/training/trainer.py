"""``hoi-train-generator``: trains the HANDI generator on an HOIClip dataset, VAE -> stage 1 (MA) -> stage 2 (video).

Everything a run needs to continue lives in ``<out>/checkpoint.pt`` (written atomically every ``ckpt_every`` steps
and on SIGINT/SIGTERM): all weights, the EMA of the stage being trained, optimizer, LR scheduler, RNG states
(one torch generator drives noise, timesteps, frame and paraphrase choices), the data position (epoch, cursor of a
per-epoch permutation derived from the seed) and the loss history. Rerunning the same command resumes; a resumed
run gives the same losses as an uninterrupted one (CPU, same thread count).

Outputs in ``<out>/``: ``losses.csv`` + ``losses.png``, ``samples/`` (VAE reconstructions, MA masks, sample videos
every ``sample_every`` steps), ``pipeline/`` (the final :class:`~hoi_videogen.pipeline.HOIVideoPipeline`, EMA
weights, via ``save_pretrained``) and ``train_info.json`` (timings, sizes, config).
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hoi_videogen.models.config import GeneratorConfig
from hoi_videogen.models.networks import build_models, count_params
from hoi_videogen.training.losses import (foreground_weight, predicted_x0, prediction_target, soft_iou,
                                          weighted_recon_loss)

__all__ = ["TrainConfig", "ClipBank", "GeneratorTrainer", "train", "main", "STAGES"]

STAGES = ("vae", "ma", "video")


@dataclass
class TrainConfig:
    """What ``hoi-train-generator`` does (``configs/train_generator.yaml``)."""

    data: str = "data/hoiclips_128"
    out: str = "outputs/train_generator/run"
    stages: tuple[str, ...] = STAGES
    steps: dict[str, int] = field(default_factory=lambda: {"vae": 1500, "ma": 1000, "video": 2000})
    batch_size: dict[str, int] = field(default_factory=lambda: {"vae": 8, "ma": 16, "video": 4})
    lr: dict[str, float] = field(default_factory=lambda: {"vae": 1e-3, "ma": 5e-4, "video": 5e-4})
    lr_schedule: str = "cosine"  # any diffusers.optimization.get_scheduler name
    warmup_steps: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # with EMA warm-up (the decay grows from 0 towards this)
    seed: int = 0
    threads: int = 1
    max_clips: int | None = None  # use at most this many clips (the first in manifest order)
    max_seed: int | None = None  # use only clips with seed < max_seed (keep held-out seeds out of training)
    init_from: str | None = None  # start from the weights of a saved pipeline folder (e.g. to train later stages)
    init_modules: tuple[str, ...] = STAGES  # which of init_from's modules to load (the others start fresh)
    device: str = "cpu"  # cpu, cuda, cuda:N or auto (cuda if available); noise is drawn on the CPU either way
    latent_cache: str | None = None  # file of precomputed latents/masks/text states (latent_cache.py): read if it
    #                                  exists, else written from `data` first; stages ma/video only
    cache_only: bool = False  # write latent_cache and exit without training
    vae_fg_weight: float = 10.0  # extra weight of the (dilated) motion area in the VAE loss
    vae_kl_weight: float = 1e-6
    vae_crop: int | None = 64  # train the (convolutional) VAE on random crops this size (half on the MA); None = full
    ma_iou_weight: float = 0.5  # alpha: loss = noise + alpha * (1 - mIoU of the decoded mask)  (HANDI §2.1)
    hrl_weight: float = 0.0  # eta: Hand Refinement Loss weight (HANDI Eq. 2); 0 = off
    hrl_warmup: int = 500  # stage-2 steps before the HRL switches on
    hrl_frames: int = 4  # frames per clip decoded for the HRL (random ones)
    keypoint_net: str | None = None  # Υ weights folder; None = the shipped one
    text_dropout: float = 0.0  # P(instruction -> the null (all-zero) text condition) in stages ma/video, for CFG
    guidance_scale: float = 1.0  # classifier-free guidance saved with the exported pipeline (> 1 needs text_dropout)
    log_every: int = 10
    ckpt_every: int = 100
    sample_every: int = 500  # 0 = never
    sample_steps: int = 10  # DPM++ steps for the periodic samples
    stop_after: int | None = None  # stop (as if killed) after this many steps in this process (tests)
    export: str | None = None  # also save the final pipeline here (e.g. hoi_videogen/weights/tiny)
    export_only: bool = False  # only export the checkpoint's current (EMA) weights, no training

    def __post_init__(self) -> None:
        self.stages = tuple(self.stages)
        bad = [s for s in self.stages if s not in STAGES]
        if bad or not self.stages:
            raise ValueError(f"train: stages must be a non-empty subset of {STAGES}, got {list(self.stages)}")
        self.stages = tuple(s for s in STAGES if s in self.stages)
        for name in ("steps", "batch_size", "lr"):
            d = dict(getattr(self, name))
            missing = [s for s in self.stages if s not in d]
            if missing:
                raise ValueError(f"train: {name} needs a value for stages {missing}")
            setattr(self, name, d)
        for s in self.stages:
            if int(self.steps[s]) < 1 or int(self.batch_size[s]) < 1 or float(self.lr[s]) <= 0:
                raise ValueError(f"train: steps/batch_size/lr of stage {s!r} must be positive")
        if self.ckpt_every < 1 or self.log_every < 1:
            raise ValueError("train: ckpt_every and log_every must be >= 1")
        if not 0.0 <= self.text_dropout < 1.0 or self.guidance_scale < 0:
            raise ValueError(f"train: text_dropout must be in [0, 1) and guidance_scale >= 0, got {self.text_dropout}, "
                             f"{self.guidance_scale}")
        self.init_modules = tuple(self.init_modules)
        if any(m not in STAGES for m in self.init_modules):
            raise ValueError(f"train: init_modules must be a subset of {STAGES}, got {list(self.init_modules)}")
        if self.latent_cache and "vae" in self.stages:
            raise ValueError("train: latent_cache holds the latents of a fixed VAE; it cannot be used while training "
                             "the VAE (drop 'vae' from stages, and init_from a pipeline with a trained VAE)")
        if self.cache_only and not self.latent_cache:
            raise ValueError("train: cache_only needs latent_cache (the file to write)")
        if not (self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:")):
            raise ValueError(f"train: device must be cpu, cuda, cuda:N or auto, got {self.device!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"train: unknown keys {unknown}")
        return cls(**dict(d))


# --------------------------------------------------------------------------------------------------------- data
class ClipBank:
    """The training clips in memory: frames (context + video), MA masks, instructions and hand keypoint targets."""

    def __init__(self, root: str | Path, resolution: int, num_frames: int, max_clips: int | None = None,
                 max_seed: int | None = None) -> None:
        from hoi_videogen.data import HOIClipDataset

        ds = HOIClipDataset(root)
        recs = [r for r in ds.records if max_seed is None or r["seed"] < max_seed]
        if max_clips is not None:
            recs = recs[: int(max_clips)]
        if not recs:
            raise ValueError(f"no training clips in {root} (max_seed={max_seed}, max_clips={max_clips})")
        bad = [r["id"] for r in recs if (r["width"], r["height"], r["num_frames"]) != (resolution, resolution, num_frames)]
        if bad:
            raise ValueError(f"{root}: clips {bad[:3]}... are not {resolution}×{resolution}×{num_frames} frames "
                             "(the generator config's resolution and num_frames)")
        ds = HOIClipDataset(root, recs)
        self.ids, self.frames, self.ma, self.texts, self.kp, self.vis, self.seeds = [], [], [], [], [], [], []
        from hoi_videogen.training.hand_loss import prepare_keypoint_targets

        for clip in tqdm(ds, total=len(ds), desc="load clips", leave=False):
            self.ids.append(f"{clip.task}_{clip.seed}")
            self.seeds.append(clip.seed)
            self.frames.append(np.concatenate([clip.context[None], clip.video]))  # (T+1)×H×W×3
            self.ma.append(clip.ma_mask)
            self.texts.append(list(dict.fromkeys([clip.instruction] + list(clip.paraphrases))))
            kp, vis = prepare_keypoint_targets(
                torch.from_numpy(clip.keypoints_2d)[None], torch.from_numpy(clip.visibility)[None],
                torch.from_numpy(clip.hand_present)[None], resolution, resolution)
            self.kp.append(kp[0])
            self.vis.append(vis[0])
        self.frames = np.stack(self.frames)
        self.ma = torch.from_numpy(np.stack(self.ma))[:, None]  # N×1×H×W
        self.kp = torch.stack(self.kp)
        self.vis = torch.stack(self.vis)

    @classmethod
    def from_cache(cls, cache) -> "ClipBank":
        """A bank without frames over a :class:`~hoi_videogen.training.latent_cache.LatentCache` (stages ma/video)."""
        bank = cls.__new__(cls)
        bank.ids, bank.seeds = list(cache.ids), list(cache.seeds)
        bank.frames = None
        bank.ma, bank.kp, bank.vis = cache.ma, cache.kp, cache.vis
        bank.texts = [[cache.texts[j] for j in c] for c in cache.clip_texts]
        return bank

    def __len__(self) -> int:
        return len(self.ids)

    def images(self, idx: np.ndarray | list[int], frame: torch.Tensor | None = None) -> torch.Tensor:
        """Frames as B×3×H×W (``frame[i]`` of clip ``idx[i]``) or B×(T+1)×3×H×W floats in [-1, 1]."""
        if self.frames is None:
            raise ValueError("this clip bank holds latents only (a latent cache); it has no frames")
        arr = self.frames[np.asarray(idx)]
        if frame is not None:
            arr = arr[np.arange(len(arr)), frame.numpy()]
        x = torch.from_numpy(arr).float().div(127.5).sub(1)
        return x.movedim(-1, -3).contiguous()

    def all_texts(self) -> list[str]:
        return list(dict.fromkeys(t for ts in self.texts for t in ts))


class Sampler:
    """Clip indices in per-epoch permutations (seeded by (seed, stage, epoch)); its position is (epoch, cursor)."""

    def __init__(self, n: int, seed: int, stage: int, epoch: int = 0, cursor: int = 0) -> None:
        self.n, self.seed, self.stage, self.epoch, self.cursor = n, seed, stage, epoch, cursor

    def _perm(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.stage, self.epoch]).permutation(self.n)

    def take(self, k: int) -> list[int]:
        out = []
        while len(out) < k:
            perm = self._perm()
            take = min(k - len(out), self.n - self.cursor)
            out.extend(int(i) for i in perm[self.cursor:self.cursor + take])
            self.cursor += take
            if self.cursor >= self.n:
                self.epoch, self.cursor = self.epoch + 1, 0
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Stop(Exception):
    pass


# ------------------------------------------------------------------------------------------------------- trainer
class GeneratorTrainer:
    """Trains the stages of ``gcfg`` on ``tcfg.data``; :meth:`run` resumes from ``<out>/checkpoint.pt`` if present."""

    def __init__(self, gcfg: GeneratorConfig, tcfg: TrainConfig, bank: ClipBank | None = None) -> None:
        from diffusers import DDPMScheduler

        self.gcfg, self.tcfg = gcfg, tcfg
        self.out = Path(tcfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(max(1, int(tcfg.threads)))
        torch.manual_seed(tcfg.seed)
        self.device = resolve_device(tcfg.device)
        self.vae, self.ma, self.video = build_models(gcfg)
        self.models = {"vae": self.vae, "ma": self.ma, "video": self.video}
        self.noise = DDPMScheduler(num_train_timesteps=gcfg.num_train_timesteps, beta_schedule=gcfg.beta_schedule)
        self.alphas = self.noise.alphas_cumprod.float().to(self.device)
        self.bank = bank
        self.text: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.latents: dict[int, torch.Tensor] = {}  # clip -> (T+1)×C×h×w scaled latents (lazy cache)
        self.history: list[dict[str, Any]] = []
        self.stage_i = 0  # index into tcfg.stages
        self.step = 0  # steps done in the current stage
        self.g = torch.Generator().manual_seed(tcfg.seed)
        self.sampler: Sampler | None = None
        self.opt = self.sched = self.ema = None
        self.elapsed = {s: 0.0 for s in STAGES}
        self.steps_this_process = 0
        self._signal = None
        self.hrl_net = None
        self._data_ready = False
        if tcfg.init_from:
            self._init_from(tcfg.init_from)
        for m in self.models.values():
            m.to(self.device)

    def _init_from(self, folder: str) -> None:
        from hoi_videogen.pipeline import load_pipeline

        pipe = load_pipeline(folder)
        for name, src in (("vae", pipe.vae), ("ma", pipe.ma_denoiser), ("video", pipe.video_denoiser)):
            if name not in self.tcfg.init_modules:
                continue
            try:
                self.models[name].load_state_dict(src.state_dict())
            except RuntimeError as exc:
                raise ValueError(f"init_from {folder}: its {name} does not match the generator config ({exc})") from None
        if "vae" in self.tcfg.init_modules:
            self.vae.register_to_config(scaling_factor=pipe.vae.config.scaling_factor,
                                        shift_factor=pipe.vae.config.shift_factor)

    # ----------------------------------------------------------------------------------------------- setup
    def _load_data(self) -> None:
        if self._data_ready:
            return
        cache = Path(self.tcfg.latent_cache) if self.tcfg.latent_cache else None
        if self.bank is None and cache is not None and cache.is_file():
            self._use_cache(cache)
        else:
            if self.bank is None:
                self.bank = ClipBank(self.tcfg.data, self.gcfg.resolution, self.gcfg.num_frames, self.tcfg.max_clips,
                                     self.tcfg.max_seed)
            if not self.text:
                from hoi_videogen.models.text import load_text_encoder

                enc = load_text_encoder(self.gcfg.text_max_length, "cpu")
                texts = self.bank.all_texts()
                for i in range(0, len(texts), 64):
                    tok, pooled = enc(texts[i:i + 64])
                    for j, t in enumerate(texts[i:i + 64]):
                        self.text[t] = (tok[j], pooled[j])
            if cache is not None:
                self._write_cache(cache)
        dev = self.device
        self.bank.ma, self.bank.kp, self.bank.vis = self.bank.ma.to(dev), self.bank.kp.to(dev), self.bank.vis.to(dev)
        self.text = {t: (tok.to(dev), pooled.to(dev)) for t, (tok, pooled) in self.text.items()}
        self._data_ready = True

    def _cache_selection(self) -> dict[str, Any]:
        return {"data": str(self.tcfg.data), "max_seed": self.tcfg.max_seed, "max_clips": self.tcfg.max_clips,
                "resolution": self.gcfg.resolution, "num_frames": self.gcfg.num_frames,
                "latent_channels": self.gcfg.latent_channels, "text_max_length": self.gcfg.text_max_length}

    def _write_cache(self, path: Path) -> None:
        """Encode every clip with the current VAE and save latents, masks, keypoints and text states to ``path``."""
        from hoi_videogen.training.latent_cache import LatentCache, save_latent_cache, vae_fingerprint

        self._prepare_latent_stats()
        lat = torch.stack([self.clip_latents(i).cpu() for i in tqdm(range(len(self.bank)), desc="encode clips",
                                                                      leave=False)])
        texts = list(self.text)
        where = {t: k for k, t in enumerate(texts)}
        cache = LatentCache(
            latents=lat, ma=(self.bank.ma.cpu() > 0.5).to(torch.uint8), kp=self.bank.kp.cpu(), vis=self.bank.vis.cpu(),
            texts=texts, text_tokens=torch.stack([self.text[t][0].cpu() for t in texts]),
            text_pooled=torch.stack([self.text[t][1].cpu() for t in texts]),
            clip_texts=[[where[t] for t in ts] for ts in self.bank.texts], ids=self.bank.ids, seeds=self.bank.seeds,
            info={"vae": vae_fingerprint(self.vae), "vae_shift": float(self.vae.config.shift_factor or 0.0),
                  "vae_scale": float(self.vae.config.scaling_factor), **self._cache_selection()})
        save_latent_cache(path, cache)
        print(f"[train] latent cache: {len(self.bank)} clips, {len(texts)} texts -> {path} "
              f"({path.stat().st_size / 1e6:.1f} MB)")

    def _use_cache(self, path: Path) -> None:
        from hoi_videogen.training.latent_cache import LatentCacheError, load_latent_cache, vae_fingerprint

        cache = load_latent_cache(path)
        if cache.info.get("vae") != vae_fingerprint(self.vae):
            raise LatentCacheError(f"latent cache {path} was encoded with another VAE than this run's (init_from / "
                                   "checkpoint); delete it or give another latent_cache path")
        stats = (float(cache.info["vae_scale"]), float(cache.info["vae_shift"]))
        mine = (float(self.vae.config.scaling_factor), float(self.vae.config.shift_factor or 0.0))
        if mine == (1.0, 0.0):  # stats not computed yet: the cache's are the ones computed from these clips
            self.vae.register_to_config(scaling_factor=stats[0], shift_factor=stats[1])
        elif mine != stats:
            raise LatentCacheError(f"latent cache {path} was encoded with latent scale/shift {stats}, this run's VAE "
                                   f"has {mine}")
        want = self._cache_selection()
        diff = {k: (cache.info.get(k), v) for k, v in want.items() if cache.info.get(k) != v}
        if diff:
            raise LatentCacheError(f"latent cache {path} was made with other settings (cache vs run): {diff}")
        self.bank = ClipBank.from_cache(cache)
        self.text = {t: (cache.text_tokens[k], cache.text_pooled[k]) for k, t in enumerate(cache.texts)}
        self.latents = {i: cache.latents[i].float().to(self.device) for i in range(len(cache))}
        self._stats_done = True

    @property
    def stage(self) -> str | None:
        return self.tcfg.stages[self.stage_i] if self.stage_i < len(self.tcfg.stages) else None

    def _setup_stage(self, stage: str) -> None:
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import EMAModel

        model = self.models[stage]
        for name, m in self.models.items():
            m.train(name == stage)
            m.requires_grad_(name == stage)
        params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=float(self.tcfg.lr[stage]), weight_decay=self.tcfg.weight_decay)
        self.sched = get_scheduler(self.tcfg.lr_schedule, self.opt, num_warmup_steps=self.tcfg.warmup_steps,
                                   num_training_steps=int(self.tcfg.steps[stage]))
        self.ema = EMAModel(params, decay=self.tcfg.ema_decay, use_ema_warmup=True, power=3 / 4)
        self.ema.to(self.device)
        self.sampler = Sampler(len(self.bank), self.tcfg.seed, STAGES.index(stage))
        if stage in ("ma", "video"):
            self._prepare_latent_stats()
        if stage == "ma" and self.step == 0:
            with torch.no_grad():
                prior = F.interpolate(self.bank.ma.float().mean(0, keepdim=True), size=self.ma.prior.shape[-2:],
                                      mode="area")
                self.ma.prior.copy_(prior)

    def _prepare_latent_stats(self) -> None:
        """Set the VAE's shift/scaling so latents have zero mean and unit std (from up to 64 clips' frames)."""
        if getattr(self, "_stats_done", False):
            return
        self.vae.eval()
        if self.vae.config.scaling_factor == 1.0 and self.vae.config.shift_factor == 0.0:
            idx = np.arange(min(len(self.bank), 64))
            with torch.no_grad():
                z = torch.cat([self.vae.encode(self.bank.images([i], torch.tensor([f])).to(self.device)).latent_dist.mode()
                               for f in (0, self.gcfg.num_frames // 2) for i in idx])
            shift, std = float(z.mean()), float(z.std())
            self.vae.register_to_config(shift_factor=shift, scaling_factor=1.0 / max(std, 1e-6))
        self._stats_done = True

    def clip_latents(self, i: int) -> torch.Tensor:
        if i not in self.latents:
            with torch.no_grad():
                x = self.bank.images([i])[0].to(self.device)
                z = self.vae.encode(x).latent_dist.mode()
                self.latents[i] = (z - self.vae.config.shift_factor) * self.vae.config.scaling_factor
        return self.latents[i]

    def _texts(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        choice = torch.randint(0, 1 << 30, (len(idx),), generator=self.g)
        texts = [self.bank.texts[i][int(c) % len(self.bank.texts[i])] for i, c in zip(idx, choice)]
        tok = torch.stack([self.text[t][0] for t in texts])
        pooled = torch.stack([self.text[t][1] for t in texts])
        if self.tcfg.text_dropout > 0:  # classifier-free guidance: sometimes no text at all (zeros)
            keep = (torch.rand(len(idx), generator=self.g) >= self.tcfg.text_dropout).float().to(self.device)
            tok, pooled = tok * keep[:, None, None], pooled * keep[:, None]
        return tok, pooled

    # ------------------------------------------------------------------------------------------- step losses
    def loss_vae(self, idx: list[int]) -> dict[str, torch.Tensor]:
        frame = torch.randint(0, self.gcfg.num_frames + 1, (len(idx),), generator=self.g)
        x = self.bank.images(idx, frame).to(self.device)
        w = foreground_weight(self.bank.ma[idx].float(), self.tcfg.vae_fg_weight)
        c = self.tcfg.vae_crop
        if c and c < x.shape[-1]:
            x, w = self._crops(x, w, self.bank.ma[idx], int(c))
        post = self.vae.encode(x).latent_dist
        z = post.mean + post.std * self._randn(post.mean.shape)
        rec = self.vae.decode(z).sample
        recon = weighted_recon_loss(rec, x, w)
        kl = post.kl().mean() / x[0].numel()
        return {"loss": recon + self.tcfg.vae_kl_weight * kl, "recon": recon, "kl": kl}

    def _crops(self, x, w, ma, c):
        """c×c crops of x and w: for even samples centred on a random motion-area pixel, else uniform."""
        n, size = x.shape[0], x.shape[-1]
        u = torch.rand(n, 2, generator=self.g)
        xs, ws = [], []
        for i in range(n):
            cy, cx = (u[i] * size).long().tolist()
            ys, xs_ = torch.nonzero(ma[i, 0] > 0.5, as_tuple=True)
            if i % 2 == 0 and len(ys):
                k = int(u[i, 0] * len(ys)) % len(ys)
                cy, cx = int(ys[k]), int(xs_[k])
            y0 = min(max(cy - c // 2, 0), size - c)
            x0 = min(max(cx - c // 2, 0), size - c)
            xs.append(x[i, :, y0:y0 + c, x0:x0 + c])
            ws.append(w[i, :, y0:y0 + c, x0:x0 + c])
        return torch.stack(xs), torch.stack(ws)

    def _randn(self, shape) -> torch.Tensor:
        """Noise from the run's CPU generator (the same numbers on any device), moved to the device."""
        return torch.randn(shape, generator=self.g).to(self.device)

    def _noisy(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        t = torch.randint(0, self.gcfg.num_train_timesteps, (x0.shape[0],), generator=self.g).to(self.device)
        eps = self._randn(x0.shape)
        ab = self.alphas[t].view(-1, *([1] * (x0.ndim - 1)))
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t, eps, ab

    def loss_ma(self, idx: list[int]) -> dict[str, torch.Tensor]:
        size = self.gcfg.ma.mask_size
        target = F.interpolate(self.bank.ma[idx].float(), size=(size, size), mode="area")
        ctx = torch.stack([self.clip_latents(i)[0] for i in idx])
        tok, pooled = self._texts(idx)
        x0 = target * 2 - 1
        x_t, t, eps, ab = self._noisy(x0)
        pred = self.ma(x_t, t, ctx, tok, pooled)
        noise = F.mse_loss(pred, prediction_target(x0, eps, ab, self.ma.prediction_type))
        mask = ((predicted_x0(x_t, pred, ab, self.ma.prediction_type).clamp(-1, 1) + 1) / 2)
        miou = (soft_iou(mask, target) * ab.flatten()).sum() / ab.sum()  # weighted towards low-noise samples
        return {"loss": noise + self.tcfg.ma_iou_weight * (1 - miou), "noise": noise, "miou": miou}

    def loss_video(self, idx: list[int]) -> dict[str, torch.Tensor]:
        lat = torch.stack([self.clip_latents(i) for i in idx])  # B×(T+1)×C×h×w
        ctx = lat[:, 0]
        x0 = self.video.to_target(lat[:, 1:], ctx)
        ma = F.interpolate(self.bank.ma[idx].float(), size=x0.shape[-2:], mode="area")
        tok, pooled = self._texts(idx)
        x_t, t, eps, ab = self._noisy(x0)
        pred = self.video(x_t, t, ctx, ma, tok, pooled)
        noise = F.mse_loss(pred, prediction_target(x0, eps, ab, self.video.prediction_type))
        out = {"loss": noise, "noise": noise}
        if self.tcfg.hrl_weight > 0 and self.step >= self.tcfg.hrl_warmup:
            out["hrl"] = self._hrl(idx, x_t, pred, ab, ctx)
            out["loss"] = noise + self.tcfg.hrl_weight * out["hrl"]
        return out

    def _hrl(self, idx, x_t, pred, ab, ctx) -> torch.Tensor:
        from hoi_videogen.training.hand_loss import hand_refinement_loss

        if self.hrl_net is None:
            from hoi_videogen.hands.keypoint_net import load_keypoint_net

            self.hrl_net = load_keypoint_net(self.tcfg.keypoint_net).requires_grad_(False).to(self.device)
        b, f = x_t.shape[:2]
        k = min(self.tcfg.hrl_frames, f)
        frames = torch.stack([torch.randperm(f, generator=self.g)[:k] for _ in range(b)]).to(self.device)  # B×k
        rows = torch.arange(b, device=self.device)[:, None]
        x0 = predicted_x0(x_t[rows, frames], pred[rows, frames], ab.view(b, 1, 1, 1, 1), self.video.prediction_type)
        x0 = self.video.from_target(x0, ctx)
        z = x0.flatten(0, 1) / self.vae.config.scaling_factor + self.vae.config.shift_factor
        img = self.vae.decode(z).sample.view(b, k, 3, self.gcfg.resolution, self.gcfg.resolution)
        kp = self.bank.kp[idx][rows, frames]
        vis = self.bank.vis[idx][rows, frames]
        return hand_refinement_loss(img, kp, vis, self.hrl_net)

    # ------------------------------------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "stage_i": self.stage_i,
            "stage": self.stage,
            "step": self.step,
            "models": {k: m.state_dict() for k, m in self.models.items()},
            "vae_config": {"scaling_factor": self.vae.config.scaling_factor,
                           "shift_factor": self.vae.config.shift_factor},
            "opt": self.opt.state_dict() if self.opt else None,
            "sched": self.sched.state_dict() if self.sched else None,
            "ema": self.ema.state_dict() if self.ema else None,
            "sampler": self.sampler.state() if self.sampler else None,
            "rng": {"g": self.g.get_state(), "torch": torch.get_rng_state()},
            "history": self.history,
            "elapsed": self.elapsed,
            "gcfg": self.gcfg.to_dict(),
        }

    def save_checkpoint(self) -> None:
        _atomic_torch_save(self.state_dict(), self.out / "checkpoint.pt")
        self._write_curves()

    def load_checkpoint(self) -> bool:
        path = self.out / "checkpoint.pt"
        if not path.is_file():
            return False
        st = torch.load(path, map_location="cpu", weights_only=False)
        if st["gcfg"] != self.gcfg.to_dict():
            raise ValueError(f"{path} was trained with another generator config; use a new `out` folder")
        for k, m in self.models.items():
            m.load_state_dict(st["models"][k])
        self.vae.register_to_config(**st["vae_config"])
        self.stage_i, self.step = st["stage_i"], st["step"]
        self.history, self.elapsed = st["history"], st["elapsed"]
        self.g.set_state(st["rng"]["g"])
        torch.set_rng_state(st["rng"]["torch"])
        if self.stage is not None:
            self._load_data()
            self._setup_stage(self.stage)
            if st["opt"] is not None:
                self.opt.load_state_dict(st["opt"])
                self.sched.load_state_dict(st["sched"])
                self.ema.load_state_dict(st["ema"])
                self.ema.to(self.device)
                self.sampler.epoch, self.sampler.cursor = st["sampler"]["epoch"], st["sampler"]["cursor"]
        return True

    # ----------------------------------------------------------------------------------------------- logging
    def _write_curves(self) -> None:
        from hoi_videogen.training.curves import write_curves

        write_curves(self.history, self.out, panel_key="stage", panels=STAGES, title="stage ")

    @torch.no_grad()
    def write_samples(self, stage: str) -> None:
        from hoi2robot.media import write_image, write_video

        if self.bank.frames is None:
            print(f"[train] no samples at {stage} step {self.step}: a latent-cache run has no frames to show")
            return
        folder = self.out / "samples"
        folder.mkdir(exist_ok=True)
        n = min(4, len(self.bank))
        idx = list(range(n))
        params = [p for p in self.models[stage].parameters() if p.requires_grad]
        self.ema.store(params)
        self.ema.copy_to(params)
        self.models[stage].eval()
        try:
            tag = f"{stage}_{self.step:06d}"
            if stage == "vae":
                x = self.bank.images(idx, torch.full((n,), self.gcfg.num_frames // 2))
                rec = self.vae.decode(self.vae.encode(x.to(self.device)).latent_dist.mode()).sample.clamp(-1, 1).cpu()
                img = torch.cat([torch.cat(list(x), -1), torch.cat(list(rec), -1)], -2)
                write_image(folder / f"{tag}.png", _to_uint8(img))
            else:
                pipe = self.pipeline()
                tiles = []
                for i in idx:
                    ctx = self.bank.frames[i, 0]
                    text = self.bank.texts[i][0]
                    gt = self.bank.ma[i, 0].numpy()
                    if stage == "ma":
                        soft = pipe.sample_mask(pipe.encode_frames(_to_tensor(ctx).to(self.device)),
                                                *pipe.encode_text([text]),
                                                self.tcfg.sample_steps, torch.Generator().manual_seed(0))
                        pred = pipe.mask_to_image(soft)
                        tiles.append(np.concatenate([ctx, np.repeat((gt * 255).astype(np.uint8)[..., None], 3, -1),
                                                     np.repeat((pred * 255).astype(np.uint8)[..., None], 3, -1)], 1))
                    else:  # stage 2 on the ground-truth MA (stage 1 is judged by its own samples)
                        v = pipe(ctx, text, num_inference_steps=self.tcfg.sample_steps,
                                 generator=torch.Generator().manual_seed(0), ma_mask=gt)
                        write_video(folder / f"{tag}_{i}.mp4", np.concatenate([v.frames, self.bank.frames[i, 1:]], 2),
                                    v.fps)
                if tiles:
                    write_image(folder / f"{tag}.png", np.concatenate(tiles, 0))
        finally:
            self.ema.restore(params)
            self.models[stage].train()

    def pipeline(self):
        """A :class:`HOIVideoPipeline` over the current models (shares their weights)."""
        from hoi_videogen.pipeline import HOIVideoPipeline, make_scheduler

        sched = make_scheduler(self.gcfg.num_train_timesteps, self.gcfg.beta_schedule)
        return HOIVideoPipeline(self.vae, self.ma, self.video, sched, fps=self.gcfg.fps,
                                text_max_length=self.gcfg.text_max_length, name=self.gcfg.name,
                                guidance_scale=self.tcfg.guidance_scale)

    def export(self, folder: str | Path) -> Path:
        """save_pretrained the pipeline with the EMA weights of the stage in progress (if any)."""
        params = None
        if self.ema is not None and self.stage is not None:
            params = [p for p in self.models[self.stage].parameters() if p.requires_grad]
            self.ema.store(params)
            self.ema.copy_to(params)
        try:
            for m in self.models.values():
                m.eval()
            self.pipeline().save_pretrained(str(folder))
        finally:
            if params is not None:
                self.ema.restore(params)
        return Path(folder)

    # ---------------------------------------------------------------------------------------------- training
    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        self._signal = signum

    def run(self) -> dict[str, Any]:
        """Train the remaining stages (resuming if a checkpoint exists); returns a summary."""
        resumed = self.load_checkpoint()
        if self.tcfg.cache_only:
            self._load_data()
            return {"out": str(self.out), "latent_cache": str(self.tcfg.latent_cache), "clips": len(self.bank)}
        if self.tcfg.export_only:
            if not resumed:
                raise FileNotFoundError(f"export_only: no checkpoint in {self.out}")
            return self._finish(interrupted=False, resumed=True)
        self._load_data()
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        interrupted = False
        try:
            while self.stage is not None:
                stage = self.stage
                if self.opt is None:
                    self._setup_stage(stage)
                self._train_stage(stage)
                # stage done: keep the EMA weights, move on
                params = [p for p in self.models[stage].parameters() if p.requires_grad]
                self.ema.copy_to(params)
                if stage == "vae":
                    self.latents.clear()
                    self._stats_done = False
                self.stage_i, self.step = self.stage_i + 1, 0
                self.opt = self.sched = self.ema = self.sampler = None
                self.save_checkpoint()
        except _Stop:
            interrupted = True
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return self._finish(interrupted=interrupted, resumed=resumed)

    def _train_stage(self, stage: str) -> None:
        total = int(self.tcfg.steps[stage])
        loss_fn = {"vae": self.loss_vae, "ma": self.loss_ma, "video": self.loss_video}[stage]
        model = self.models[stage]
        params = [p for p in model.parameters() if p.requires_grad]
        bar = tqdm(total=total, initial=self.step, desc=f"train {stage}", dynamic_ncols=True)
        acc: dict[str, list[float]] = {}
        t_start = time.perf_counter()
        while self.step < total:
            if self._signal is not None:
                self.save_checkpoint()
                raise _Stop()
            t0 = time.perf_counter()
            idx = self.sampler.take(int(self.tcfg.batch_size[stage]))
            losses = loss_fn(idx)
            self.opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if self.tcfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, self.tcfg.grad_clip)
            self.opt.step()
            self.sched.step()
            self.ema.step(params)
            self.step += 1
            self.steps_this_process += 1
            self.elapsed[stage] += time.perf_counter() - t0
            for k, v in losses.items():
                acc.setdefault(k, []).append(float(v.detach()))
            if self.step % self.tcfg.log_every == 0 or self.step == total:
                row = {"stage": stage, "step": self.step, "lr": self.sched.get_last_lr()[0],
                       "seconds": round(self.elapsed[stage], 2)}
                row.update({k: float(np.mean(v)) for k, v in acc.items()})
                self.history.append(row)
                acc = {}
                bar.set_postfix({k: f"{row[k]:.4f}" for k in losses})
            bar.update(1)
            if self.tcfg.sample_every and self.step % self.tcfg.sample_every == 0:
                self.write_samples(stage)
            if self.step % self.tcfg.ckpt_every == 0:
                self.save_checkpoint()
            if self.tcfg.stop_after is not None and self.steps_this_process >= self.tcfg.stop_after:
                bar.close()
                raise _Stop()
        bar.close()
        if self.tcfg.sample_every:
            self.write_samples(stage)
        print(f"[train] stage {stage}: {total} steps, {self.elapsed[stage]:.0f} s "
              f"(this process {time.perf_counter() - t_start:.0f} s)")

    def _finish(self, interrupted: bool, resumed: bool) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "out": str(self.out),
            "interrupted": interrupted,
            "resumed": resumed,
            "stage": self.stage,
            "step": self.step,
            "train_seconds": {k: round(v, 1) for k, v in self.elapsed.items()},
            "params": {k: count_params(m) for k, m in self.models.items()},
            "clips": len(self.bank) if self.bank is not None else None,
            "final": {s: next((r for r in reversed(self.history) if r["stage"] == s), None) for s in STAGES},
        }
        if not interrupted:
            for m in self.models.values():  # export from the CPU: the saved folder is the same from any device
                m.to("cpu")
            if self.ema is not None:
                self.ema.to("cpu")
            summary["pipeline"] = str(self.export(self.out / "pipeline"))
            if self.tcfg.export:
                summary["export"] = str(self.export(self.tcfg.export))
            self._write_curves()
            info = {"summary": summary, "generator": self.gcfg.to_dict(), "train": asdict(self.tcfg)}
            (self.out / "train_info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        return summary


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available, else cpu; a cuda device that is not there is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"train: device={name} but torch sees no CUDA device (use device=cpu or auto)")
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls/convs: the speed the accelerator is used for
        torch.backends.cudnn.allow_tf32 = True
    return dev


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    return ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float().div(127.5).sub(1)


def train(generator: Mapping[str, Any] | GeneratorConfig, train_cfg: Mapping[str, Any] | TrainConfig,
          bank: ClipBank | None = None) -> dict[str, Any]:
    """Train (or resume) from plain configs; returns the run summary."""
    gcfg = generator if isinstance(generator, GeneratorConfig) else GeneratorConfig.from_dict(generator)
    tcfg = train_cfg if isinstance(train_cfg, TrainConfig) else TrainConfig.from_dict(train_cfg)
    return GeneratorTrainer(gcfg, tcfg, bank).run()


def main() -> None:
    """Console script ``hoi-train-generator`` (Hydra: ``configs/train_generator.yaml``)."""
    import hydra

    from hoi2robot.config import CONFIG_PATH, to_plain

    @hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="train_generator")
    def _main(cfg) -> None:
        plain = to_plain(cfg)
        gen = plain.pop("generator")
        summary = train(gen, plain)
        print(json.dumps(summary, indent=2, default=str))

    _main()


if __name__ == "__main__":
    main()
