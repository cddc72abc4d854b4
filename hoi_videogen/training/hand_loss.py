"""HANDI's Hand Refinement Loss (HRL, Eq. 2) with the project's frozen keypoint net Υ.

    L_hand = mean over (b, t, j, xy) of ( v·Υ(x̂₀)[b, t, j] − v·K[b, t, j] )²

x̂₀ is the decoded *predicted clean* video, K the training video's keypoints (normalized [0, 1] image coordinates,
see :func:`hoi_videogen.hands.keypoint_net.normalize_keypoints`) and v the per-joint visibility: missing joints
(v False: hand absent, joint outside the image) are zeroed on both sides, so they add nothing. Υ is frozen
(:func:`~hoi_videogen.hands.keypoint_net.load_keypoint_net`): gradients flow into the frames, never into Υ.

The stage-2 trainer calls it after its warm-up as ``loss = noise_loss + eta * hand_refinement_loss(...)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hoi2robot.contracts import NUM_JOINTS

__all__ = ["hand_refinement_loss", "prepare_keypoint_targets"]


def hand_refinement_loss(
    frames_pred: torch.Tensor,
    kp_gt: torch.Tensor,
    vis: torch.Tensor,
    net: torch.nn.Module,
    reduction: str = "mean",
) -> torch.Tensor:
    """HANDI Eq. 2 on normalized keypoints.

    Args:
        frames_pred: B×T×3×H×W decoded predicted clean video in [-1, 1] (values outside are clamped for Υ).
            H, W must be multiples of 8; frames larger than Υ's training resolution are average-pooled to it
            (differentiably), so a 128² net serves 256² video and vice versa within reason.
        kp_gt: B×T×21×2 target keypoints, normalized image coordinates in [0, 1].
        vis: B×T×21 bool (or 0/1 float) visibility of the target joints; False joints are zeroed on both sides.
        net: the frozen :class:`~hoi_videogen.hands.keypoint_net.KeypointNet` (its parameters must not require grad).
        reduction: ``"mean"`` (a scalar, averaged over all B·T·21·2 entries, as an MSE) or ``"none"`` (B×T).

    Returns:
        The loss; differentiable with respect to ``frames_pred``.
    """
    if frames_pred.ndim != 5 or frames_pred.shape[2] != 3:
        raise ValueError(f"hand_refinement_loss: frames_pred must be B×T×3×H×W, got {tuple(frames_pred.shape)}")
    B, T = frames_pred.shape[:2]
    if tuple(kp_gt.shape) != (B, T, NUM_JOINTS, 2):
        raise ValueError(f"hand_refinement_loss: kp_gt must be {B}×{T}×{NUM_JOINTS}×2 (normalized), got {tuple(kp_gt.shape)}")
    if tuple(vis.shape) != (B, T, NUM_JOINTS):
        raise ValueError(f"hand_refinement_loss: vis must be {B}×{T}×{NUM_JOINTS}, got {tuple(vis.shape)}")
    if any(p.requires_grad for p in net.parameters()):
        raise ValueError("hand_refinement_loss: Υ must be frozen (use load_keypoint_net(), or net.requires_grad_(False))")
    if reduction not in ("mean", "none"):
        raise ValueError(f"hand_refinement_loss: reduction must be 'mean' or 'none', got {reduction!r}")
    x = frames_pred.reshape(B * T, *frames_pred.shape[2:]).clamp(-1.0, 1.0)
    res = getattr(getattr(net, "config", None), "resolution", None)
    if res and x.shape[-1] > res and x.shape[-1] % res == 0 and x.shape[-2] % res == 0:
        x = F.avg_pool2d(x, x.shape[-1] // res)
    was_training = net.training
    net.eval()
    try:
        pred = net(x).keypoints.view(B, T, NUM_JOINTS, 2)
    finally:
        net.train(was_training)
    v = vis.to(pred.dtype).unsqueeze(-1)
    sq = (pred * v - kp_gt.to(pred.dtype) * v) ** 2
    return sq.mean() if reduction == "mean" else sq.mean((-1, -2))


def prepare_keypoint_targets(
    keypoints_2d: torch.Tensor, visibility: torch.Tensor, hand_present: torch.Tensor, width: int, height: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """HOIClip GT (two hand slots) → the HRL's one-hand targets.

    Args:
        keypoints_2d: B×T×2×21×2 pixels; visibility: B×T×2×21 bool; hand_present: B×T×2 bool.

    Returns:
        ``kp`` B×T×21×2 normalized and ``vis`` B×T×21 bool, of the slot with more visible joints in each frame
        (the engine shows one hand; frames without a hand get all-False visibility).
    """
    if keypoints_2d.ndim != 5 or tuple(keypoints_2d.shape[2:]) != (2, NUM_JOINTS, 2):
        raise ValueError(f"prepare_keypoint_targets: keypoints_2d must be B×T×2×21×2, got {tuple(keypoints_2d.shape)}")
    vis = visibility.bool() & hand_present.bool().unsqueeze(-1)  # B×T×2×21
    slot = vis.sum(-1).argmax(-1)  # B×T
    idx = slot[..., None, None, None].expand(*slot.shape, 1, NUM_JOINTS, 2)
    kp = keypoints_2d.gather(2, idx).squeeze(2).float()
    v = vis.gather(2, slot[..., None, None].expand(*slot.shape, 1, NUM_JOINTS)).squeeze(2)
    kp = (kp + 0.5) * kp.new_tensor([1.0 / width, 1.0 / height])
    return kp, v
