"""``hoi-demo``: the main job on embedded defaults — one task end to end, artifacts in the folder it prints.

Now: the scripted expert drives the simulated Panda (the generated-video chain — frame + instruction → hand video →
hand track → trajectory — replaces the expert as those stages land). Writes:

* ``rollout.mp4`` — the episode seen from each configured camera, side by side;
* ``context.png`` — the first frame of the egocentric view if recorded, else of the first camera;
* ``cameras/<name>.json`` — each camera's :class:`~hoi2robot.contracts.CameraModel`;
* ``summary.json`` — task, instruction, seed, success, steps, timing.
"""
from __future__ import annotations

import time

import hydra
import numpy as np
from omegaconf import DictConfig

from hoi2robot.config import CONFIG_PATH, run_dir, to_plain, write_json
from hoi2robot.media import write_image, write_video


def run(cfg: DictConfig, out_dir) -> dict:
    from sim.experts import make_expert, run_episode
    from sim.tasks import make_env

    if cfg.driver != "expert":
        raise ValueError(f"unknown driver {cfg.driver!r}; available: ['expert']")
    cams = list(cfg.cameras)
    env = make_env(cfg.task.name, cameras=cams, image_size=tuple(cfg.image_size), horizon=cfg.task.horizon)
    views: dict[str, list[np.ndarray]] = {c: [] for c in cams}

    def keep_frames(obs: dict) -> None:
        for c in cams:
            views[c].append(obs[f"{c}_image"])

    try:
        t0 = time.perf_counter()
        result = run_episode(env, make_expert(cfg.task.name), seed=cfg.seed, on_obs=keep_frames)
        seconds = time.perf_counter() - t0
        for c in cams:
            env.unwrapped.camera_model(c).save(out_dir / "cameras" / f"{c}.json")
        instruction = env.unwrapped.instruction
    finally:
        env.close()
    write_video(out_dir / "rollout.mp4", np.concatenate([np.stack(views[c]) for c in cams], axis=2), fps=20)
    write_image(out_dir / "context.png", views["egoview" if "egoview" in cams else cams[0]][0])
    summary = {
        "task": cfg.task.name,
        "instruction": instruction,
        "seed": cfg.seed,
        "driver": cfg.driver,
        "success": bool(result["success"]),
        "steps": int(result["steps"]),
        "seconds": seconds,
        "config": to_plain(cfg),
    }
    write_json(out_dir / "summary.json", summary)
    return summary


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="demo")
def main(cfg: DictConfig) -> None:
    out_dir = run_dir()
    summary = run(cfg, out_dir)
    status = "succeeded" if summary["success"] else "FAILED"
    print(f"{cfg.task.name} ({summary['instruction']!r}), seed {cfg.seed}: {cfg.driver} {status} "
          f"in {summary['steps']} steps")
    print(f"artifacts: {out_dir.resolve()}")


if __name__ == "__main__":
    main()
