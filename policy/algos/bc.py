"""Behaviour cloning: an MLP (``bc``) and a transformer with action chunking (``bc_transformer``, ACT-lite)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from policy.algos.base import Policy, PolicyConfig, register_policy

__all__ = ["BCConfig", "BCPolicy", "BCTransformerConfig", "BCTransformerPolicy"]


@dataclass
class BCConfig(PolicyConfig):
    """BC-MLP: the flattened To observations -> H actions.

    Attributes:
        hidden: hidden layer widths.
        dropout: dropout after each hidden layer.
        loss: "mse" or "l1".
    """

    hidden: tuple[int, ...] = (256, 256, 256)
    dropout: float = 0.0
    loss: str = "mse"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in ("mse", "l1"):
            raise ValueError(f"BCConfig.loss must be 'mse' or 'l1', got {self.loss!r}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"BCConfig.hidden must list positive widths, got {self.hidden}")


def _loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target) if kind == "mse" else F.l1_loss(pred, target)


@register_policy("bc", BCConfig)
class BCPolicy(Policy):
    def __init__(self, cfg: BCConfig, obs_dim: int, action_dim: int, image_shape=None):
        super().__init__(cfg, obs_dim, action_dim, image_shape)
        layers, width = [], cfg.obs_horizon * self.feat_dim
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), nn.Mish(), nn.Dropout(cfg.dropout)]
            width = h
        layers.append(nn.Linear(width, cfg.pred_horizon * action_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.net(obs.flatten(1))
        return out.view(len(obs), self.cfg.pred_horizon, self.action_dim)

    def compute_loss(self, obs, actions, images=None):
        return _loss(self.cfg.loss, self(self.encode(obs, actions, images)), actions)

    @torch.no_grad()
    def predict(self, obs, generator=None, images=None):
        return self(self.encode(obs, images=images))


@dataclass
class BCTransformerConfig(PolicyConfig):
    """ACT-lite: a transformer encoder over To observation tokens + H learned query tokens; the query tokens'
    outputs are the action chunk (no CVAE, no images by default).

    Attributes:
        d_model, n_heads, n_layers, ff_dim, dropout: the transformer encoder.
        loss: "l1" (ACT's) or "mse".
    """

    obs_horizon: int = 2
    pred_horizon: int = 16
    n_action_steps: int = 8
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 3
    ff_dim: int = 512
    dropout: float = 0.1
    loss: str = "l1"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_model % self.n_heads:
            raise ValueError(f"BCTransformerConfig: d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if self.loss not in ("mse", "l1"):
            raise ValueError(f"BCTransformerConfig.loss must be 'mse' or 'l1', got {self.loss!r}")


@register_policy("bc_transformer", BCTransformerConfig)
class BCTransformerPolicy(Policy):
    def __init__(self, cfg: BCTransformerConfig, obs_dim: int, action_dim: int, image_shape=None):
        super().__init__(cfg, obs_dim, action_dim, image_shape)
        self.obs_in = nn.Linear(self.feat_dim, cfg.d_model)
        self.queries = nn.Parameter(torch.zeros(1, cfg.pred_horizon, cfg.d_model))
        self.pos = nn.Parameter(torch.zeros(1, cfg.obs_horizon + cfg.pred_horizon, cfg.d_model))
        nn.init.normal_(self.queries, std=0.02)
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.n_heads, cfg.ff_dim, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, action_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([self.obs_in(obs), self.queries.expand(len(obs), -1, -1)], dim=1) + self.pos
        out = self.norm(self.encoder(tokens))
        return self.head(out[:, self.cfg.obs_horizon :])

    def compute_loss(self, obs, actions, images=None):
        return _loss(self.cfg.loss, self(self.encode(obs, actions, images)), actions)

    @torch.no_grad()
    def predict(self, obs, generator=None, images=None):
        return self(self.encode(obs, images=images))
