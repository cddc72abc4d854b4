"""The policy registry and the interface every algorithm implements.

A policy works on *normalized* tensors (see :class:`policy.datasets.Normalizer`): ``obs`` (B, To, D) — the last
To observations — and ``actions`` (B, H, A) — the action chunk from the current step on. It is trained by
:meth:`Policy.compute_loss` and queried by :meth:`Policy.predict` (a whole chunk; the runner executes the first
``n_action_steps`` of it: receding horizon).

    @register_policy("bc", BCConfig)
    class BCPolicy(Policy): ...

    policy = make_policy("bc", {"hidden": [256, 256]}, obs_dim=19, action_dim=7)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["POLICIES", "ImageEncoder", "Policy", "PolicyConfig", "make_policy", "policy_config", "register_policy"]


@dataclass
class PolicyConfig:
    """Fields every algorithm has.

    Attributes:
        obs_horizon: To, observations the policy sees (the current one and To-1 before it).
        pred_horizon: H, actions predicted per query (the chunk).
        n_action_steps: actions of each chunk executed before querying again (<= H - 0).
    """

    obs_horizon: int = 1
    pred_horizon: int = 1
    n_action_steps: int = 1

    def __post_init__(self) -> None:
        if self.obs_horizon < 1 or self.pred_horizon < 1:
            raise ValueError(f"{type(self).__name__}: obs_horizon and pred_horizon must be >= 1")
        if not 1 <= self.n_action_steps <= self.pred_horizon:
            raise ValueError(
                f"{type(self).__name__}: n_action_steps must be in [1, pred_horizon={self.pred_horizon}], "
                f"got {self.n_action_steps}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ImageEncoder(nn.Module):
    """A small CNN per camera: (B, N, 3, H, W) uint8 -> (B, N * feat_dim) features (global average pooled)."""

    def __init__(self, num_cameras: int, feat_dim: int = 64):
        super().__init__()
        self.feat_dim = feat_dim
        self.nets = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(3, 32, 5, stride=2, padding=2), nn.GroupNorm(8, 32), nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.GroupNorm(8, 64), nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.GroupNorm(8, 64), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, feat_dim),
            )
            for _ in range(num_cameras)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 - 0.5
        return torch.cat([net(x[:, i]) for i, net in enumerate(self.nets)], dim=-1)


class Policy(nn.Module):
    """Base class: subclasses set ``config_cls`` (via :func:`register_policy`) and implement the two methods.

    With ``image_shape=(N, 3, H, W)`` the policy also takes ``images`` (B, To, N, 3, H, W) uint8: an
    :class:`ImageEncoder` turns each step's images into features appended to the low-dim observation, so the
    algorithms see ``feat_dim = obs_dim + N * 64`` features per step (call :meth:`encode` first).
    """

    name: str = ""
    config_cls: type[PolicyConfig] = PolicyConfig

    def __init__(self, cfg: PolicyConfig, obs_dim: int, action_dim: int, image_shape: tuple[int, ...] | None = None):
        super().__init__()
        self.cfg, self.obs_dim, self.action_dim = cfg, int(obs_dim), int(action_dim)
        self.image_shape = tuple(int(s) for s in image_shape) if image_shape else None
        if self.image_shape is not None and (len(self.image_shape) != 4 or self.image_shape[1] != 3):
            raise ValueError(f"image_shape must be (num_cameras, 3, H, W), got {image_shape}")
        self.image_encoder = ImageEncoder(self.image_shape[0]) if self.image_shape else None
        self.feat_dim = self.obs_dim + (self.image_shape[0] * self.image_encoder.feat_dim if self.image_shape else 0)

    def compute_loss(self, obs: torch.Tensor, actions: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar training loss for normalized ``obs`` (B, To, D) and target ``actions`` (B, H, A)."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, generator: torch.Generator | None = None,
                images: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized action chunk (B, H, A) for normalized ``obs`` (B, To, D); ``generator`` seeds any sampling."""
        raise NotImplementedError

    def encode(self, obs: torch.Tensor, actions: torch.Tensor | None = None,
               images: torch.Tensor | None = None) -> torch.Tensor:
        """Check shapes; return the per-step features (B, To, feat_dim) (low-dim obs + image features)."""
        c = self.cfg
        if obs.ndim != 3 or obs.shape[1:] != (c.obs_horizon, self.obs_dim):
            raise ValueError(f"{self.name}: obs must be (B, {c.obs_horizon}, {self.obs_dim}), got {tuple(obs.shape)}")
        if actions is not None and (actions.ndim != 3 or actions.shape[1:] != (c.pred_horizon, self.action_dim)):
            raise ValueError(
                f"{self.name}: actions must be (B, {c.pred_horizon}, {self.action_dim}), got {tuple(actions.shape)}"
            )
        if self.image_encoder is None:
            if images is not None:
                raise ValueError(f"{self.name}: got images but the policy was built without image_shape")
            return obs
        want = (len(obs), c.obs_horizon, *self.image_shape)
        if images is None or tuple(images.shape) != want:
            raise ValueError(f"{self.name}: images must be {want} uint8, got "
                             f"{None if images is None else tuple(images.shape)}")
        feats = self.image_encoder(images.flatten(0, 1)).view(len(obs), c.obs_horizon, -1)
        return torch.cat([obs, feats], dim=-1)


POLICIES: dict[str, type[Policy]] = {}


def register_policy(name: str, config_cls: type[PolicyConfig]) -> Callable[[type[Policy]], type[Policy]]:
    """Class decorator: register a :class:`Policy` subclass under ``name`` with its config dataclass."""

    def deco(cls: type[Policy]) -> type[Policy]:
        if name in POLICIES and POLICIES[name] is not cls:
            raise ValueError(f"policy {name!r} is already registered by {POLICIES[name].__qualname__}")
        cls.name, cls.config_cls = name, config_cls
        POLICIES[name] = cls
        return cls

    return deco


def policy_config(name: str, values: dict[str, Any] | None = None) -> PolicyConfig:
    """The validated config dataclass of policy ``name`` from ``values`` (unknown keys are an error)."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; registered: {sorted(POLICIES)}")
    cls = POLICIES[name].config_cls
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"policy {name!r}: unknown config key(s) {unknown}; valid: {sorted(known)}")
    for k, v in values.items():  # YAML lists -> tuples where the dataclass default is a tuple
        if isinstance(v, list):
            values[k] = tuple(v)
    return cls(**values)


def make_policy(name: str, cfg: PolicyConfig | dict[str, Any] | None, obs_dim: int, action_dim: int,
                image_shape: tuple[int, ...] | None = None) -> Policy:
    """Build policy ``name`` (a registered algorithm) for the given observation and action sizes
    (``image_shape`` (N, 3, H, W): also image observations of N cameras)."""
    if not isinstance(cfg, PolicyConfig):
        cfg = policy_config(name, cfg)
    return POLICIES[name](cfg, obs_dim, action_dim, image_shape)
