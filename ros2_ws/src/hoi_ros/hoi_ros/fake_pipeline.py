"""A stand-in for :class:`hoi2robot.pipeline.Pipeline` with the same interface and no models.

It walks the same stages (generate, track, retarget, ik) with configurable sleeps, polls ``should_cancel`` every
few milliseconds and returns valid contract records (a small smooth joint motion around ``q0``). The plan node uses
it when its ``pipeline.factory`` parameter is ``hoi_ros.fake_pipeline:FakePipeline``: for bring-up without models
(wiring, rviz, controllers) and for the ROS tests and benchmark, which measure the node, not the models.

Config keys (``fake:`` in the pipeline config): ``stage_seconds`` (per stage, default 0.2), ``frames`` (16),
``fps`` (8.0), ``fail_on`` (an instruction substring that makes ``plan`` raise ``PlanError``, default none).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hoi2robot.contracts import EETrajectory, GeneratedVideo, HandTrack, JointTrajectory
from hoi2robot.pipeline import STAGES, PlanCancelled, PlanError, PlanResult
from policy.retarget.ik import ARM_JOINTS, PANDA_HOME

__all__ = ["FakePipeline", "PlanCancelled", "PlanError", "STAGES"]


class FakePipeline:
    def __init__(self, stage_seconds: float = 0.2, frames: int = 16, fps: float = 8.0, fail_on: str = ""):
        if not 0 <= float(stage_seconds) <= 600:
            raise ValueError(f"fake.stage_seconds must be in [0, 600], got {stage_seconds}")
        if not 2 <= int(frames) <= 1000:
            raise ValueError(f"fake.frames must be in [2, 1000], got {frames}")
        self.stage_seconds, self.frames = float(stage_seconds), int(frames)
        self.fps, self.fail_on = float(fps), str(fail_on)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "FakePipeline":
        fake = dict((cfg or {}).get("fake", {}) or {})
        return cls(**fake)

    def plan(
        self,
        req: Any,
        progress: Callable[[str, float], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> PlanResult:
        timings: dict[str, float] = {}
        for stage in STAGES:
            t0 = time.perf_counter()
            steps = max(1, int(self.stage_seconds / 0.01))
            for k in range(steps):
                if should_cancel is not None and should_cancel():
                    raise PlanCancelled(f"cancelled during {stage}")
                if progress is not None:
                    progress(stage, k / steps)
                time.sleep(self.stage_seconds / steps)
            if progress is not None:
                progress(stage, 1.0)
            timings[stage] = time.perf_counter() - t0
            if stage == "generate" and self.fail_on and self.fail_on in req.instruction:
                raise PlanError(f"fake failure requested by the instruction ({self.fail_on!r})")
        result = self._result(req, timings)
        result.warnings.append(f"planned on thread {threading.current_thread().name}")
        return result

    def _result(self, req: Any, timings: dict[str, float]) -> PlanResult:
        T = self.frames
        stride = max(1, -(-max(req.image.shape[:2]) // 128))  # a thumbnail video: cheap even for 4096² inputs
        small = np.ascontiguousarray(req.image[::stride, ::stride])
        h, w = small.shape[:2]
        frames = np.repeat(small[None], T, axis=0)
        video = GeneratedVideo(frames=frames, fps=self.fps, ma_mask=np.zeros((h, w), np.float32),
                               instruction=req.instruction, seed=int(req.seed), generator="fake")
        valid = np.zeros((T, 2), bool)
        valid[:, 1] = True
        kp2 = np.zeros((T, 2, 21, 2), np.float32)
        kp2[:, 1] = np.array([w / 2, h / 2], np.float32) + np.linspace(-10, 10, 21, dtype=np.float32)[:, None]
        kpw = np.zeros((T, 2, 21, 3), np.float32)
        kpw[:, 1, :, 2] = np.linspace(0, 0.02, 21, dtype=np.float32)
        track = HandTrack(keypoints_2d=kp2, keypoints_world=kpw, score=valid.astype(np.float32), valid=valid,
                          fps=self.fps, image_size=(w, h), source="fake")
        t = np.arange(T, dtype=np.float64) / self.fps
        s = 0.5 - 0.5 * np.cos(np.pi * t / t[-1])
        q0 = PANDA_HOME if req.q0 is None else np.asarray(req.q0, np.float64)
        positions = q0[None] + s[:, None] * np.array([0.2, 0.1, 0.0, 0.1, 0.0, -0.1, 0.0])
        gripper = (s > 0.5).astype(np.float64)
        joints = JointTrajectory(t=t, positions=positions, joint_names=ARM_JOINTS, gripper=gripper, source="fake")
        pos = np.array([0.5, 0.0, 0.2]) + s[:, None] * np.array([0.05, 0.05, -0.05])
        quat = np.tile([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0], (T, 1))
        ee = EETrajectory(t=t, position=pos, quat_wxyz=quat, gripper=gripper, frame_id="robot0_base", source="fake")
        return PlanResult(video=video, track=track, ee=ee, joints=joints, timings=timings)

    def save_artifacts(self, result: PlanResult, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        result.joints.save(folder / "joints.json")
        result.ee.save(folder / "ee.json")
        result.track.save(folder / "track.npz")
        (folder / "plan.json").write_text(json.dumps({"timings": result.timings, "warnings": result.warnings}))
        return folder
