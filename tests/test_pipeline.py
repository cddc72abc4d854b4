"""hoi2robot.pipeline: frame + instruction → video → track → EE trajectory → joints, with a fake generator."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from hoi2robot.contracts import EETrajectory, GeneratedVideo, HandTrack, JointTrajectory
from hoi2robot.pipeline import STAGES, Pipeline, PlanCancelled, PlanError, PlanRequest
from hoi_videogen.generators import register_generator

pytestmark = pytest.mark.xdist_group("sim")


@pytest.fixture(scope="module")
def clip():
    from policy.retarget.rows import demo_clip

    return demo_clip("Lift", 0)


class ReplayGenerator:
    """Fake backend: returns a fixed video (the engine demo, or the context frame repeated: no hand)."""

    name = "fake-replay"

    def __init__(self, frames: np.ndarray, fps: float) -> None:
        self.frames, self.fps = frames, fps

    def generate(self, image, instruction, *, seed=0, camera=None, progress=None):
        for f in (0.25, 0.5, 1.0):
            if progress is not None:
                progress(f)
        mask = np.ones(self.frames.shape[1:3], np.float32)
        return GeneratedVideo(frames=self.frames, fps=self.fps, ma_mask=mask, instruction=instruction, seed=seed,
                              generator=self.name)  # fmt: skip


def pipeline_cfg(*overrides: str):
    with initialize_config_module(config_module="hoi2robot.configs", version_base=None):
        return compose(config_name="pipeline", overrides=list(overrides))


@pytest.fixture(scope="module")
def pipe(clip):
    register_generator("fake-replay", lambda **kw: ReplayGenerator(clip.video, clip.fps))
    p = Pipeline.from_config(pipeline_cfg("generator.name=fake-replay", "tracker.num_hands=1"))
    yield p
    p.close()


def request(clip, **kw) -> PlanRequest:
    return PlanRequest(image=clip.context, camera=clip.camera, instruction="pick up the red cube", **kw)


def test_plan_runs_every_stage_and_saves_artifacts(pipe, clip, tmp_path):
    events: list[tuple[str, float]] = []
    result = pipe.plan(request(clip), progress=lambda s, f: events.append((s, f)))
    # progress: each stage starts at 0 and ends at 1, in order
    stages = [s for s, _ in events]
    assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]] == list(STAGES)
    for s in STAGES:
        fr = [f for st, f in events if st == s]
        assert fr[0] == 0.0 and fr[-1] == 1.0 and fr == sorted(fr)
    assert set(result.timings) == set(STAGES) and all(v >= 0 for v in result.timings.values())
    assert isinstance(result.video, GeneratedVideo) and isinstance(result.track, HandTrack)
    assert result.track.valid.any()
    assert isinstance(result.ee, EETrajectory) and result.ee.frame_id == "robot0_base"
    assert isinstance(result.joints, JointTrajectory) and result.joints.positions.shape == (len(result.ee), 7)
    assert result.joints.joint_names[0] == "panda_joint1"
    np.testing.assert_array_equal(result.joints.t, result.ee.t)
    assert result.ee.gripper.max() == 1.0 and result.ee.gripper[0] == 0.0  # a grasp: opens, then closes
    assert result.report["ik"]["within_limits"]
    # the trajectory starts where the robot is (the home pose's TCP) and reaches near the cube
    from policy.retarget.ik import PANDA_HOME, forward_kinematics

    np.testing.assert_allclose(result.ee.position[0], forward_kinematics(PANDA_HOME)[0], atol=1e-6)
    closed = result.ee.position[result.ee.gripper > 0.5][0]
    cube = clip.objects["cube"][0, :3]
    assert np.linalg.norm(closed[:2] - cube[:2]) < 0.04, (closed, cube)

    folder = pipe.save_artifacts(result, tmp_path / "art")
    for name in ("video.mp4", "track.npz", "ee.npz", "ee.json", "joints.npz", "joints.json", "plan.json"):
        assert (folder / name).is_file(), name
    np.testing.assert_array_equal(JointTrajectory.load(folder / "joints.json").positions, result.joints.positions)
    np.testing.assert_array_equal(EETrajectory.load(folder / "ee.npz").position, result.ee.position)
    plan = json.loads((folder / "plan.json").read_text())
    assert plan["instruction"] == "pick up the red cube" and set(plan["timings"]) == set(STAGES)


def test_bad_input_is_a_plan_error(pipe, clip):
    with pytest.raises(PlanError, match="H×W×3 uint8"):
        pipe.plan(request(clip).__class__(image=clip.context.astype(np.float32), camera=clip.camera,
                                          instruction="x"))  # fmt: skip
    with pytest.raises(PlanError, match="camera model is 256×256 but the image is 128×128"):
        pipe.plan(PlanRequest(image=clip.context[::2, ::2], camera=clip.camera, instruction="x"))
    with pytest.raises(PlanError, match="instruction"):
        pipe.plan(PlanRequest(image=clip.context, camera=clip.camera, instruction="  "))
    with pytest.raises(PlanError, match="q0 must hold 7"):
        pipe.plan(request(clip, q0=np.zeros(6)))
    with pytest.raises(PlanError, match="depth must be"):
        pipe.plan(request(clip, depth=np.zeros((10, 10), np.float32)))


def test_video_without_a_hand_is_a_plan_error(clip):
    register_generator("fake-empty", lambda **kw: ReplayGenerator(np.repeat(clip.context[None], 6, axis=0), 10.0))
    p = Pipeline.from_config({"generator": {"name": "fake-empty"}, "tracker": {"num_hands": 1}})
    try:
        with pytest.raises(PlanError, match="no hand was found in any of the 6 generated frames"):
            p.plan(request(clip))
    finally:
        p.close()


def test_a_hand_already_in_the_request_frame_is_scenery(clip):
    """The request's frame is the scene the video starts from: a "hand" that sits in it unchanged is no hand."""
    gen = ReplayGenerator(clip.video[:1], 10.0)
    register_generator("fake-still", lambda **kw: gen)
    p = Pipeline.from_config({"generator": {"name": "fake-still"}, "tracker": {"num_hands": 1}})
    try:
        for k in np.argsort(-clip.visibility.sum(axis=(1, 2))):  # frames with most of the hand in view first
            still = np.repeat(clip.video[k][None], 6, axis=0)
            if p._get_tracker().track(still, 10.0).valid.any():
                break  # a frame in which the tracker finds the hand (without a background)
        else:
            pytest.fail("no demo frame with a hand found in it")
        gen.frames = still
        with pytest.raises(PlanError, match="no hand was found"):
            p.plan(PlanRequest(image=still[0], camera=clip.camera, instruction="pick up the red cube"))
    finally:
        p.close()


def test_cancel_stops_between_stages(pipe, clip):
    seen: list[str] = []

    def progress(stage, frac):
        seen.append(stage)

    with pytest.raises(PlanCancelled):
        pipe.plan(request(clip), progress=progress, should_cancel=lambda: "track" in seen)
    assert "retarget" not in seen


def test_from_config_rejects_a_config_without_generator():
    with pytest.raises(ValueError, match="'generator' must be a mapping with a 'name'"):
        Pipeline.from_config({"tracker": {}})
    with pytest.raises(KeyError, match="unknown generator 'nope'"):
        Pipeline.from_config({"generator": {"name": "nope"}})
