"""Losses of the generator's training: the VAE's foreground-weighted reconstruction, noise losses, the MA mIoU."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["weighted_recon_loss", "soft_iou", "predicted_x0", "foreground_weight"]


def foreground_weight(ma: torch.Tensor, fg_weight: float, grow_px: int = 4) -> torch.Tensor:
    """Per-pixel weights ``1 + fg_weight * dilate(ma)`` (B×1×H×W): plain MSE lets a tiny VAE collapse to the
    table colour and lose the small hand and objects (FACTS), so the motion area counts more."""
    if grow_px > 0:
        ma = F.max_pool2d(ma, 2 * grow_px + 1, stride=1, padding=grow_px)
    return 1.0 + fg_weight * ma


def weighted_recon_loss(rec: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted (MSE + L1) between B×3×H×W images, normalized by the weights' mean."""
    err = (rec - target) ** 2 + (rec - target).abs()
    return (err * weight).mean() / weight.mean()


def predicted_x0(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x̂₀ = (x_t − √(1−ᾱ) ε̂) / √ᾱ; ``alpha_bar`` broadcastable to ``x_t``."""
    return (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()


def soft_iou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-sample soft IoU of masks in [0, 1] (B×...): Σ p·t / Σ (p + t − p·t); 1 for two empty masks."""
    p, t = pred.flatten(1), target.flatten(1)
    inter = (p * t).sum(1)
    union = (p + t - p * t).sum(1)
    return (inter + eps) / (union + eps)
