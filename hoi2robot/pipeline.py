"""The mission pipeline: camera frame + instruction → generated hand video → hand track → EE trajectory → joints.

    pipe = Pipeline.from_config(cfg)              # configs/pipeline.yaml (groups: generator, tracker, retarget, robot)
    result = pipe.plan(PlanRequest(image=frame, camera=cam, instruction="pick up the red cube"),
                       progress=lambda stage, frac: ..., should_cancel=lambda: False)
    pipe.save_artifacts(result, Path("out"))      # video.mp4, track.npz, ee.npz/json, joints.npz/json, plan.json

Stages and their ``progress`` names: ``generate`` (the video generator of ``hoi_videogen.generators``), ``track``
(MediaPipe ``HandTracker``), ``retarget`` (``policy.retarget.Retargeter``, robot base frame), ``ik`` (mink IK on the
Panda, checked by MuJoCo forward kinematics). ``progress(stage, fraction)`` is called with fraction 0 and 1 for every
stage (and in between where the stage reports). ``should_cancel()`` is polled between stages and inside the
generator; a True answer raises :class:`PlanCancelled`. Bad input, a video with no hand, or any stage failure raise
:class:`PlanError` with a message meant for users (the ROS node returns it as the error result).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hoi2robot.contracts import CameraModel, ContractError, EETrajectory, GeneratedVideo, HandTrack, JointTrajectory

log = logging.getLogger(__name__)

__all__ = ["PlanRequest", "PlanResult", "PlanCancelled", "PlanError", "Pipeline", "STAGES"]

STAGES = ("generate", "track", "retarget", "ik")
ProgressFn = Callable[[str, float], None]


class PlanCancelled(Exception):
    """The caller asked to stop (``should_cancel()`` returned True)."""


class PlanError(Exception):
    """The request cannot be planned: bad input, no hand found, a stage failed. The message is for users."""


@dataclass
class PlanRequest:
    """One planning job.

    Attributes:
        image: H×W×3 uint8 RGB camera frame (the context frame).
        camera: the camera that took it (intrinsics at H×W, pose in the robot base frame).
        instruction: the task text, e.g. "pick up the red cube".
        depth: optional H×W float metric z-depth (metres) of the same frame.
        seed: generator sampling seed.
        q0: optional 7 arm joint angles (rad) the robot starts from (default: the Panda home pose).
    """

    image: np.ndarray
    camera: CameraModel
    instruction: str
    depth: np.ndarray | None = None
    seed: int = 0
    q0: np.ndarray | None = None


@dataclass
class PlanResult:
    """Everything a plan produced. ``timings``: seconds per stage (generate, track, retarget, ik)."""

    video: GeneratedVideo
    track: HandTrack
    ee: EETrajectory
    joints: JointTrajectory
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)  # retargeting report and IK check (extra, for artifacts)


def _plain(cfg: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, (DictConfig, ListConfig)):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return cfg


@dataclass(frozen=True)
class RobotConfig:
    """``robot:`` block of the pipeline config: IK settings (see :class:`policy.retarget.ik.IKConfig`), the
    approach move from ``q0`` to the trajectory start, and the IK error above which a warning is added."""

    joint_names: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))
    approach_from_q0: bool = True
    approach_speed: float = 0.2
    max_position_error: float = 0.005
    ik: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "RobotConfig":
        d = dict(d or {})
        unknown = sorted(set(d) - {"joint_names", "approach_from_q0", "approach_speed", "max_position_error", "ik"})
        if unknown:
            raise ValueError(f"pipeline robot config: unknown key(s) {unknown}")
        if "joint_names" in d:
            d["joint_names"] = tuple(d["joint_names"])
        out = cls(**d)
        if len(out.joint_names) != 7:
            raise ValueError(f"pipeline robot.joint_names: expected 7 names, got {list(out.joint_names)}")
        if out.approach_speed <= 0 or out.max_position_error <= 0:
            raise ValueError("pipeline robot.approach_speed and max_position_error must be positive")
        return out


class Pipeline:
    """Frame + instruction → :class:`PlanResult`. Build with :meth:`from_config`; one plan at a time."""

    def __init__(self, generator, tracker_cfg: Mapping[str, Any], retarget_cfg: Mapping[str, Any] | None,
                 robot: RobotConfig) -> None:  # fmt: skip
        from hoi_videogen.hands.tracker import HandTrackerConfig
        from policy.retarget import RetargetConfig, Retargeter

        self.generator = generator
        self.tracker_config = HandTrackerConfig(**dict(tracker_cfg or {}))
        self.retargeter = Retargeter(RetargetConfig.from_dict(retarget_cfg))
        self.robot = robot
        self._tracker = None

    @classmethod
    def from_config(cls, cfg: Mapping | Any) -> "Pipeline":
        """Keys: ``generator`` (a mapping with ``name`` for ``hoi_videogen.generators.build_generator``),
        ``tracker`` (``configs/tracker/mediapipe.yaml`` keys), ``retarget`` (``configs/retarget/*.yaml`` keys),
        ``robot`` (:class:`RobotConfig` keys). Other keys (e.g. Hydra's) are ignored."""
        from hoi_videogen.generators import build_generator

        cfg = _plain(cfg)
        if not isinstance(cfg, Mapping):
            raise ValueError(f"Pipeline.from_config: expected a mapping, got {type(cfg).__name__}")
        gen_cfg = cfg.get("generator")
        if not isinstance(gen_cfg, Mapping) or "name" not in gen_cfg:
            raise ValueError("Pipeline.from_config: 'generator' must be a mapping with a 'name' "
                             "(see hoi_videogen.generators.GENERATORS)")  # fmt: skip
        generator = build_generator(dict(gen_cfg))
        return cls(generator, cfg.get("tracker") or {}, cfg.get("retarget") or {}, RobotConfig.from_dict(cfg.get("robot")))

    # ---------------------------------------------------------------------------------------------------- plan
    def plan(self, req: PlanRequest, progress: ProgressFn | None = None,
             should_cancel: Callable[[], bool] | None = None) -> PlanResult:  # fmt: skip
        """Run all stages for ``req``; see the module docstring for progress, cancel and errors."""
        from policy.retarget import RetargetError
        from policy.retarget.ik import IKConfig, solve_joint_trajectory

        report = progress or (lambda stage, frac: None)
        cancelled = should_cancel or (lambda: False)

        def check_cancel() -> None:
            if cancelled():
                raise PlanCancelled("planning cancelled")

        self._validate(req)
        timings: dict[str, float] = {}
        warnings: list[str] = []

        # generate
        check_cancel()
        report("generate", 0.0)
        t0 = time.perf_counter()

        def gen_progress(frac: float) -> None:
            check_cancel()
            report("generate", float(min(max(frac, 0.0), 1.0)))

        try:
            video = self.generator.generate(req.image, req.instruction, seed=int(req.seed), camera=req.camera,
                                            progress=gen_progress)  # fmt: skip
        except PlanCancelled:
            raise
        except (ValueError, ContractError, RuntimeError, KeyError) as exc:
            raise PlanError(f"video generation failed: {exc}") from exc
        if not isinstance(video, GeneratedVideo):
            raise PlanError(f"the generator returned {type(video).__name__}, expected a GeneratedVideo")
        timings["generate"] = time.perf_counter() - t0
        report("generate", 1.0)

        # track
        check_cancel()
        report("track", 0.0)
        t0 = time.perf_counter()
        try:
            from hoi_videogen.hands.tracker import fit_background

            # the request's frame is the scene without the hand: hand-like scenery is no hand (HandTracker.track)
            track = self._get_tracker().track(video.frames, fps=video.fps,
                                              background=fit_background(req.image, video.frames))
        except FileNotFoundError as exc:
            raise PlanError(str(exc)) from exc
        timings["track"] = time.perf_counter() - t0
        if not track.valid.any():
            raise PlanError(f"no hand was found in any of the {track.num_frames} generated frames; "
                            "try another seed or instruction")  # fmt: skip
        report("track", 1.0)

        # retarget
        check_cancel()
        report("retarget", 0.0)
        t0 = time.perf_counter()
        try:
            ee = self.retargeter.retarget(track, req.camera, req.depth)
        except RetargetError as exc:
            raise PlanError(f"retargeting failed: {exc}") from exc
        rep = self.retargeter.last_report
        warnings += list(rep.warnings)
        timings["retarget"] = time.perf_counter() - t0
        report("retarget", 1.0)

        # ik
        check_cancel()
        report("ik", 0.0)
        t0 = time.perf_counter()
        ik_cfg = IKConfig(joint_names=self.robot.joint_names, **dict(self.robot.ik))
        if self.robot.approach_from_q0:
            ee = self._approach(ee, req.q0)
        try:
            ik = solve_joint_trajectory(ee, req.q0, ik_cfg, return_result=True)
        except Exception as exc:  # mink/QP failures
            raise PlanError(f"inverse kinematics failed: {type(exc).__name__}: {exc}") from exc
        if ik.max_position_error > self.robot.max_position_error:
            n = int((ik.position_error > self.robot.max_position_error).sum())
            warnings.append(f"IK: {n}/{len(ee)} waypoints miss their target by more than "
                            f"{self.robot.max_position_error * 1000:.0f} mm (max {ik.max_position_error * 1000:.1f} mm)")  # fmt: skip
        timings["ik"] = time.perf_counter() - t0
        report("ik", 1.0)
        for w in warnings:
            log.warning(w)
        extra = {
            "retarget": rep.to_dict(),
            "ik": {"max_position_error_m": ik.max_position_error, "median_position_error_m": float(np.median(ik.position_error)),
                   "max_orientation_error_rad": float(ik.orientation_error.max()), "within_limits": ik.within_limits},
        }  # fmt: skip
        return PlanResult(video=video, track=track, ee=ee, joints=ik.joints, timings=timings, warnings=warnings,
                          report=extra)  # fmt: skip

    # ------------------------------------------------------------------------------------------------ artifacts
    def save_artifacts(self, result: PlanResult, folder: Path) -> Path:
        """Write ``video.mp4``, ``track.npz``, ``ee.npz``/``ee.json``, ``joints.npz``/``joints.json`` and
        ``plan.json`` (instruction, generator, timings, warnings, reports) into ``folder``; returns ``folder``."""
        from hoi2robot.media import write_video

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_video(folder / "video.mp4", result.video.frames, result.video.fps)
        result.track.save(folder / "track.npz")
        result.ee.save(folder / "ee.npz")
        result.ee.save(folder / "ee.json")
        result.joints.save(folder / "joints.npz")
        result.joints.save(folder / "joints.json")
        plan = {
            "instruction": result.video.instruction,
            "seed": result.video.seed,
            "generator": result.video.generator,
            "frames": result.video.num_frames,
            "fps": result.video.fps,
            "ee_samples": len(result.ee),
            "duration_s": result.ee.duration,
            "joint_names": list(result.joints.joint_names),
            "timings": result.timings,
            "warnings": result.warnings,
            **result.report,
        }
        (folder / "plan.json").write_text(json.dumps(plan, indent=2, default=float))
        return folder

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None

    # ------------------------------------------------------------------------------------------------ internals
    def _get_tracker(self):
        if self._tracker is None:
            from hoi_videogen.hands import HandTracker

            self._tracker = HandTracker(self.tracker_config)
        return self._tracker

    def _approach(self, ee: EETrajectory, q0: np.ndarray | None) -> EETrajectory:
        """Prepend the TCP pose of ``q0`` so the trajectory starts where the robot is (moving at approach_speed)."""
        from policy.retarget.ik import PANDA_HOME, forward_kinematics
        from policy.retarget.orientation import mat_to_quat

        p0, R0 = forward_kinematics(PANDA_HOME if q0 is None else np.asarray(q0, float))
        dist = float(np.linalg.norm(ee.position[0] - p0))
        if dist < 1e-3:
            return ee
        lead = max(dist / self.robot.approach_speed, 0.5)
        q = mat_to_quat(R0)
        if q @ ee.quat_wxyz[0] < 0:
            q = -q
        return EETrajectory(
            t=np.concatenate([[0.0], ee.t + lead]),
            position=np.vstack([p0, ee.position]),
            quat_wxyz=np.vstack([q, ee.quat_wxyz]),
            gripper=np.concatenate([[0.0], ee.gripper]),
            frame_id=ee.frame_id,
            source=ee.source,
        )

    @staticmethod
    def _validate(req: PlanRequest) -> None:
        if not isinstance(req, PlanRequest):
            raise PlanError(f"expected a PlanRequest, got {type(req).__name__}")
        img = req.image
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or 0 in img.shape:
            desc = f"{img.dtype} array of shape {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise PlanError(f"image must be an H×W×3 uint8 RGB array, got a {desc}")
        if not isinstance(req.camera, CameraModel):
            raise PlanError(f"camera must be a CameraModel, got {type(req.camera).__name__}")
        if (req.camera.width, req.camera.height) != (img.shape[1], img.shape[0]):
            raise PlanError(f"the camera model is {req.camera.width}×{req.camera.height} but the image is "
                            f"{img.shape[1]}×{img.shape[0]}")  # fmt: skip
        if not isinstance(req.instruction, str) or not req.instruction.strip():
            raise PlanError("instruction must be a non-empty string")
        if req.depth is not None:
            d = np.asarray(req.depth)
            if d.ndim == 3 and d.shape[-1] == 1:
                d = d[..., 0]
            if d.shape != img.shape[:2] or d.dtype.kind != "f":
                raise PlanError(f"depth must be an H×W float array in metres matching the image "
                                f"{img.shape[0]}×{img.shape[1]}, got {d.dtype} {np.shape(req.depth)}")  # fmt: skip
        if req.q0 is not None:
            q = np.asarray(req.q0)
            if q.shape != (7,) or q.dtype.kind not in "if" or not np.isfinite(q).all():
                raise PlanError(f"q0 must hold 7 finite joint angles (rad), got shape {q.shape}")
        if isinstance(req.seed, bool) or not isinstance(req.seed, (int, np.integer)):
            raise PlanError(f"seed must be an integer, got {req.seed!r}")
