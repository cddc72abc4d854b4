"""Diffusion policy: denoise an action chunk (H × A) with a 1D temporal conv UNet conditioned on the observations.

Training uses diffusers' :class:`~diffusers.DDPMScheduler` (noise the chunk, predict the noise); sampling uses
:class:`~diffusers.DDIMScheduler` with the same noise schedule and fewer steps. The UNet is the FiLM-conditioned
temporal UNet of Chi et al. (Diffusion Policy, 2023): residual conv blocks whose features are scaled and shifted by
a projection of (diffusion-step embedding, flattened observations). diffusers' ``UNet1DModel`` takes only a
timestep, no conditioning vector, so the conditioned UNet is built here from torch layers and diffusers'
``Timesteps`` embedding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from policy.algos.base import Policy, PolicyConfig, register_policy

__all__ = ["ConditionalUnet1D", "DiffusionConfig", "DiffusionPolicy"]


@dataclass
class DiffusionConfig(PolicyConfig):
    """Diffusion policy (DDPM training, DDIM sampling).

    Attributes:
        down_dims: UNet channel widths per level (the chunk is halved in time at each level but the last).
        kernel_size: temporal conv kernel.
        n_groups: GroupNorm groups.
        step_embed_dim: diffusion-step embedding size.
        num_train_timesteps, beta_schedule, prediction_type, clip_sample: the DDPM noise schedule.
        num_inference_steps: DDIM steps when sampling.
    """

    obs_horizon: int = 2
    pred_horizon: int = 16
    n_action_steps: int = 8
    down_dims: tuple[int, ...] = (64, 128, 256)
    kernel_size: int = 5
    n_groups: int = 8
    step_embed_dim: int = 128
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "sample"  # the clean chunk; "epsilon" (the paper's) learns far slower on a CPU budget
    clip_sample: bool = True
    num_inference_steps: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        levels = len(self.down_dims) - 1
        if self.pred_horizon % (2**levels):
            raise ValueError(
                f"DiffusionConfig: pred_horizon={self.pred_horizon} must be divisible by 2**{levels} "
                f"(down_dims has {len(self.down_dims)} levels)"
            )
        if any(d % self.n_groups for d in self.down_dims):
            raise ValueError(f"DiffusionConfig: every down_dims entry must be divisible by n_groups={self.n_groups}")
        if self.prediction_type not in ("epsilon", "sample"):
            raise ValueError(f"DiffusionConfig.prediction_type must be 'epsilon' or 'sample', got {self.prediction_type!r}")
        if not 1 <= self.num_inference_steps <= self.num_train_timesteps:
            raise ValueError("DiffusionConfig: need 1 <= num_inference_steps <= num_train_timesteps")


class _ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, groups: int):
        super().__init__(nn.Conv1d(cin, cout, k, padding=k // 2), nn.GroupNorm(groups, cout), nn.Mish())


class _CondResBlock(nn.Module):
    """Two conv blocks; the first one's output is FiLM-modulated by the conditioning vector."""

    def __init__(self, cin: int, cout: int, cond_dim: int, k: int, groups: int):
        super().__init__()
        self.b1, self.b2 = _ConvBlock(cin, cout, k, groups), _ConvBlock(cout, cout, k, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * cout))
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        return self.b2(self.b1(x) * scale + shift) + self.skip(x)


class ConditionalUnet1D(nn.Module):
    """(B, C, T) noisy chunk, (B,) diffusion steps, (B, G) global condition -> (B, C, T)."""

    def __init__(self, channels: int, cond_dim: int, down_dims=(64, 128, 256), k: int = 5, groups: int = 8,
                 step_embed_dim: int = 128):
        super().__init__()
        from diffusers.models.embeddings import Timesteps

        self.step_embed = nn.Sequential(
            Timesteps(step_embed_dim, flip_sin_to_cos=True, downscale_freq_shift=0),
            nn.Linear(step_embed_dim, 4 * step_embed_dim),
            nn.Mish(),
            nn.Linear(4 * step_embed_dim, step_embed_dim),
        )
        c = step_embed_dim + cond_dim
        dims = [channels, *down_dims]
        self.down = nn.ModuleList()
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            last = i == len(down_dims) - 1
            self.down.append(nn.ModuleList([
                _CondResBlock(a, b, c, k, groups), _CondResBlock(b, b, c, k, groups),
                nn.Conv1d(b, b, 3, stride=2, padding=1) if not last else nn.Identity(),
            ]))
        self.mid = nn.ModuleList([_CondResBlock(down_dims[-1], down_dims[-1], c, k, groups) for _ in range(2)])
        self.up = nn.ModuleList()
        for a, b in reversed(list(zip(down_dims[:-1], down_dims[1:]))):
            self.up.append(nn.ModuleList([
                _CondResBlock(2 * b, a, c, k, groups), _CondResBlock(a, a, c, k, groups),
                nn.ConvTranspose1d(a, a, 4, stride=2, padding=1),
            ]))
        self.out = nn.Sequential(_ConvBlock(down_dims[0], down_dims[0], k, groups), nn.Conv1d(down_dims[0], channels, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        g = torch.cat([self.step_embed(t), cond], dim=-1)
        skips = []
        for r1, r2, down in self.down:
            x = r2(r1(x, g), g)
            skips.append(x)
            x = down(x)
        for r in self.mid:
            x = r(x, g)
        for (r1, r2, up), skip in zip(self.up, reversed(skips[1:])):
            x = up(r2(r1(torch.cat([x, skip], dim=1), g), g))
        return self.out(x)


@register_policy("diffusion", DiffusionConfig)
class DiffusionPolicy(Policy):
    def __init__(self, cfg: DiffusionConfig, obs_dim: int, action_dim: int, image_shape=None):
        super().__init__(cfg, obs_dim, action_dim, image_shape)
        from diffusers import DDIMScheduler, DDPMScheduler

        self.unet = ConditionalUnet1D(
            action_dim, cfg.obs_horizon * self.feat_dim, cfg.down_dims, cfg.kernel_size, cfg.n_groups, cfg.step_embed_dim
        )
        sched = dict(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule,
                     clip_sample=cfg.clip_sample, prediction_type=cfg.prediction_type)
        self.train_scheduler = DDPMScheduler(**sched)
        self.sample_scheduler = DDIMScheduler(**sched)

    def _denoise(self, x: torch.Tensor, t: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return self.unet(x.transpose(1, 2), t, obs.flatten(1)).transpose(1, 2)

    def compute_loss(self, obs, actions, images=None):
        obs = self.encode(obs, actions, images)
        noise = torch.randn_like(actions)
        t = torch.randint(0, self.cfg.num_train_timesteps, (len(actions),), device=actions.device)
        noisy = self.train_scheduler.add_noise(actions, noise, t)
        pred = self._denoise(noisy, t, obs)
        target = noise if self.cfg.prediction_type == "epsilon" else actions
        return F.mse_loss(pred, target)

    @torch.no_grad()
    def predict(self, obs, generator=None, images=None):
        obs = self.encode(obs, images=images)
        shape = (len(obs), self.cfg.pred_horizon, self.action_dim)
        x = torch.randn(shape, generator=generator, dtype=obs.dtype).to(obs.device)
        sched = self.sample_scheduler
        sched.set_timesteps(self.cfg.num_inference_steps)
        for t in sched.timesteps:
            eps = self._denoise(x, t.expand(len(obs)).to(obs.device), obs)
            x = sched.step(eps, t, x, generator=generator).prev_sample
        return x
