"""``hoi-train-policy``: train a registered policy on a demo HDF5 file, resumably.

    hoi-train-policy dataset=data/demos/Lift_expert_100.hdf5 policy=diffusion out=runs/policy/lift_dp
    hoi-train-policy ... resume=true            # continue from <out>/checkpoints/latest

Run folder ``out``::

    checkpoints/step_000500/  model.safetensors (EMA weights if ema), model_raw.safetensors, config.json,
                              normalization.json, train_state.pt (optimizer, LR scheduler, EMA, RNG, step)
    checkpoints/latest        name of the newest complete checkpoint (written last: an interrupted save is ignored)
    loss.csv, loss.png        training / validation loss curves
    normalization.json        the statistics the checkpoints use (also inside every checkpoint)

Batches come from a permutation of the training windows drawn from ``(seed, epoch)`` alone, and the torch RNG
state is saved with each checkpoint, so a run resumed from a checkpoint continues exactly as the uninterrupted
run would have (same thread count).
"""
from __future__ import annotations

import copy
import csv
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from tqdm import tqdm

from hoi2robot.config import CONFIG_PATH, to_plain, write_json
from policy.algos import Policy, make_policy, policy_config
from policy.datasets.hdf5 import DatasetError, DemoFile, Normalizer, SequenceDataset

log = logging.getLogger(__name__)

__all__ = ["TrainConfig", "latest_checkpoint", "load_checkpoint", "main", "save_checkpoint", "train"]

CHECKPOINT_CONFIG = "config.json"


@dataclass
class TrainConfig:
    """Validated ``configs/train_policy.yaml``.

    Attributes:
        dataset: demo HDF5 file.
        out: run folder.
        policy: registered algorithm name; ``policy_cfg``: its config values.
        obs_keys: low-dim observation keys (None: the file's ``env_args["lowdim_keys"]``).
        steps: optimizer steps; batch_size; lr; weight_decay; warmup_steps; lr_schedule (diffusers name).
        epochs: when set, the budget in passes over the training windows instead (``steps`` is then
            ``round(epochs * steps per epoch)``, as robomimic and the diffusion-policy papers count training), so
            that datasets of different sizes get the same number of passes, not the same number of batches.
        ema_decay: EMA of the weights (0 disables); checkpoints hold the EMA weights in model.safetensors.
        checkpoint_every: steps between checkpoints (the last step always saves); keep_last: checkpoints kept.
        valid_every: steps between validation losses.
        norm_mode: "minmax" or "gaussian".
        seed: training seed; num_threads: torch threads; resume: continue from the latest checkpoint in ``out``.
        only_successful: train on successful demos only.
        max_demos: use at most this many (the first) training demos (None: all).
        image_keys: camera observations (``<cam>_image``) the policy also sees through a small CNN (the demos must
            have been collected with those cameras); evaluation then renders them at the demos' size.
    """

    dataset: str
    out: str
    policy: str = "bc"
    policy_cfg: dict[str, Any] = field(default_factory=dict)
    obs_keys: list[str] | None = None
    steps: int = 2000
    epochs: float | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-6
    warmup_steps: int = 100
    lr_schedule: str = "cosine"
    ema_decay: float = 0.995
    checkpoint_every: int = 500
    keep_last: int = 5
    valid_every: int = 250
    norm_mode: str = "minmax"
    seed: int = 0
    num_threads: int = 1
    resume: bool = False
    only_successful: bool = True
    max_demos: int | None = None
    image_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        policy_config(self.policy, self.policy_cfg)  # validates name and values
        for name in ("steps", "batch_size", "checkpoint_every", "keep_last", "valid_every", "num_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"train_policy.{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"train_policy.epochs must be > 0 (or null: train for `steps`), got {self.epochs}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"train_policy.ema_decay must be in [0, 1), got {self.ema_decay}")

    @classmethod
    def from_cfg(cls, cfg: DictConfig | dict) -> "TrainConfig":
        d = to_plain(cfg) if not isinstance(cfg, dict) else copy.deepcopy(cfg)
        d.pop("hydra", None)
        pol = d.pop("policy")
        if isinstance(pol, dict):  # the configs/policy/ group: {name, ...values}
            pol = dict(pol)
            d["policy"] = pol.pop("name")
            d["policy_cfg"] = {**pol, **(d.get("policy_cfg") or {})}
        else:
            d["policy"] = pol
        return cls(**d)


# ------------------------------------------------------------------------------------------------ checkpoints
def _atomic_dir_write(final: Path, write) -> Path:
    tmp = final.with_name(f".{final.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def save_checkpoint(
    ckpt_dir: Path,
    policy: Policy,
    ema_policy: Policy | None,
    normalizer: Normalizer,
    meta: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder atomically (see the module doc)."""
    from safetensors.torch import save_file

    def write(d: Path) -> None:
        weights = (ema_policy or policy).state_dict()
        save_file({k: v.contiguous() for k, v in weights.items()}, str(d / "model.safetensors"))
        if ema_policy is not None:
            save_file({k: v.contiguous() for k, v in policy.state_dict().items()}, str(d / "model_raw.safetensors"))
        (d / CHECKPOINT_CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
        normalizer.save(d / "normalization.json")
        if train_state is not None:
            torch.save(train_state, d / "train_state.pt")

    return _atomic_dir_write(Path(ckpt_dir), write)


def latest_checkpoint(run_or_ckpt: str | Path) -> Path:
    """The checkpoint folder named by ``<run>/checkpoints/latest`` (or the folder itself if it is a checkpoint)."""
    p = Path(run_or_ckpt)
    if (p / CHECKPOINT_CONFIG).is_file():
        return p
    pointer = p / "checkpoints" / "latest"
    if pointer.is_file():
        ckpt = p / "checkpoints" / pointer.read_text().strip()
        if (ckpt / CHECKPOINT_CONFIG).is_file():
            return ckpt
    raise FileNotFoundError(f"no policy checkpoint at {p} (expected {p}/{CHECKPOINT_CONFIG} or {pointer})")


def load_checkpoint(path: str | Path, weights: str = "model") -> tuple[Policy, Normalizer, dict[str, Any]]:
    """Load (policy in eval mode, normalizer, meta) from a checkpoint folder or a run folder (its latest)."""
    from safetensors.torch import load_file

    ckpt = latest_checkpoint(path)
    meta = json.loads((ckpt / CHECKPOINT_CONFIG).read_text())
    policy = make_policy(meta["policy"], meta["policy_config"], meta["obs_dim"], meta["action_dim"],
                         meta.get("image_shape"))
    wfile = ckpt / f"{weights}.safetensors"
    if not wfile.is_file():
        raise FileNotFoundError(f"checkpoint weights not found: {wfile}")
    policy.load_state_dict(load_file(str(wfile)))
    policy.eval()
    return policy, Normalizer.load(ckpt / "normalization.json"), meta


# ------------------------------------------------------------------------------------------------ training
def _write_curves(out: Path, rows: list[dict[str, Any]]) -> None:
    with open(out / ".loss.csv.tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "train_loss", "valid_loss", "lr"])
        w.writeheader()
        w.writerows(rows)
    os.replace(out / ".loss.csv.tmp", out / "loss.csv")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    tr = [r for r in rows if r["train_loss"] != ""]
    va = [r for r in rows if r["valid_loss"] != ""]
    if tr:
        ax.plot([r["step"] for r in tr], [r["train_loss"] for r in tr], label="train")
    if va:
        ax.plot([r["step"] for r in va], [r["valid_loss"] for r in va], "o-", label="valid")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    if tr or va:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)


def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def _obs_keys(cfg: TrainConfig) -> list[str]:
    if cfg.obs_keys:
        return list(cfg.obs_keys)
    with DemoFile(cfg.dataset) as f:
        keys = f.env_args.get("lowdim_keys")
    if not keys:
        raise DatasetError(f"{cfg.dataset}: env_args has no 'lowdim_keys'; set train_policy.obs_keys")
    return list(keys)


def train(cfg: TrainConfig, stop_after: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) per ``cfg``; ``stop_after`` ends the run after that many steps of *this call* without a
    final checkpoint beyond the regular ones (simulates an interrupt in tests). Returns a summary dict."""
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    torch.set_num_threads(cfg.num_threads)
    out = Path(cfg.out)
    ckpt_root = out / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    pcfg = policy_config(cfg.policy, cfg.policy_cfg)
    obs_keys = _obs_keys(cfg)
    data = SequenceDataset(cfg.dataset, obs_keys, pcfg.obs_horizon, pcfg.pred_horizon, split="train",
                           norm_mode=cfg.norm_mode, only_successful=cfg.only_successful, image_keys=cfg.image_keys)
    if cfg.max_demos is not None:  # the first max_demos training demos (statistics stay those of the split)
        data.index = [(e, t) for e, t in data.index if e < cfg.max_demos]
    try:
        valid = SequenceDataset(cfg.dataset, obs_keys, pcfg.obs_horizon, pcfg.pred_horizon, split="valid",
                                normalizer=data.normalizer, only_successful=cfg.only_successful,
                                image_keys=cfg.image_keys)
    except DatasetError:
        valid = None
    normalizer = data.normalizer
    normalizer.save(out / "normalization.json")
    n = len(data)
    steps_per_epoch = max(1, n // cfg.batch_size)
    total = cfg.steps if cfg.epochs is None else max(1, round(cfg.epochs * steps_per_epoch))

    torch.manual_seed(cfg.seed)
    policy = make_policy(cfg.policy, pcfg, data.obs_dim, data.action_dim, data.image_shape)
    policy.train()
    ema_policy = copy.deepcopy(policy) if cfg.ema_decay > 0 else None
    ema = EMAModel(policy.parameters(), decay=cfg.ema_decay, use_ema_warmup=True, power=0.75) if ema_policy else None
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = get_scheduler(cfg.lr_schedule, opt, num_warmup_steps=cfg.warmup_steps, num_training_steps=total)
    step, curves, resumed_running = 0, [], []
    meta = {
        "policy": cfg.policy,
        "policy_config": pcfg.to_dict(),
        "obs_keys": obs_keys,
        "obs_dim": data.obs_dim,
        "action_dim": data.action_dim,
        "image_keys": list(cfg.image_keys),
        "image_shape": list(data.image_shape) if data.image_shape else None,
        "env_args": data.env_args,
        "dataset": str(cfg.dataset),
        "train_demos": len({e for e, _ in data.index}),
        "train_config": asdict(cfg),
        "total_steps": total,
    }

    if cfg.resume and (ckpt_root / "latest").is_file():
        ckpt = latest_checkpoint(out)
        state = torch.load(ckpt / "train_state.pt", weights_only=False)
        from safetensors.torch import load_file

        policy.load_state_dict(load_file(str(ckpt / ("model_raw.safetensors" if ema else "model.safetensors"))))
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if ema:
            ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["torch_rng"])
        step, curves, resumed_running = int(state["step"]), list(state["curves"]), list(state.get("running", []))
        log.info("resumed from %s at step %d", ckpt, step)

    t0 = time.perf_counter()
    start_step = step
    bar = tqdm(total=total, initial=step, desc=f"train {cfg.policy}", unit="step", disable=not progress)
    running, initial_loss = resumed_running, None
    while step < total:
        if stop_after is not None and step - start_step >= stop_after:
            break
        epoch, k = divmod(step, steps_per_epoch)
        order = _epoch_order(cfg.seed, epoch, n)
        idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
        batch = data.batch(idx)
        loss = policy.compute_loss(batch["obs"], batch["actions"], batch.get("images"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
        opt.step()
        sched.step()
        if ema:
            ema.step(policy.parameters())
        step += 1
        running.append(float(loss.detach()))
        if initial_loss is None:
            initial_loss = running[-1]
        bar.update(1)
        row = None
        if step % 50 == 0 or step == total:
            row = {"step": step, "train_loss": float(np.mean(running)), "valid_loss": "", "lr": sched.get_last_lr()[0]}
            running = []
            bar.set_postfix(loss=f"{row['train_loss']:.4f}")
        if valid is not None and (step % cfg.valid_every == 0 or step == total):
            row = row or {"step": step, "train_loss": "", "valid_loss": "", "lr": sched.get_last_lr()[0]}
            row["valid_loss"] = _valid_loss(policy, ema, ema_policy, valid, cfg)
        if row:
            curves.append(row)
        if step % cfg.checkpoint_every == 0 or step == total:
            if ema:
                ema.copy_to(ema_policy.parameters())
            state = {
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "ema": ema.state_dict() if ema else None,
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "curves": curves,
                "running": running,  # losses since the last curve row
            }
            name = f"step_{step:07d}"
            save_checkpoint(ckpt_root / name, policy, ema_policy, normalizer, {**meta, "step": step}, state)
            tmp = ckpt_root / ".latest.tmp"
            tmp.write_text(name + "\n")
            os.replace(tmp, ckpt_root / "latest")
            for old in sorted(ckpt_root.glob("step_*"))[: -cfg.keep_last]:
                shutil.rmtree(old)
            _write_curves(out, curves)
    bar.close()
    return {
        "out": str(out),
        "step": step,
        "total_steps": total,
        "epochs": cfg.epochs,  # None: trained for ``steps``
        "seconds": time.perf_counter() - t0,
        "final_train_loss": next((r["train_loss"] for r in reversed(curves) if r["train_loss"] != ""), None),
        "initial_loss": initial_loss,  # first batch of this call
        "first_train_loss": next((r["train_loss"] for r in curves if r["train_loss"] != ""), None),
        "checkpoints": [str(p) for p in sorted(ckpt_root.glob("step_*"))],
        "train_windows": n,
    }


@torch.no_grad()
def _valid_loss(policy, ema, ema_policy, valid: SequenceDataset, cfg: TrainConfig) -> float:
    """Mean loss on the validation windows (EMA weights if any), with a fixed noise seed; leaves the RNG as it was."""
    model = policy
    if ema:
        ema.copy_to(ema_policy.parameters())
        model = ema_policy
    state = torch.get_rng_state()
    torch.manual_seed(cfg.seed + 12345)
    model.eval()
    losses = []
    for i in range(0, min(len(valid), 1024), cfg.batch_size):
        b = valid.batch(range(i, min(i + cfg.batch_size, len(valid))))
        losses.append(float(model.compute_loss(b["obs"], b["actions"], b.get("images"))))
    model.train()
    torch.set_rng_state(state)
    return float(np.mean(losses))


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="train_policy")
def main(cfg: DictConfig) -> None:
    tc = TrainConfig.from_cfg(cfg)
    summary = train(tc)
    write_json(Path(tc.out) / "train_summary.json", summary)
    print(f"trained {tc.policy} for {summary['step']} steps in {summary['seconds']:.0f} s; "
          f"loss {summary['first_train_loss']} -> {summary['final_train_loss']}; checkpoints in {tc.out}/checkpoints")


if __name__ == "__main__":
    main()
