"""Υ: a small torch hand-keypoint network trained on the HOI engine's ground truth.

Two jobs:

* the frozen, differentiable detector of the Hand Refinement Loss (HANDI Eq. 2; MediaPipe is not differentiable),
  see :mod:`hoi_videogen.training.hand_loss`;
* a second tracker for low-resolution video (:class:`KeypointNetTracker`), where MediaPipe often misses the hand.

Network: a stride-4 conv encoder/decoder (GroupNorm + SiLU residual blocks, one skip) gives 21 heatmaps at a quarter
of the input resolution; a spatial soft-argmax turns them into coordinates, so the output is differentiable with
respect to the input pixels. A pooled head predicts per-joint visibility logits, a hand-presence logit, a handedness
logit (right hand) and 21 hand-centred 3D keypoints (metres, camera axes, origin at the keypoints' mean; MediaPipe's
world landmarks are hand-centred in the same spirit). One hand per image: the engine's clips show one hand.

Coordinates: the network works in *normalized* image coordinates ``(u + 0.5) / W, (v + 0.5) / H`` in [0, 1], where
``(u, v)`` are the contract's OpenCV pixels (integer values at pixel centres). They do not depend on the resolution,
so the same net runs on 128² and 64² input (:func:`normalize_keypoints` / :func:`denormalize_keypoints`).

Weights ship in ``hoi_videogen/weights/keypoint_net/`` (``model.safetensors`` + ``config.json`` + ``RECIPE.md``), made
by ``hoi-train-keypoints`` (``configs/keypoint_net.yaml``); :func:`load_keypoint_net` returns the frozen net.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hoi2robot.contracts import HANDEDNESS, NUM_JOINTS, HandTrack, HOIClip

__all__ = [
    "DEFAULT_WEIGHTS",
    "KeypointFrames",
    "KeypointNet",
    "KeypointNetConfig",
    "KeypointNetNotFoundError",
    "KeypointNetTracker",
    "KeypointOutput",
    "KeypointTrainConfig",
    "clips_to_frames",
    "denormalize_keypoints",
    "evaluate_keypoint_net",
    "load_keypoint_net",
    "main",
    "normalize_keypoints",
    "save_keypoint_net",
    "to_net_input",
    "train_keypoint_net",
]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "keypoint_net"
WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"
SOURCE = "keypoint_net"


class KeypointNetNotFoundError(FileNotFoundError):
    """The keypoint-net weights are missing; the message says how to make them."""


# ---------------------------------------------------------------------------------------------------- coordinates
def normalize_keypoints(keypoints_px: Any, width: int, height: int) -> Any:
    """Pixels ``(u, v)`` (centres at integers) → normalized ``((u + 0.5) / W, (v + 0.5) / H)``; numpy or torch."""
    scale = [1.0 / width, 1.0 / height]
    if isinstance(keypoints_px, torch.Tensor):
        return (keypoints_px + 0.5) * keypoints_px.new_tensor(scale)
    return ((np.asarray(keypoints_px, np.float32) + 0.5) * np.asarray(scale, np.float32)).astype(np.float32)


def denormalize_keypoints(keypoints: Any, width: int, height: int) -> Any:
    """Inverse of :func:`normalize_keypoints`."""
    scale = [float(width), float(height)]
    if isinstance(keypoints, torch.Tensor):
        return keypoints * keypoints.new_tensor(scale) - 0.5
    return (np.asarray(keypoints, np.float32) * np.asarray(scale, np.float32) - 0.5).astype(np.float32)


def to_net_input(frames: np.ndarray) -> torch.Tensor:
    """``...×H×W×3`` uint8 RGB → ``...×3×H×W`` float32 in [-1, 1]."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim < 3 or frames.shape[-1] != 3:
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"expected ...×H×W×3 uint8 RGB frames, got {got}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(127.5).sub_(1.0)
    return x.movedim(-1, -3)


# -------------------------------------------------------------------------------------------------------- network
@dataclass
class KeypointNetConfig:
    """Architecture of :class:`KeypointNet` (saved as ``config.json`` next to the weights).

    Attributes:
        channels: widths at strides 2, 4 and 8.
        blocks: residual blocks per stage (strides 2, 4, 8).
        groups: GroupNorm groups (must divide every width).
        resolution: the square input size the net was trained at (trackers resize to it; any size divisible by 8
            runs).
        world_head: how the hand-centred 3D keypoints are predicted: ``pooled`` (regressed from pooled features)
            or ``integral`` (x, y = the 2D keypoints about their mean times a predicted metric scale; z = per-joint
            depth maps read out under each joint's heatmap: spatially grounded, for the retargeter's PnP).
    """

    channels: tuple[int, int, int] = (16, 32, 64)
    blocks: tuple[int, int, int] = (0, 2, 2)
    groups: int = 8
    resolution: int = 128
    world_head: str = "pooled"

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)  # type: ignore[assignment]
        self.blocks = tuple(int(b) for b in self.blocks)  # type: ignore[assignment]
        if len(self.channels) != 3 or len(self.blocks) != 3:
            raise ValueError(f"KeypointNetConfig: channels and blocks need 3 entries, got {self.channels}, {self.blocks}")
        if any(c <= 0 or c % self.groups for c in self.channels):
            raise ValueError(f"KeypointNetConfig: channels {self.channels} must be positive multiples of groups={self.groups}")
        if self.resolution <= 0 or self.resolution % 8:
            raise ValueError(f"KeypointNetConfig: resolution must be a positive multiple of 8, got {self.resolution}")
        if self.world_head not in ("pooled", "integral"):
            raise ValueError(f"KeypointNetConfig: world_head must be 'pooled' or 'integral', got {self.world_head!r}")


class KeypointOutput(NamedTuple):
    """What :class:`KeypointNet` returns for a batch of B images.

    Attributes:
        keypoints: B×21×2 normalized image coordinates in [0, 1] (see :func:`normalize_keypoints`).
        visibility_logits: B×21, joint inside the image (sigmoid > 0.5).
        hand_logits: B×2: ``[:, 0]`` a hand is present, ``[:, 1]`` it is a right hand.
        world: B×21×3 hand-centred keypoints in metres (camera axes, origin at their mean).
        heatmaps: B×21×h×w heatmap logits (h, w = input / 4).
    """

    keypoints: torch.Tensor
    visibility_logits: torch.Tensor
    hand_logits: torch.Tensor
    world: torch.Tensor
    heatmaps: torch.Tensor


class _Block(nn.Module):
    def __init__(self, c: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups, c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1),
            nn.GroupNorm(groups, c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _stage(c_in: int, c_out: int, n: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), *[_Block(c_out, groups) for _ in range(n)])


class KeypointNet(nn.Module):
    """B×3×H×W images in [-1, 1] (H, W multiples of 8) → :class:`KeypointOutput`."""

    def __init__(self, config: KeypointNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or KeypointNetConfig()
        c1, c2, c3 = config.channels
        g = config.groups
        self.s2 = _stage(3, c1, config.blocks[0], g)
        self.s4 = _stage(c1, c2, config.blocks[1], g)
        self.s8 = _stage(c2, c3, config.blocks[2], g)
        self.up = nn.Sequential(nn.Conv2d(c3 + c2, c2, 3, padding=1), _Block(c2, g), nn.GroupNorm(g, c2), nn.SiLU())
        self.heat = nn.Conv2d(c2, NUM_JOINTS, 1)
        self.pooled = nn.Sequential(nn.Linear(c3 + c2, 128), nn.SiLU(), nn.Linear(128, NUM_JOINTS + 2 + NUM_JOINTS * 3))
        if config.world_head == "integral":
            self.zmap = nn.Conv2d(c2, NUM_JOINTS, 1)  # per-joint relative depth maps (decimetres)
            self.scale = nn.Linear(c3 + c2, 1)  # metres per normalized image unit about the hand centre

    def forward(self, x: torch.Tensor) -> KeypointOutput:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 8 or x.shape[3] % 8:
            raise ValueError(f"KeypointNet: expected B×3×H×W with H, W multiples of 8, got {tuple(x.shape)}")
        f4 = self.s4(self.s2(x))
        f8 = self.s8(f4)
        f = self.up(torch.cat([f4, F.interpolate(f8, size=f4.shape[-2:], mode="nearest")], 1))
        heat = self.heat(f)  # B×21×h×w
        B, J, h, w = heat.shape
        prob = heat.flatten(2).softmax(-1).view(B, J, h, w)
        xs = (torch.arange(w, device=x.device, dtype=prob.dtype) + 0.5) / w
        ys = (torch.arange(h, device=x.device, dtype=prob.dtype) + 0.5) / h
        kp = torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], -1)
        g = torch.cat([f8.mean((2, 3)), f.mean((2, 3))], 1)
        out = self.pooled(g)
        vis, hand, world = out[:, :J], out[:, J : J + 2], out[:, J + 2 :].view(B, J, 3) * 0.1
        if self.config.world_head == "integral":
            z = (prob * self.zmap(f)).sum((2, 3)) * 0.1  # B×J
            s = F.softplus(self.scale(g))[:, :, None]  # B×1×1
            kd = kp.detach()  # the 3D loss must not pull the 2D keypoints
            xy = (kd - kd.mean(1, keepdim=True)) * s
            world = torch.cat([xy, (z - z.mean(1, keepdim=True))[..., None]], -1)
        return KeypointOutput(kp, vis, hand, world, heat)


def save_keypoint_net(net: KeypointNet, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (architecture + ``extra``, e.g. training metadata)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    cfg = {"architecture": asdict(net.config), **(extra or {})}
    (folder / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, default=float) + "\n")
    return folder


def load_keypoint_net(path: str | Path | None = None, device: str | torch.device = "cpu") -> KeypointNet:
    """The frozen Υ: eval mode, ``requires_grad`` False on every parameter.

    Args:
        path: a folder with ``model.safetensors`` + ``config.json``; None = the shipped :data:`DEFAULT_WEIGHTS`.

    Raises:
        KeypointNetNotFoundError: the folder or its files are missing.
    """
    from safetensors.torch import load_file

    folder = Path(path) if path is not None else DEFAULT_WEIGHTS
    missing = [f for f in (WEIGHTS_FILE, CONFIG_FILE) if not (folder / f).is_file()]
    if missing:
        raise KeypointNetNotFoundError(
            f"keypoint net weights not found: {folder} lacks {missing}. Train them with `hoi-train-keypoints` "
            f"(configs/keypoint_net.yaml; see {DEFAULT_WEIGHTS / 'RECIPE.md'}) or pass the folder of a trained net."
        )
    meta = json.loads((folder / CONFIG_FILE).read_text())
    arch = meta.get("architecture", {})
    known = {f.name for f in fields(KeypointNetConfig)}
    net = KeypointNet(KeypointNetConfig(**{k: v for k, v in arch.items() if k in known}))
    net.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    net.to(device).eval()
    net.requires_grad_(False)
    net.meta = meta  # type: ignore[attr-defined]
    return net


# ----------------------------------------------------------------------------------------------------------- data
@dataclass
class KeypointFrames:
    """Per-frame training targets (N frames, one hand each: the present hand slot, else empty).

    Attributes:
        images: N×H×W×3 uint8.
        keypoints: N×21×2 float32 normalized coordinates (zeros where no hand).
        visibility: N×21 bool.
        present: N bool, a hand is in the frame.
        right: N bool, the hand is a right hand.
        world: N×21×3 float32 hand-centred camera-axes keypoints in metres.
        clip_index: N int, which input clip the frame came from.
    """

    images: np.ndarray
    keypoints: np.ndarray
    visibility: np.ndarray
    present: np.ndarray
    right: np.ndarray
    world: np.ndarray
    clip_index: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: np.ndarray) -> "KeypointFrames":
        return KeypointFrames(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def clips_to_frames(clips: Sequence[HOIClip]) -> KeypointFrames:
    """Unpack HOIClips into per-frame targets. When both hands are present the one with more visible joints wins."""
    out: dict[str, list[np.ndarray]] = {f.name: [] for f in fields(KeypointFrames)}
    for ci, clip in enumerate(clips):
        T, H, W = clip.video.shape[:3]
        nvis = clip.visibility.sum(-1) * clip.hand_present  # T×2
        slot = nvis.argmax(1)
        rows = np.arange(T)
        present = clip.hand_present[rows, slot] & (nvis[rows, slot] > 0)
        kp = normalize_keypoints(clip.keypoints_2d[rows, slot], W, H)
        vis = clip.visibility[rows, slot] & present[:, None]
        cam = clip.camera.cam_T_base
        p3 = clip.keypoints_3d[rows, slot].astype(np.float64) @ cam[:3, :3].T + cam[:3, 3]
        world = (p3 - p3.mean(1, keepdims=True)).astype(np.float32)
        out["images"].append(clip.video)
        out["keypoints"].append(np.where(present[:, None, None], kp, 0).astype(np.float32))
        out["visibility"].append(vis)
        out["present"].append(present)
        out["right"].append((slot == HANDEDNESS.index("right")) & present)
        out["world"].append(np.where(present[:, None, None], world, 0).astype(np.float32))
        out["clip_index"].append(np.full(T, ci))
    if not out["images"]:
        raise ValueError("clips_to_frames: no clips given")
    sizes = {im.shape[1:] for im in out["images"]}
    if len(sizes) != 1:
        raise ValueError(f"clips_to_frames: clips must share one resolution, got {sorted(sizes)}")
    return KeypointFrames(**{k: np.concatenate(v) for k, v in out.items()})


def _augment(
    x: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, rng: np.random.Generator, shift: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Photometric jitter, blur/noise and a random translation (keypoints and visibility follow)."""
    B, _, H, W = x.shape
    g = torch.from_numpy(rng.uniform(0.75, 1.25, (B, 3, 1, 1)).astype(np.float32))
    b = torch.from_numpy(rng.uniform(-0.15, 0.15, (B, 1, 1, 1)).astype(np.float32))
    x = (x * g + b).clamp(-1, 1)
    if rng.random() < 0.5:  # low-pass like a decoded generated frame
        x = F.interpolate(F.avg_pool2d(x, 2), size=(H, W), mode="bilinear", align_corners=False)
    x = (x + torch.randn_like(x) * float(rng.uniform(0, 0.06))).clamp(-1, 1)
    if shift > 0:
        dx, dy = (rng.uniform(-shift, shift, 2) * np.array([W, H])).round().astype(int)
        x = torch.roll(x, shifts=(int(dy), int(dx)), dims=(2, 3))
        # rolled-in border: replace by edge colour so the net cannot see the wrap
        if dy > 0:
            x[:, :, :dy] = x[:, :, dy : dy + 1]
        elif dy < 0:
            x[:, :, dy:] = x[:, :, dy - 1 : dy]
        if dx > 0:
            x[:, :, :, :dx] = x[:, :, :, dx : dx + 1]
        elif dx < 0:
            x[:, :, :, dx:] = x[:, :, :, dx - 1 : dx]
        kp = kp + kp.new_tensor([dx / W, dy / H])
        vis = vis & (kp > 0).all(-1) & (kp < 1).all(-1)
    return x, kp, vis


def keypoint_losses(out: KeypointOutput, kp: torch.Tensor, vis: torch.Tensor, present: torch.Tensor,
                    right: torch.Tensor, world: torch.Tensor) -> dict[str, torch.Tensor]:  # fmt: skip
    """Training losses of one batch (keypoints: L1 in normalized units on visible joints of present hands)."""
    v = vis.float()
    n = v.sum().clamp(min=1.0)
    l_kp = ((out.keypoints - kp).abs().sum(-1) * v).sum() / n
    l_vis = F.binary_cross_entropy_with_logits(out.visibility_logits, v)
    l_pres = F.binary_cross_entropy_with_logits(out.hand_logits[:, 0], present.float())
    p = present.float()
    l_side = (F.binary_cross_entropy_with_logits(out.hand_logits[:, 1], right.float(), reduction="none") * p).sum()
    l_side = l_side / p.sum().clamp(min=1.0)
    l_world = (((out.world - world) ** 2).sum(-1).mean(-1) * p).sum() / p.sum().clamp(min=1.0)
    total = 20.0 * l_kp + 0.2 * l_vis + 0.5 * l_pres + 0.2 * l_side + 100.0 * l_world
    return {"loss": total, "kp_l1": l_kp, "vis": l_vis, "presence": l_pres, "side": l_side, "world": l_world}


# ------------------------------------------------------------------------------------------------------- training
@dataclass
class KeypointTrainConfig:
    """Settings of :func:`train_keypoint_net` (mirrored by ``configs/keypoint_net.yaml``)."""

    data: list[str] = field(default_factory=lambda: ["data/hoiclips_128"])
    max_clips: int | None = None  # per dataset root, evenly spread over its manifest
    holdout_fraction: float = 0.15  # clips (whole clips, last seeds of each task) kept out of training
    steps: int = 1500
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    low_res_prob: float = 0.25  # fraction of steps trained on 2× downsampled input (the net also serves 64²)
    shift: float = 0.1  # max random translation, fraction of the image size
    seed: int = 0
    threads: int = 1
    model: KeypointNetConfig = field(default_factory=KeypointNetConfig)

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = KeypointNetConfig(**self.model)
        if isinstance(self.data, str):
            self.data = [self.data]
        if not self.data:
            raise ValueError("KeypointTrainConfig.data: give at least one HOIClip dataset root")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(f"KeypointTrainConfig.holdout_fraction must be in [0, 1), got {self.holdout_fraction}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"KeypointTrainConfig: steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")


def load_clips(roots: Sequence[str | Path], max_clips: int | None = None) -> list[HOIClip]:
    """Load the clips of several HOIClip dataset roots (at most ``max_clips`` per root, evenly spread)."""
    from hoi_videogen.data import HOIClipDataset

    clips: list[HOIClip] = []
    for root in roots:
        ds = HOIClipDataset(root)
        idx = np.arange(len(ds))
        if max_clips is not None and len(idx) > max_clips:
            idx = np.linspace(0, len(ds) - 1, max_clips).round().astype(int)
        clips.extend(ds[int(i)] for i in idx)
    return clips


def split_clips(clips: Sequence[HOIClip], holdout_fraction: float) -> tuple[list[HOIClip], list[HOIClip]]:
    """Per task, the clips with the highest seeds are held out (``ceil(fraction · n)``, at least one when > 0)."""
    train, held = [], []
    for task in sorted({c.task for c in clips}):
        group = sorted((c for c in clips if c.task == task), key=lambda c: c.seed)
        k = math.ceil(holdout_fraction * len(group)) if holdout_fraction > 0 else 0
        k = min(k, len(group) - 1)
        train += group[: len(group) - k]
        held += group[len(group) - k :]
    return train, held


def train_keypoint_net(
    cfg: KeypointTrainConfig,
    frames: KeypointFrames,
    progress: bool = True,
    log_every: int = 50,
    net: KeypointNet | None = None,
) -> tuple[KeypointNet, list[dict[str, float]]]:
    """Train Υ on ``frames``; returns the net (eval mode, trainable) and the loss history (one row per log step)."""
    from tqdm import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = net or KeypointNet(cfg.model)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = max(1, cfg.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then cosine decay to 5%
        opt, lambda s: (s + 1) / warm if s < warm else 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, cfg.steps - warm)))
    )
    history: list[dict[str, float]] = []
    n = len(frames)
    if n == 0:
        raise ValueError("train_keypoint_net: no training frames")
    # oversample frames that show a hand: they carry the keypoint signal
    weight = np.where(frames.present, 1.0, 0.3)
    weight /= weight.sum()
    bar = tqdm(range(cfg.steps), desc="hoi-train-keypoints", disable=not progress, unit="step")
    running: dict[str, float] = {}
    for step in bar:
        idx = rng.choice(n, size=min(cfg.batch_size, n), replace=n < cfg.batch_size, p=weight)
        x = to_net_input(frames.images[idx])
        kp = torch.from_numpy(frames.keypoints[idx])
        vis = torch.from_numpy(frames.visibility[idx])
        x, kp, vis = _augment(x, kp, vis, rng, cfg.shift)
        if rng.random() < cfg.low_res_prob:
            x = F.avg_pool2d(x, 2)
        out = net(x)
        losses = keypoint_losses(
            out, kp, vis, torch.from_numpy(frames.present[idx]), torch.from_numpy(frames.right[idx]),
            torch.from_numpy(frames.world[idx]),
        )  # fmt: skip
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        for k, v in losses.items():
            running[k] = running.get(k, 0.0) + float(v.detach())
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            count = log_every if (step + 1) % log_every == 0 else (step + 1) % log_every
            row = {"step": step + 1, **{k: v / count for k, v in running.items()}}
            history.append(row)
            running = {}
            bar.set_postfix(loss=f"{row['loss']:.3f}", kp_px128=f"{row['kp_l1'] * 128 / 2 ** 0.5:.1f}")
    net.eval()
    return net, history


# ----------------------------------------------------------------------------------------------------- inference
@torch.no_grad()
def predict(net: KeypointNet, images: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Run ``net`` on N×H×W×3 uint8 frames (resized to the net's resolution when different).

    Returns numpy arrays: ``keypoints`` N×21×2 normalized, ``visibility`` N×21, ``presence`` N, ``right`` N
    (probabilities), ``world`` N×21×3.
    """
    import cv2

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"predict: expected N×H×W×3 uint8 frames, got {images.dtype} {images.shape}")
    res = net.config.resolution
    H, W = images.shape[1:3]
    if (H, W) != (res, res) and (H % 8 or W % 8 or max(H, W) > res):
        images = np.stack([cv2.resize(im, (res, res), interpolation=cv2.INTER_AREA) for im in images])
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("keypoints", "visibility", "presence", "right", "world")}
    was_training = net.training
    net.eval()
    for i in range(0, len(images), batch_size):
        out = net(to_net_input(images[i : i + batch_size]))
        parts["keypoints"].append(out.keypoints.numpy())
        parts["visibility"].append(torch.sigmoid(out.visibility_logits).numpy())
        parts["presence"].append(torch.sigmoid(out.hand_logits[:, 0]).numpy())
        parts["right"].append(torch.sigmoid(out.hand_logits[:, 1]).numpy())
        parts["world"].append(out.world.numpy())
    net.train(was_training)
    return {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}


class KeypointNetTracker:
    """Υ as a :class:`~hoi_videogen.hands.HandTracker` stand-in: ``track(frames, fps) -> HandTrack``.

    One hand per frame: valid where the presence probability reaches ``threshold``; the slot is the predicted
    handedness. ``keypoints_world`` is the predicted hand-centred 3D (metres); ``keypoints_depth`` is its camera-z.
    """

    name = SOURCE

    def __init__(self, path: str | Path | None = None, threshold: float = 0.5, net: KeypointNet | None = None) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"KeypointNetTracker.threshold must be in [0, 1], got {threshold}")
        self.net = net if net is not None else load_keypoint_net(path)
        self.threshold = threshold

    def track(self, frames: np.ndarray, fps: float) -> HandTrack:
        if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
            raise ValueError(f"KeypointNetTracker.track: expected T×H×W×3 uint8 RGB frames, got {got}")
        T, H, W = frames.shape[:3]
        p = predict(self.net, frames)
        track = HandTrack.empty(T, fps, (W, H), SOURCE)
        valid = p["presence"] >= self.threshold
        slot = np.where(p["right"] >= 0.5, HANDEDNESS.index("right"), HANDEDNESS.index("left"))
        for t in np.nonzero(valid)[0]:
            s = int(slot[t])
            track.keypoints_2d[t, s] = denormalize_keypoints(p["keypoints"][t], W, H)
            track.keypoints_world[t, s] = p["world"][t]
            track.keypoints_depth[t, s] = p["world"][t, :, 2]
            track.score[t, s] = float(np.clip(p["presence"][t], 0.0, 1.0))
            track.valid[t, s] = True
        return track

    def close(self) -> None:
        pass

    def __enter__(self) -> "KeypointNetTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------------------------------- evaluation
def evaluate_keypoint_net(
    net: KeypointNet, clips: Sequence[HOIClip], mediapipe: bool = True, scale_to: int | None = 128
) -> dict[str, Any]:
    """Keypoint error of Υ (and MediaPipe, on the same frames) against the engine GT on ``clips``.

    Uses :func:`hoi_videogen.hands.metrics.compare_track` (eligible = hand present with >= 15 visible joints;
    error = mean over visible joints of matched hands, pixels). Errors are rescaled to ``scale_to``² pixels.
    """
    from hoi_videogen.hands.metrics import compare_track, summarize

    tracker = KeypointNetTracker(net=net)
    rows: dict[str, Any] = {}
    kinds: dict[str, Any] = {"keypoint_net": tracker}
    if mediapipe:
        from hoi_videogen.hands import HandTracker

        kinds["mediapipe"] = HandTracker()
    for kind, trk in kinds.items():
        comps, seconds, frames = [], 0.0, 0
        for clip in clips:
            t0 = time.perf_counter()
            tr = trk.track(clip.video, clip.fps)
            seconds += time.perf_counter() - t0
            frames += clip.num_frames
            comps.append(compare_track(clip.keypoints_2d, clip.visibility, clip.hand_present, tr.keypoints_2d, tr.valid))
        s = summarize(comps)
        res = clips[0].video.shape[2] if clips else 1
        factor = (scale_to / res) if scale_to else 1.0
        s["mean_error_px"] = s["mean_error_px"] * factor
        s["median_error_px"] = s["median_error_px"] * factor
        s["ms_per_frame"] = 1000.0 * seconds / max(frames, 1)
        s["_comps"] = comps
        rows[kind] = s
        trk.close()
    if "mediapipe" in rows:  # error on the frames BOTH found: a like-for-like comparison
        errs = {k: [] for k in ("keypoint_net", "mediapipe")}
        for a, b in zip(rows["keypoint_net"]["_comps"], rows["mediapipe"]["_comps"]):
            m = a.detected & b.detected & a.eligible
            errs["keypoint_net"].append(a.error_px[m])
            errs["mediapipe"].append(b.error_px[m])
        res = clips[0].video.shape[2]
        factor = (scale_to / res) if scale_to else 1.0
        for k, v in errs.items():
            v = np.concatenate(v) if v else np.zeros(0)
            rows[k]["both_detected_frames"] = int(v.size)
            rows[k]["both_detected_mean_error_px"] = float(v.mean() * factor) if v.size else float("nan")
    for s in rows.values():
        s.pop("_comps", None)
    return {"clips": len(clips), "frames": int(sum(c.num_frames for c in clips)), "trackers": rows}


def format_eval_table(report: dict[str, Any]) -> str:
    head = f"{'tracker':<14}{'det.rate':>9}{'mean px':>9}{'median px':>10}{'both-det px':>12}{'ms/frame':>10}"
    lines = [head, "-" * len(head)]
    for k, s in report["trackers"].items():
        lines.append(
            f"{k:<14}{s['detection_rate']:>9.3f}{s['mean_error_px']:>9.2f}{s['median_error_px']:>10.2f}"
            f"{s.get('both_detected_mean_error_px', float('nan')):>12.2f}{s['ms_per_frame']:>10.1f}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------- CLI
def _run(cfg: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from hoi2robot.config import write_json

    plain = OmegaConf.to_container(cfg, resolve=True)
    train_cfg = KeypointTrainConfig(**plain["train"])
    clips = load_clips(train_cfg.data, train_cfg.max_clips)
    train_clips, held = split_clips(clips, train_cfg.holdout_fraction)
    frames = clips_to_frames(train_clips)
    log.info("training on %d frames of %d clips; %d clips held out", len(frames), len(train_clips), len(held))
    t0 = time.perf_counter()
    net, history = train_keypoint_net(train_cfg, frames)
    train_s = time.perf_counter() - t0
    report: dict[str, Any] = {"train_seconds": train_s, "train_clips": len(train_clips), "train_frames": len(frames)}
    if held and plain.get("evaluate", True):
        report["heldout"] = evaluate_keypoint_net(net, held, mediapipe=bool(plain.get("compare_mediapipe", True)))
        report["heldout"]["clip_ids"] = [f"{c.task}_{c.seed}" for c in held]
        print(format_eval_table(report["heldout"]))
    out = Path(plain["out"])
    extra = {"train": plain["train"], "history": history[-1:] if history else [], "report": report}
    save_keypoint_net(net, out, extra)
    write_json(out / "train_history.json", {"history": history})
    if plain.get("results"):
        write_json(plain["results"], {"config": plain, **report})
    print(f"saved {out}")
    return report


def main() -> None:
    """``hoi-train-keypoints [train.steps=... out=...]`` (Hydra, ``configs/keypoint_net.yaml``)."""
    import hydra

    from hoi2robot.config import CONFIG_PATH

    hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="keypoint_net")(_run)()


if __name__ == "__main__":
    main()
