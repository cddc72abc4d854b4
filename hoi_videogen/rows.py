"""The ``generated`` hoi-bench row: the whole mission on one seed.

    context frame of the seed → generator → hand tracker → retarget → execute in the robot env

Settings come from environment variables (bench workers are spawned processes, so these reach them):

* ``HOI2ROBOT_GENERATOR`` — generator name (default ``tiny``), or a JSON object ``{"name": ..., **kwargs}`` given
  to :func:`hoi_videogen.generators.build_generator`. ``tiny`` without a ``path`` runs the task's shipped weights
  (:func:`task_weights`, ``configs/generated_row.yaml``: PickPlaceCan's are 256², 32 frames; since 2026-11-23, before
  which every task ran the 128² ones). The context frame is rendered at the generator's own
  ``resolution`` (a ``tiny`` pipeline's, or the engine oracle's ``{"name": "engine", "resolution": 256}``), else
  at 128².
* ``HOI2ROBOT_CONTEXT`` — where the context frame comes from:
  ``engine`` (default): the HOI engine's context render of the same seed (same object placement, the robot hidden,
  the engine's lighting), i.e. exactly the distribution the generator was trained on;
  ``robot``: the robot env's own egoview frame at reset (robot arm visible), resized to the generator resolution,
  with its metric depth. See :func:`context_gap` for the measured difference between the two.

  Why ``engine`` is the default (measured, ``bench/results/generated_context_gap.json``, 4 tasks × seeds 1000–1002):
  the robot's egoview frame differs from the engine context of the same seed by 10.9 dB PSNR / 50 mean abs
  difference (0–255): the Panda fills the lower middle of the egocentric view, exactly where the hand must move,
  and the generator only ever saw robot-free scenes. The gap is the price: on a real robot there is no robot-free
  render, so the robot would have to be masked/inpainted out (or the generator trained with it in view).
* ``HOI2ROBOT_TRACKER`` — a MediaPipe preset of ``configs/tracker/``: ``lenient`` (default; confidence thresholds
  0.2 for the blob-like generated hands), ``mediapipe`` (the 0.5 thresholds the rendered and real hands use; the
  default until 2026-11-23), or ``keypoint_net`` (:class:`KeypointNetTracker`). Why ``lenient``: paired per seed on
  the same generator noise (``bench/results/generated_yield_lenient.json``, ``generated_yield_stack_x4.json``),
  MediaPipe finds the hand in ~91% of generated frames instead of ~60%, first generations succeed on 32 instead of
  21 of 150 Lift/Stack/Push seeds, and 32 instead of 12 of 200 Stack seeds succeed within 4 generations (p = 0.002).
  Each result names the tracker it ran (``tracker``). A MediaPipe tracker gets the context frame as the track's
  ``background`` (:func:`track_video`): a detection over pixels the generator kept from the context frame is
  scenery, not a hand (since 2026-11-23; the lenient thresholds find such "hands" in PickPlaceCan's bins).
  Measured with the engine oracle as generator (128², 16 frames, seeds 1000–1004): MediaPipe 60/20/0/0% success on
  Lift/Stack/PickPlaceCan/Push, the keypoint net 0% everywhere: its 2D keypoints are fine (3.5 px, 100% found)
  but its pooled 3D head (~2.8 cm RMS per joint) is too coarse for the retargeter's PnP and grip aperture.
  With the current retargeter (session 8, seeds 1000–1009, ``bench/results/generated_engine_ceiling.json``) the
  engine oracle at 128², 16 frames with MediaPipe gives 90/60/10/70%: the ceiling a perfect generator of this
  clip format reaches (PickPlaceCan's hand is small at 128² in its 55° view).
* ``HOI2ROBOT_RETARGET`` — retarget config name, YAML path or JSON section overrides (default ``default``,
  ``configs/retarget/``), as for the hand rows.
* ``HOI2ROBOT_DEPTH`` — ``1`` (default): retarget with the context frame's metric depth (like ``tracked-hand``);
  ``0``: RGB only (the table-plane prior, like ``tracked-hand-rgb``).

The stages are B's building blocks (:class:`policy.retarget.Retargeter`, :func:`policy.retarget.execute.
execute_ee_trajectory`) rather than :class:`hoi2robot.pipeline.Pipeline`, whose joint-space IK the OSC bench
execution does not need and whose tracker is MediaPipe only.

Usage: ``HOI2ROBOT_GENERATOR=tiny hoi-bench rows=[generated] tasks=[Lift] seeds=20 seed_offset=1000``.
"""
from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hoi2robot.contracts import CameraModel
from sim.bench import register_row

__all__ = ["GeneratedRowConfig", "task_weights", "context_frame", "context_gap", "generated_row", "generation_seed",
           "context_size", "plan_from_context", "plan_summary", "scale_camera", "track_video", "tracker_presets"]

log = logging.getLogger(__name__)

CONTEXTS = ("engine", "robot")
TRACKERS = ("mediapipe", "keypoint_net")
_CACHE: dict[str, Any] = {}  # generator / tracker / retargeter per process (bench workers run many seeds)


@dataclass
class GeneratedRowConfig:
    """What the ``generated`` row uses (see the module docstring for the environment variables)."""

    generator: dict[str, Any]
    context: str = "engine"
    tracker: str = "lenient"
    retarget: str = "default"
    depth: bool = True
    resolution: int = 128  # context size for a generator without a resolution of its own (the engine dataset's)
    camera: str = "egoview"

    def __post_init__(self) -> None:
        if not isinstance(self.generator, dict) or not self.generator.get("name"):
            raise ValueError(f"generated row: generator must be {{'name': ..., ...}}, got {self.generator!r}")
        if self.context not in CONTEXTS:
            raise ValueError(f"generated row: HOI2ROBOT_CONTEXT must be one of {CONTEXTS}, got {self.context!r}")
        if self.tracker not in TRACKERS and self.tracker not in tracker_presets():
            raise ValueError(f"generated row: HOI2ROBOT_TRACKER must be keypoint_net or a MediaPipe preset of "
                             f"configs/tracker/ {tracker_presets()}, got {self.tracker!r}")

    @classmethod
    def from_env(cls, task: str | None = None) -> "GeneratedRowConfig":
        """The row's config from the environment; for ``task``, ``tiny`` without a ``path`` becomes the task's shipped
        weights (:func:`task_weights`)."""
        raw = os.environ.get("HOI2ROBOT_GENERATOR", "tiny").strip() or "tiny"
        if raw.startswith("{"):
            try:
                gen = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"HOI2ROBOT_GENERATOR is not valid JSON: {exc}") from exc
        else:
            gen = {"name": raw}
        if isinstance(gen, dict) and gen.get("name") == "tiny" and gen.get("path") is None and task in task_weights():
            gen = {**gen, "path": task_weights()[task]}
        return cls(
            generator=gen,
            context=os.environ.get("HOI2ROBOT_CONTEXT", "engine"),
            tracker=os.environ.get("HOI2ROBOT_TRACKER", "lenient"),
            retarget=os.environ.get("HOI2ROBOT_RETARGET", "default"),
            depth=os.environ.get("HOI2ROBOT_DEPTH", "1").strip() not in ("0", "false", "no", ""),
        )


@functools.cache
def task_weights() -> dict[str, str]:
    """Task → the ``tiny`` weights folder (absolute) the ``generated`` row runs for it by default
    (``task_weights`` of ``configs/generated_row.yaml``; every listed folder must hold a saved pipeline)."""
    from importlib.resources import files

    import yaml

    from hoi_videogen.pipeline import TINY_WEIGHTS

    raw = yaml.safe_load(files("hoi2robot.configs").joinpath("generated_row.yaml").read_text()) or {}
    entries = raw.get("task_weights") or {}
    if not isinstance(entries, dict):
        raise ValueError(f"configs/generated_row.yaml: task_weights must map task -> weights folder, got {entries!r}")
    out = {}
    for task, name in entries.items():
        folder = TINY_WEIGHTS.parent / str(name)
        if not (folder / "model_index.json").is_file():
            raise FileNotFoundError(f"configs/generated_row.yaml: {task}'s weights {folder} hold no saved pipeline "
                                    "(model_index.json)")
        out[str(task)] = str(folder)
    return out


def scale_camera(camera: CameraModel, width: int, height: int) -> CameraModel:
    """The same camera rendering at ``width``×``height`` (pixel centres at integers: ``u' = (u + 0.5)·s − 0.5``)."""
    sx, sy = width / camera.width, height / camera.height
    K = camera.K.copy()
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 1] *= sx
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return CameraModel(name=camera.name, K=K, width=width, height=height, base_T_cam=camera.base_T_cam)


def context_frame(
    env: Any, task: str, seed: int, mode: str = "engine", resolution: int = 128, camera: str = "egoview"
) -> tuple[np.ndarray, CameraModel, np.ndarray | None]:
    """The generator's input for ``seed``: (H×W×3 uint8 frame, its CameraModel, H×W metric depth or None).

    ``engine``: :func:`sim.handsim.engine.make_clip`'s context (robot hidden, the seed's engine lighting) and the
    engine scene's depth at reset (:func:`policy.retarget.rows.context_depth`, as the ``tracked-hand`` row uses).
    ``robot``: ``env`` must already be reset to ``seed``; its ``camera`` render (robot visible) resized to
    ``resolution`` with the matching depth.
    """
    if mode == "engine":
        from sim.handsim.engine import make_clip

        from policy.retarget.rows import context_depth

        clip = make_clip(task, seed, resolution=resolution, num_frames=2, camera=camera)
        depth = context_depth(task, seed, resolution) if camera == "egoview" else None
        return clip.context, clip.camera, depth
    if mode == "robot":
        base = env.unwrapped
        rgb, depth = base.render_camera(camera, depth=True)
        cam = base.camera_model(camera)
        if rgb.shape[:2] != (resolution, resolution):
            rgb = cv2.resize(rgb, (resolution, resolution), interpolation=cv2.INTER_AREA)
            depth = cv2.resize(depth[..., 0], (resolution, resolution), interpolation=cv2.INTER_NEAREST)
            cam = scale_camera(cam, resolution, resolution)
        else:
            depth = depth[..., 0]
        return np.ascontiguousarray(rgb), cam, depth.astype(np.float32)
    raise ValueError(f"context mode must be one of {CONTEXTS}, got {mode!r}")


def context_gap(env: Any, task: str, seed: int, resolution: int = 128) -> dict[str, float]:
    """How different the two context frames of ``seed`` are: PSNR (dB) and mean abs difference (0–255)."""
    from hoi_videogen.eval import psnr

    env.reset(seed=seed)
    robot, _, _ = context_frame(env, task, seed, "robot", resolution)
    engine, _, _ = context_frame(env, task, seed, "engine", resolution)
    return {"psnr": psnr(robot, engine), "mad": float(np.abs(robot.astype(np.float32) - engine).mean())}


def _cached(key: str, make) -> Any:
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def _generator(cfg: GeneratedRowConfig) -> Any:
    """The generator ``cfg`` names, built once per process."""
    from hoi_videogen.generators import build_generator

    return _cached("generator:" + json.dumps(cfg.generator, sort_keys=True), lambda: build_generator(cfg.generator))


def context_size(cfg: GeneratedRowConfig, generator: Any) -> int:
    """The side of the context frame ``generator`` takes: its own ``resolution`` (a ``tiny`` pipeline's, an engine
    oracle's set size), else ``cfg.resolution`` (a generator that renders at whatever size it is given)."""
    own = getattr(generator, "resolution", None)
    return int(own) if own else int(cfg.resolution)


def _retarget_config(name: str) -> Any:
    """The retarget config ``name`` names (as the hand rows read ``HOI2ROBOT_RETARGET``:
    :func:`policy.retarget.rows.base_retarget_config`), loaded once per process."""
    from policy.retarget.rows import base_retarget_config

    return _cached("retarget-config:" + name, lambda: base_retarget_config(name))


def _retargeter(name: str) -> Any:
    """The Retargeter of ``configs/retarget/<name>.yaml``, built once per process."""
    from policy.retarget.retargeter import Retargeter

    return _cached("retarget:" + name, lambda: Retargeter(_retarget_config(name)))


@functools.cache
def tracker_presets() -> tuple[str, ...]:
    """The MediaPipe tracker presets (``configs/tracker/<name>.yaml``) the row's ``HOI2ROBOT_TRACKER`` may name (read
    once per process: every seed's row config checks its tracker against them)."""
    from importlib.resources import files

    return tuple(sorted(p.name[: -len(".yaml")] for p in files("hoi2robot.configs").joinpath("tracker").iterdir()
                        if p.name.endswith(".yaml")))  # fmt: skip


def _tracker(kind: str) -> Any:
    if kind == "keypoint_net":
        from hoi_videogen.hands.keypoint_net import KeypointNetTracker

        return _cached("tracker:keypoint_net", KeypointNetTracker)
    from hoi_videogen.hands import HandTracker

    if kind == "mediapipe":
        return _cached("tracker:mediapipe", HandTracker)
    from hoi_videogen.hands.tracker import HandTrackerConfig

    return _cached("tracker:" + kind, lambda: HandTracker(HandTrackerConfig.preset(kind)))


def plan_from_context(
    cfg: GeneratedRowConfig, frame: np.ndarray, camera: CameraModel, depth: np.ndarray | None, instruction: str, seed: int
) -> dict[str, Any]:
    """generator → tracker → retarget; returns ``video``, ``track``, ``ee`` (None when retargeting failed), ``error``
    (the reason, or None) and ``plan``: what the retargeter made of the video (:func:`plan_summary`; None on error)."""
    from policy.retarget.retargeter import RetargetError

    video = _generator(cfg).generate(frame, instruction, seed=seed, camera=camera)
    track = track_video(_tracker(cfg.tracker), video, frame)
    retargeter = _retargeter(cfg.retarget)
    try:
        ee = retargeter.retarget(track, camera, depth)
    except RetargetError as exc:
        return {"video": video, "track": track, "ee": None, "error": str(exc), "plan": None}
    return {"video": video, "track": track, "ee": ee, "error": None,
            "plan": plan_summary(getattr(retargeter, "last_report", None))}


def track_video(tracker: Any, video: Any, context: np.ndarray) -> Any:
    """``tracker``'s HandTrack of a generated ``video``; a MediaPipe tracker also gets the ``context`` frame the video
    was generated from as its ``background`` (hand-like scenery is dropped: :meth:`HandTracker.track`)."""
    from hoi_videogen.hands import HandTracker
    from hoi_videogen.hands.tracker import fit_background

    if isinstance(tracker, HandTracker):
        return tracker.track(video.frames, video.fps, background=fit_background(context, video.frames))
    return tracker.track(video.frames, video.fps)


def plan_summary(report: Any) -> dict[str, Any] | None:
    """The part of a :class:`~policy.retarget.retargeter.RetargetReport` that says what the robot will do, as flat
    scalar entries of the row's result (collections keep only scalars per seed): ``plan_grasp`` (the video shows a
    grasp), ``plan_grasp_type``, ``plan_motion_timed`` (the hand's motion timed it) and, for a push, ``plan_no_grasp``
    (why no grasp was kept: one of :data:`~policy.retarget.retargeter.NO_GRASP_REASONS`). A collection's report
    then says why each generated demo did what it did without regenerating it."""
    if report is None:
        return None
    out = {"plan_grasp": bool(report.has_grasp), "plan_grasp_type": str(report.grasp_type),
           "plan_motion_timed": bool(report.motion_timed)}
    if report.no_grasp:
        out["plan_no_grasp"] = str(report.no_grasp)
    return out


def generation_seed(seed: int, attempt: int = 0) -> int:
    """The generator's noise seed for ``attempt`` on scene ``seed``: ``seed`` itself for attempt 0 (the row's plain
    result, as in every record before attempts existed), then independent draws keyed by (seed, attempt)."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if attempt == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(attempt)]).generate_state(1)[0] & 0x7FFFFFFF)


@register_row("generated")
def generated_row(env: Any, task: str, seed: int, record: list | None, attempt: int = 0) -> dict:
    """The whole mission (see the module docstring): isolates nothing, scores everything.

    ``attempt`` k draws the generator's noise from :func:`generation_seed` (same scene, same context frame): what
    ``hoi-collect-demos attempts=K`` retries until a demo succeeds."""
    from policy.retarget.execute import execute_ee_trajectory

    cfg = GeneratedRowConfig.from_env(task)
    env.reset(seed=seed)
    size = context_size(cfg, _generator(cfg))
    frame, camera, depth = context_frame(env, task, seed, cfg.context, size, cfg.camera)
    depth = depth if cfg.depth else None
    instruction = getattr(env.unwrapped, "instruction", None) or task
    noise_seed = generation_seed(seed, attempt)
    plan = plan_from_context(cfg, frame, camera, depth, instruction, noise_seed)
    detected = float(plan["track"].valid.any(1).mean())
    if plan["ee"] is None:
        log.warning("generated row %s seed %d (generation seed %d): %s", task, seed, noise_seed, plan["error"])
        if record is not None:
            env.reset(seed=seed)
            record.append(env.render())
        return {"success": False, "steps": 0, "error": plan["error"], "detection_rate": detected,
                "generation_seed": noise_seed, "tracker": cfg.tracker}
    objects = _retarget_config(cfg.retarget).objects  # object-aware servo, as the hand rows (policy/retarget/rows.py)
    out = execute_ee_trajectory(env, plan["ee"], seed=seed, record=record, objects=objects)
    out.update(detection_rate=detected, generation_seed=noise_seed, tracker=cfg.tracker)
    out.update(plan["plan"] or {})
    return out
