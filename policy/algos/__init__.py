"""Imitation-learning algorithms behind a registry (``POLICIES``), one config dataclass each:
``bc`` (MLP), ``bc_transformer`` (ACT-lite action chunking), ``diffusion`` (DDPM/DDIM over action chunks)."""
from policy.algos.base import POLICIES, ImageEncoder, Policy, PolicyConfig, make_policy, policy_config, register_policy
from policy.algos import bc, diffusion  # noqa: F401  (registers the algorithms)
from policy.algos.bc import BCConfig, BCPolicy, BCTransformerConfig, BCTransformerPolicy
from policy.algos.diffusion import DiffusionConfig, DiffusionPolicy

__all__ = [
    "POLICIES",
    "ImageEncoder",
    "BCConfig",
    "BCPolicy",
    "BCTransformerConfig",
    "BCTransformerPolicy",
    "DiffusionConfig",
    "DiffusionPolicy",
    "Policy",
    "PolicyConfig",
    "make_policy",
    "policy_config",
    "register_policy",
]
