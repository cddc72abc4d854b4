"""``hoi-demo``: the main job on embedded defaults — one task end to end, artifacts in the folder it prints.

Drivers (``driver=``):

* ``tracked-hand`` (default): the engine's demo video of a human hand doing the task (``sim.handsim``, same object
  placement as the robot's ``seed``) → MediaPipe hand track → retargeted gripper trajectory (``policy.retarget``,
  with the context frame's depth unless ``depth=false``) → closed-loop OSC rollout of the simulated Panda.
* ``expert``: the scripted expert drives the robot (the controller/task baseline).

Writes:

* ``rollout.mp4`` — side by side: the hand demo (``tracked-hand``: with the tracked keypoints and grasp point, stretched
  over the rollout's length) | the episode seen from each configured camera;
* ``context.png`` — the context frame (``tracked-hand``: the demo's first frame without the hand; ``expert``: the
  first frame of the egocentric view if recorded, else of the first camera);
* ``cameras/<name>.json`` — each camera's :class:`~hoi2robot.contracts.CameraModel` (``tracked-hand`` adds
  ``cameras/demo.json``, the demo's camera);
* ``tracked-hand`` also: ``track.npz``, ``ee.npz``/``ee.json`` (the retargeted trajectory), ``joints.json`` (its
  IK joint trajectory);
* ``summary.json`` — task, instruction, seed, driver, success, steps, timing (and the retargeting report).
"""
from __future__ import annotations

import time

import hydra
import numpy as np
from omegaconf import DictConfig

from hoi2robot.config import CONFIG_PATH, run_dir, to_plain, write_json
from hoi2robot.media import write_image, write_video

DRIVERS = ("tracked-hand", "expert")


def _resize(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if frames.shape[1:3] == tuple(hw):
        return frames
    return np.stack([cv2.resize(f, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) for f in frames])


def _stretch(frames: np.ndarray, n: int) -> np.ndarray:
    """``n`` frames sampled evenly from ``frames`` (the demo shown over the whole rollout)."""
    idx = np.round(np.linspace(0, len(frames) - 1, n)).astype(int)
    return frames[idx]


def run(cfg: DictConfig, out_dir) -> dict:
    from sim.tasks import make_env

    if cfg.driver not in DRIVERS:
        raise ValueError(f"unknown driver {cfg.driver!r}; available: {list(DRIVERS)}")
    cams = list(cfg.cameras)
    env = make_env(cfg.task.name, cameras=cams, image_size=tuple(cfg.image_size), horizon=cfg.task.horizon)
    views: dict[str, list[np.ndarray]] = {c: [] for c in cams}

    def keep_frames(obs: dict) -> None:
        for c in cams:
            views[c].append(obs[f"{c}_image"])

    extra: dict = {}
    demo_panel = None
    try:
        t0 = time.perf_counter()
        if cfg.driver == "expert":
            from sim.experts import make_expert, run_episode

            result = run_episode(env, make_expert(cfg.task.name), seed=cfg.seed, on_obs=keep_frames)
        else:
            result, extra, demo_panel = _tracked_hand(cfg, env, keep_frames, out_dir)
        seconds = time.perf_counter() - t0
        for c in cams:
            env.unwrapped.camera_model(c).save(out_dir / "cameras" / f"{c}.json")
        instruction = env.unwrapped.instruction
    finally:
        env.close()
    robot = np.concatenate([np.stack(views[c]) for c in cams], axis=2)
    if demo_panel is not None:
        panel = _stretch(_resize(demo_panel, tuple(cfg.image_size)), len(robot))
        robot = np.concatenate([panel, robot], axis=2)
    write_video(out_dir / "rollout.mp4", robot, fps=20)
    if cfg.driver == "expert":
        write_image(out_dir / "context.png", views["egoview" if "egoview" in cams else cams[0]][0])
    summary = {
        "task": cfg.task.name,
        "instruction": instruction,
        "seed": cfg.seed,
        "driver": cfg.driver,
        "success": bool(result["success"]),
        "steps": int(result["steps"]),
        "seconds": seconds,
        **extra,
        "config": to_plain(cfg),
    }
    write_json(out_dir / "summary.json", summary)
    return summary


def _tracked_hand(cfg: DictConfig, env, keep_frames, out_dir) -> tuple[dict, dict, np.ndarray]:
    """Engine demo → MediaPipe → retarget → closed-loop rollout. Returns (episode result, summary extras, the
    demo video with the track drawn on it)."""
    from hoi_videogen.hands import HandTracker
    from policy.retarget import RetargetError, Retargeter, load_config, solve_joint_trajectory
    from policy.retarget.cli import draw_overlay
    from policy.retarget.execute import execute_ee_trajectory
    from policy.retarget.rows import context_depth, demo_clip

    timings = {}
    t = time.perf_counter()
    clip = demo_clip(cfg.task.name, int(cfg.seed))
    timings["demo"] = time.perf_counter() - t
    write_image(out_dir / "context.png", clip.context)
    clip.camera.save(out_dir / "cameras" / "demo.json")
    t = time.perf_counter()
    with HandTracker(**dict(cfg.tracker)) as tracker:
        track = tracker.track(clip.video, fps=clip.fps)
    timings["track"] = time.perf_counter() - t
    track.save(out_dir / "track.npz")
    depth = context_depth(cfg.task.name, int(cfg.seed)) if cfg.depth else None
    rcfg = load_config(cfg.retarget_config)
    retargeter = Retargeter(rcfg)
    t = time.perf_counter()
    try:
        ee = retargeter.retarget(track, clip.camera, depth)
    except RetargetError as exc:
        raise SystemExit(f"hoi-demo: the demo video could not be retargeted: {exc}") from exc
    timings["retarget"] = time.perf_counter() - t
    rep = retargeter.last_report
    ee.save(out_dir / "ee.npz")
    ee.save(out_dir / "ee.json")
    t = time.perf_counter()
    solve_joint_trajectory(ee, np.asarray(env.reset(seed=int(cfg.seed))[0]["robot0_joint_pos"])).save(out_dir / "joints.json")
    timings["ik"] = time.perf_counter() - t
    t = time.perf_counter()
    result = execute_ee_trajectory(env, ee, seed=int(cfg.seed), on_obs=keep_frames, objects=rcfg.objects)
    timings["rollout"] = time.perf_counter() - t
    overlay = draw_overlay(clip.video, track, clip.camera, rep.grasp_point, rep.gripper_frames)
    from sim.handsim.engine import get_scene

    get_scene(cfg.task.name).close()  # free its GL renderers now, not at interpreter exit
    extra = {
        "demo_success": clip.success,
        "hand_detection_rate": track.detection_rate(),
        "retarget": rep.to_dict(),
        "tracking_error_mean_m": result["tracking_error_mean"],
        "timings": timings,
    }
    return result, extra, overlay


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
