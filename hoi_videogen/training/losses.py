"""Losses of the generator's training: the VAE's foreground-weighted reconstruction, noise losses, the MA mIoU."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["weighted_recon_loss", "soft_iou", "predicted_x0", "prediction_target", "predicted_eps", "foreground_weight",
           "PREDICTION_TYPES"]

# what a denoiser outputs (the names of diffusers' schedulers' ``prediction_type``)
PREDICTION_TYPES = ("epsilon", "v_prediction")


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


def _check_kind(kind: str) -> None:
    if kind not in PREDICTION_TYPES:
        raise ValueError(f"prediction type must be one of {PREDICTION_TYPES}, got {kind!r}")


def prediction_target(x0: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor,
                      kind: str = "epsilon") -> torch.Tensor:
    """What the denoiser is trained to output for ``x_t = √ᾱ x₀ + √(1−ᾱ) ε``: ε, or v = √ᾱ ε − √(1−ᾱ) x₀.

    With v the target tends to −x₀ at high noise, so a denoiser that outputs zeros already predicts x₀ = 0 there
    (the static scene, for residual video diffusion) instead of a wrong ε."""
    _check_kind(kind)
    if kind == "epsilon":
        return eps
    return alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * x0


def predicted_x0(x_t: torch.Tensor, pred: torch.Tensor, alpha_bar: torch.Tensor, kind: str = "epsilon") -> torch.Tensor:
    """x̂₀ from the denoiser output: (x_t − √(1−ᾱ) ε̂) / √ᾱ, or √ᾱ x_t − √(1−ᾱ) v̂; ``alpha_bar`` broadcastable."""
    _check_kind(kind)
    if kind == "epsilon":
        return (x_t - (1 - alpha_bar).sqrt() * pred) / alpha_bar.sqrt()
    return alpha_bar.sqrt() * x_t - (1 - alpha_bar).sqrt() * pred


def predicted_eps(x_t: torch.Tensor, pred: torch.Tensor, alpha_bar: torch.Tensor, kind: str = "epsilon") -> torch.Tensor:
    """ε̂ from the denoiser output: itself, or √(1−ᾱ) x_t + √ᾱ v̂."""
    _check_kind(kind)
    if kind == "epsilon":
        return pred
    return (1 - alpha_bar).sqrt() * x_t + alpha_bar.sqrt() * pred


def soft_iou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-sample soft IoU of masks in [0, 1] (B×...): Σ p·t / Σ (p + t − p·t); 1 for two empty masks."""
    p, t = pred.flatten(1), target.flatten(1)
    inter = (p * t).sum(1)
    union = (p + t - p * t).sum(1)
    return (inter + eps) / (union + eps)
