"""Data contracts: round trips through their one save/load, and rejection of bad shapes, dtypes and non-finite values."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hoi2robot.contracts import (
    CameraModel,
    ContractError,
    EETrajectory,
    GeneratedVideo,
    HandTrack,
    HOIClip,
)

RNG = np.random.default_rng(0)


def make_camera(w: int = 32, h: int = 24) -> CameraModel:
    T = np.eye(4)
    # camera 1 m above the base origin looking straight down: camera z = -base z, camera x = base x.
    T[:3, :3] = np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]])
    T[:3, 3] = (0.5, 0.0, 1.0)
    K = np.array([[30.0, 0, (w - 1) / 2], [0, 30.0, (h - 1) / 2], [0, 0, 1]])
    return CameraModel(name="top", K=K, width=w, height=h, base_T_cam=T)


def make_track(T: int = 5) -> HandTrack:
    track = HandTrack.empty(T, fps=10.0, image_size=(32, 24), source="test")
    track.keypoints_2d[:, 1] = RNG.uniform(0, 24, (T, 21, 2))
    track.keypoints_world[:, 1] = RNG.normal(0, 0.05, (T, 21, 3))
    track.valid[:, 1] = [True, False, True, True, False][:T]
    track.score[:, 1] = track.valid[:, 1] * 0.9
    return track


def make_clip(T: int = 4, h: int = 24, w: int = 32) -> HOIClip:
    return HOIClip(
        context=RNG.integers(0, 256, (h, w, 3), dtype=np.uint8),
        video=RNG.integers(0, 256, (T, h, w, 3), dtype=np.uint8),
        instruction="pick up the red cube",
        paraphrases=["lift the red block"],
        task="Lift",
        seed=3,
        fps=10,
        camera=make_camera(w, h),
        keypoints_2d=RNG.uniform(0, 20, (T, 2, 21, 2)),
        keypoints_3d=RNG.normal(0, 0.1, (T, 2, 21, 3)),
        visibility=RNG.random((T, 2, 21)) > 0.3,
        hand_present=np.array([[False, True]] * T),
        objects={"cube": RNG.normal(0, 1, (T, 7))},
        ma_mask=(RNG.random((h, w)) > 0.5).astype(np.float32),
        success=True,
        meta={"grasp": "pinch"},
    )


# ------------------------------------------------------------------------------------------------------------ camera
def test_camera_project_unproject_round_trip():
    cam = make_camera()
    p = np.array([[0.5, 0.0, 0.0], [0.6, -0.1, 0.2]])
    uv, z = cam.project(p)
    np.testing.assert_allclose(uv[0], [(32 - 1) / 2, (24 - 1) / 2])  # straight below the camera: principal point
    np.testing.assert_allclose(z, [1.0, 0.8])
    np.testing.assert_allclose(cam.unproject(uv, z), p, atol=1e-12)
    # +x in the base frame is +u (right) in this downward camera, +y in the base is -v... (camera y = -base y)
    assert uv[1, 0] > uv[0, 0] and uv[1, 1] > uv[0, 1]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_camera_save_load(tmp_path, suffix):
    cam = make_camera()
    assert CameraModel.load(cam.save(tmp_path / f"cam{suffix}")) == cam


@pytest.mark.parametrize(
    "change, field",
    [
        ({"K": np.eye(2)}, "K"),
        ({"K": np.diag([-1.0, 1, 1])}, "K"),
        ({"width": 0}, "width"),
        ({"height": 2.5}, "height"),
        ({"base_T_cam": np.diag([1.0, 1, -1, 1])}, "base_T_cam"),  # reflection, not a rotation
        ({"base_T_cam": np.full((4, 4), np.nan)}, "base_T_cam"),
        ({"name": ""}, "name"),
    ],
)
def test_camera_rejects(change, field):
    d = make_camera().to_dict() | change
    with pytest.raises(ContractError, match=f"CameraModel.{field}"):
        CameraModel(**d)


# --------------------------------------------------------------------------------------------------- generated video
def test_generated_video_round_trip(tmp_path):
    v = GeneratedVideo(
        frames=RNG.integers(0, 256, (3, 8, 10, 3), dtype=np.uint8),
        fps=8,
        ma_mask=RNG.random((8, 10)),
        instruction="push the cube",
        seed=7,
        generator="tiny",
    )
    w = GeneratedVideo.load(v.save(tmp_path / "v.npz"))
    np.testing.assert_array_equal(w.frames, v.frames)
    np.testing.assert_array_equal(w.ma_mask, v.ma_mask)
    assert (w.fps, w.instruction, w.seed, w.generator, w.num_frames) == (8.0, "push the cube", 7, "tiny", 3)
    assert w.ma_mask.dtype == np.float32


@pytest.mark.parametrize(
    "change, match",
    [
        ({"frames": np.zeros((3, 8, 10, 3), np.float32)}, "frames: expected dtype uint8"),
        ({"frames": np.zeros((8, 10, 3), np.uint8)}, r"frames: expected shape T×H×W×3"),
        ({"frames": np.zeros((0, 8, 10, 3), np.uint8)}, "frames: needs at least one frame"),
        ({"ma_mask": np.zeros((8, 11))}, r"ma_mask: axis 1 \(W\) is 11 but W=10"),
        ({"ma_mask": np.full((8, 10), 2.0)}, "ma_mask: values must be <= 1.0"),
        ({"ma_mask": np.full((8, 10), np.nan)}, "ma_mask: must be finite"),
        ({"ma_mask": np.zeros((4, 8, 10))}, r"ma_mask: axis 0 \(T\) is 4 but T=3"),
        ({"instruction": "  "}, "instruction: expected a non-empty string"),
        ({"fps": -1}, "fps: expected a positive number"),
        ({"seed": 1.5}, "seed: expected an integer"),
    ],
)
def test_generated_video_rejects(change, match):
    kw = dict(frames=np.zeros((3, 8, 10, 3), np.uint8), fps=8, ma_mask=np.zeros((8, 10)), instruction="x") | change
    with pytest.raises(ContractError, match=f"GeneratedVideo.{match}"):
        GeneratedVideo(**kw)


def test_generated_video_accepts_per_frame_mask():
    v = GeneratedVideo(frames=np.zeros((3, 8, 10, 3), np.uint8), fps=8, ma_mask=np.ones((3, 8, 10)), instruction="x")
    assert v.ma_mask.shape == (3, 8, 10)


# -------------------------------------------------------------------------------------------------------- hand track
def test_hand_track_round_trip(tmp_path):
    t = make_track()
    u = HandTrack.load(t.save(tmp_path / "h.npz"))
    for k in ("keypoints_2d", "keypoints_world", "score", "valid", "keypoints_depth"):
        np.testing.assert_array_equal(getattr(u, k), getattr(t, k))
    assert (u.fps, u.image_size, u.source) == (10.0, (32, 24), "test")
    assert u.detection_rate() == pytest.approx(0.6) and u.detection_rate(0) == 0.0


def test_hand_track_rejects():
    t = make_track()
    kw = {k: getattr(t, k) for k in ("keypoints_2d", "keypoints_world", "score", "valid", "fps", "image_size")}
    with pytest.raises(ContractError, match=r"HandTrack.keypoints_2d: expected shape T×2×21×2"):
        HandTrack(**(kw | {"keypoints_2d": np.zeros((5, 2, 20, 2))}))
    with pytest.raises(ContractError, match=r"HandTrack.valid: axis 0 \(T\) is 4 but T=5"):
        HandTrack(**(kw | {"valid": np.zeros((4, 2), bool)}))
    bad = t.keypoints_world.copy()
    bad[2, 1, 3, 0] = np.inf
    with pytest.raises(ContractError, match=r"HandTrack.keypoints_world: must be finite; found inf at index \(2, 1, 3, 0\)"):
        HandTrack(**(kw | {"keypoints_world": bad}))
    with pytest.raises(ContractError, match="HandTrack.valid: expected a boolean mask"):
        HandTrack(**(kw | {"valid": np.full((5, 2), 0.5)}))
    with pytest.raises(ContractError, match="HandTrack.image_size"):
        HandTrack(**(kw | {"image_size": (32,)}))


# ---------------------------------------------------------------------------------------------------- EE trajectory
def make_traj(T: int = 6) -> EETrajectory:
    q = RNG.normal(size=(T, 4))
    return EETrajectory(
        t=np.arange(T) * 0.05,
        position=RNG.normal(size=(T, 3)),
        quat_wxyz=q / np.linalg.norm(q, axis=1, keepdims=True),
        gripper=RNG.random(T),
        source="test",
    )


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_ee_trajectory_round_trip(tmp_path, suffix):
    a = make_traj()
    b = EETrajectory.load(a.save(tmp_path / f"traj{suffix}"))
    for k in ("t", "position", "quat_wxyz", "gripper"):
        np.testing.assert_array_equal(getattr(b, k), getattr(a, k))  # exact, JSON included
    assert (b.frame_id, b.source, len(b)) == ("robot0_base", "test", 6)
    if suffix == ".json":  # plain, readable JSON
        assert json.loads((tmp_path / "traj.json").read_text())["source"] == "test"


def test_ee_trajectory_rejects(tmp_path):
    a = make_traj()
    kw = dict(t=a.t, position=a.position, quat_wxyz=a.quat_wxyz, gripper=a.gripper)
    with pytest.raises(ContractError, match="EETrajectory.t: timestamps must be strictly increasing"):
        EETrajectory(**(kw | {"t": a.t[::-1]}))
    with pytest.raises(ContractError, match="EETrajectory.quat_wxyz: expected unit quaternions"):
        EETrajectory(**(kw | {"quat_wxyz": a.quat_wxyz * 2}))
    with pytest.raises(ContractError, match=r"EETrajectory.gripper: values must be <= 1.0"):
        EETrajectory(**(kw | {"gripper": a.gripper + 1}))
    with pytest.raises(ContractError, match=r"EETrajectory.position: axis 0 \(T\) is 5 but T=6"):
        EETrajectory(**(kw | {"position": a.position[:5]}))
    with pytest.raises(ContractError, match="expected a file ending in .npz or .json"):
        a.save(tmp_path / "traj.csv")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ContractError, match="is not a readable EETrajectory file"):
        EETrajectory.load(tmp_path / "bad.npz")


def test_quaternions_are_normalized_on_build():
    a = make_traj()
    b = EETrajectory(t=a.t, position=a.position, quat_wxyz=a.quat_wxyz * (1 + 5e-4), gripper=a.gripper)
    np.testing.assert_allclose(np.linalg.norm(b.quat_wxyz, axis=1), 1.0)


# ------------------------------------------------------------------------------------------------------------- clip
def test_hoi_clip_round_trip_is_exact(tmp_path):
    clip = make_clip()
    folder = clip.save(tmp_path / "clip_0003")
    assert sorted(p.name for p in folder.iterdir()) == sorted(HOIClip.FILES)
    back = HOIClip.load(folder)
    np.testing.assert_array_equal(back.video, clip.video)  # lossless mp4
    np.testing.assert_array_equal(back.context, clip.context)
    np.testing.assert_array_equal(back.ma_mask, clip.ma_mask)
    for k in ("keypoints_2d", "keypoints_3d", "visibility", "hand_present"):
        np.testing.assert_array_equal(getattr(back, k), getattr(clip, k))
    np.testing.assert_array_equal(back.objects["cube"], clip.objects["cube"])
    assert back.camera == clip.camera
    assert (back.instruction, back.paraphrases, back.task, back.seed, back.fps, back.success, back.meta) == (
        clip.instruction, clip.paraphrases, clip.task, clip.seed, clip.fps, clip.success, clip.meta,
    )  # fmt: skip
    with pytest.raises(FileExistsError):
        clip.save(folder)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left behind


def test_hoi_clip_rejects():
    clip = make_clip()
    kw = {f.name: getattr(clip, f.name) for f in dataclasses.fields(clip)}
    with pytest.raises(ContractError, match=r"HOIClip.camera: is 32×24 but frames are 16×24"):
        HOIClip(**(kw | {"video": clip.video[:, :, :16], "context": clip.context[:, :16], "ma_mask": clip.ma_mask[:, :16]}))
    with pytest.raises(ContractError, match=r"HOIClip.objects\['cube'\]: axis 0 \(T\) is 3 but T=4"):
        HOIClip(**(kw | {"objects": {"cube": np.zeros((3, 7))}}))
    with pytest.raises(ContractError, match="HOIClip.meta: must be JSON-serializable"):
        HOIClip(**(kw | {"meta": {"x": object()}}))


def test_hoi_clip_corrupt_folder_gives_clear_error(tmp_path):
    folder = make_clip().save(tmp_path / "clip")
    (folder / "objects.npz").unlink()
    with pytest.raises(ContractError, match=r"not a complete clip, missing \['objects.npz'\]"):
        HOIClip.load(folder)
    folder2 = make_clip().save(tmp_path / "clip2")
    (folder2 / "video.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(ContractError, match="clip2 is corrupt"):
        HOIClip.load(folder2)
