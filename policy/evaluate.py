"""``hoi-eval-policy``: run a trained policy closed loop in the simulated task over N seeds.

:class:`PolicyRunner` turns a checkpoint into an ``Expert``-like controller (``reset()``, ``act(obs)``) with
receding-horizon execution: it keeps the last ``obs_horizon`` observations, predicts a chunk of ``pred_horizon``
actions and executes the first ``n_action_steps`` before predicting again. Sampling noise (diffusion) comes from a
generator seeded with the episode seed, so an evaluation is deterministic per seed.

    hoi-eval-policy checkpoint=runs/policy/Lift_dp seeds=50 seed_offset=1000 videos=2 [task_name=Lift]
    -> <out>/eval.json (success per seed), <out>/rollout_seed<k>.mp4
"""
from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from tqdm import tqdm

from hoi2robot.config import CONFIG_PATH, machine_info, run_dir, to_plain, worker_pool, write_json
from policy.datasets.hdf5 import flat_obs

log = logging.getLogger(__name__)

__all__ = ["EvalConfig", "PolicyRunner", "evaluate", "main", "rollout"]


class PolicyRunner:
    """A trained policy as a controller: ``reset(seed)`` at episode start, ``act(obs) -> (7,)`` every step.

    Args:
        checkpoint: a checkpoint folder or a run folder (its latest checkpoint).
        n_action_steps: override the policy's actions executed per chunk.
        weights: "model" (EMA weights when trained with EMA) or "model_raw".
    """

    def __init__(self, checkpoint: str | Path, n_action_steps: int | None = None, weights: str = "model"):
        from policy.train import latest_checkpoint, load_checkpoint

        self.checkpoint = latest_checkpoint(checkpoint)
        self.policy, self.normalizer, self.meta = load_checkpoint(self.checkpoint, weights)
        c = self.policy.cfg
        self.obs_keys = list(self.meta["obs_keys"])
        self.obs_horizon, self.pred_horizon = c.obs_horizon, c.pred_horizon
        self.n_action_steps = int(n_action_steps or c.n_action_steps)
        if not 1 <= self.n_action_steps <= self.pred_horizon:
            raise ValueError(f"n_action_steps must be in [1, {self.pred_horizon}], got {self.n_action_steps}")
        self.image_keys = list(self.meta.get("image_keys") or [])
        self.task = self.meta.get("env_args", {}).get("task")
        self.episode_seed = 0
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Start an episode; ``seed`` (default: the last one given) seeds the sampling noise."""
        if seed is not None:
            self.episode_seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.episode_seed)
        self.history: deque[np.ndarray] = deque(maxlen=self.obs_horizon)
        self.image_history: deque[np.ndarray] = deque(maxlen=self.obs_horizon)
        self.queue: deque[np.ndarray] = deque()

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        o = self.normalizer.normalize("obs", flat_obs(obs, self.obs_keys))
        self.history.append(o)
        while len(self.history) < self.obs_horizon:  # episode start: repeat the first observation
            self.history.appendleft(o)
        if self.image_keys:
            missing = [k for k in self.image_keys if k not in obs]
            if missing:
                raise KeyError(f"policy {self.checkpoint} needs image observations {missing}: make the env with "
                               f"cameras={[k[: -len('_image')] for k in self.image_keys]}")
            im = np.stack([obs[k] for k in self.image_keys]).transpose(0, 3, 1, 2)
            self.image_history.append(im)
            while len(self.image_history) < self.obs_horizon:
                self.image_history.appendleft(im)
        if not self.queue:
            x = torch.from_numpy(np.stack(self.history))[None]
            images = torch.from_numpy(np.stack(self.image_history))[None] if self.image_keys else None
            chunk = self.policy.predict(x, generator=self.generator, images=images)[0]
            actions = self.normalizer.unnormalize("action", chunk).numpy()
            self.queue.extend(np.clip(actions[: self.n_action_steps], -1.0, 1.0).astype(np.float64))
        return self.queue.popleft()


def rollout(env, runner: PolicyRunner, seed: int, record: list | None = None, max_steps: int | None = None) -> dict:
    """One closed-loop episode from ``env.reset(seed=seed)`` (ends at success or the env's horizon)."""
    from sim.experts import run_episode

    runner.reset(seed)
    return run_episode(env, runner, seed=seed, record=record, max_steps=max_steps)


@dataclass
class EvalConfig:
    """Validated ``configs/eval_policy.yaml``."""

    checkpoint: str
    task: str | None = None  # default: the task the policy was trained on
    seeds: int = 50
    seed_offset: int = 1000  # held out: demos use seeds 0 ..
    workers: int = 1
    videos: int = 2  # record the first this many seeds
    video_size: tuple[int, int] = (256, 256)
    n_action_steps: int | None = None
    weights: str = "model"
    num_threads: int = 1
    out: str | None = None  # default: the Hydra run folder

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.workers < 1 or self.videos < 0:
            raise ValueError("eval_policy: seeds and workers must be >= 1, videos >= 0")
        self.video_size = tuple(int(s) for s in self.video_size)

    @classmethod
    def from_cfg(cls, cfg: DictConfig | dict) -> "EvalConfig":
        d = to_plain(cfg) if not isinstance(cfg, dict) else dict(cfg)
        d.pop("hydra", None)
        if "task_name" in d:  # the YAML key (``task`` would clash with the configs/task/ group on the command line)
            d["task"] = d.pop("task_name")
        if isinstance(d.get("task"), dict):  # composed with the task group: {name, horizon, instruction}
            d["task"] = d["task"]["name"]
        return cls(**d)


def _eval_chunk(cfg: EvalConfig, task: str, seeds: Sequence[int]) -> list[tuple[dict, np.ndarray | None]]:
    return list(_eval_iter(cfg, task, seeds))


def _eval_iter(cfg: EvalConfig, task: str, seeds: Sequence[int]):
    """Yield (rollout result, recorded frames or None) per seed, with one runner and one env."""
    from sim.tasks import make_env

    torch.set_num_threads(cfg.num_threads)
    runner = PolicyRunner(cfg.checkpoint, cfg.n_action_steps, cfg.weights)
    need_video = any(s < cfg.seed_offset + cfg.videos for s in seeds)
    size, cameras = cfg.video_size, [k[: -len("_image")] for k in runner.image_keys]
    if cameras:  # image policies see the cameras at their training size (the videos then have that size too)
        size = tuple(runner.meta["image_shape"][2:])
    env = make_env(task, cameras=cameras, render_mode="rgb_array" if need_video else None, image_size=size)
    try:
        for seed in seeds:
            record = [] if seed < cfg.seed_offset + cfg.videos else None
            res = rollout(env, runner, seed, record)
            yield res, (np.stack(record) if record else None)
    finally:
        env.close()


def evaluate(cfg: EvalConfig, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Evaluate over seeds ``seed_offset ..``; writes ``eval.json`` and rollout mp4s to ``out_dir``."""
    from hoi2robot.media import write_video
    from policy.train import latest_checkpoint
    import json

    out_dir = Path(out_dir)
    ckpt = latest_checkpoint(cfg.checkpoint)
    meta = json.loads((ckpt / "config.json").read_text())
    task = cfg.task or meta.get("env_args", {}).get("task")
    if not task:
        raise ValueError(f"eval_policy.task not given and checkpoint {ckpt} names no task")
    seeds = list(range(cfg.seed_offset, cfg.seed_offset + cfg.seeds))
    chunks = [seeds[i :: cfg.workers] for i in range(cfg.workers)] if cfg.workers > 1 else [seeds]
    results, videos = [], {}
    t0 = time.perf_counter()
    with tqdm(total=len(seeds), desc=f"eval {meta['policy']} {task}", unit="ep", disable=not progress) as bar:
        def done(chunk_out):
            for res, video in chunk_out:
                results.append(res)
                if video is not None:
                    videos[res["seed"]] = str(write_video(out_dir / f"rollout_seed{res['seed']}.mp4", video, fps=20))
                bar.update(1)
            bar.set_postfix(success=f"{np.mean([r['success'] for r in results]):.0%}")

        if cfg.workers == 1:
            for item in _eval_iter(cfg, task, seeds):
                done([item])
        else:
            with worker_pool(cfg.workers) as pool:
                for fut in as_completed([pool.submit(_eval_chunk, cfg, task, c) for c in chunks if c]):
                    done(fut.result())
    results.sort(key=lambda r: r["seed"])
    record = {
        "checkpoint": str(ckpt),
        "policy": meta["policy"],
        "step": meta.get("step"),
        "task": task,
        "success_rate": float(np.mean([r["success"] for r in results])),
        "episodes": len(results),
        "mean_steps": float(np.mean([r["steps"] for r in results])),
        "wall_seconds": time.perf_counter() - t0,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "machine": machine_info(),
        "per_seed": [{"seed": r["seed"], "success": bool(r["success"]), "steps": int(r["steps"])} for r in results],
        "videos": videos,
    }
    write_json(out_dir / "eval.json", record)
    return record


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="eval_policy")
def main(cfg: DictConfig) -> None:
    ec = EvalConfig.from_cfg(cfg)
    out = Path(ec.out) if ec.out else run_dir()
    record = evaluate(ec, out)
    print(f"{record['policy']} on {record['task']}: success {100 * record['success_rate']:.0f}% over "
          f"{record['episodes']} seeds ({ec.seed_offset}..{ec.seed_offset + ec.seeds - 1}); {out}/eval.json")


if __name__ == "__main__":
    main()
