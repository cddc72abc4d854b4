"""MediaPipe hand tracker (hoi_videogen.hands): offline model bundle, IMAGE/VIDEO tracking, slots, errors, config."""
from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from hoi2robot import HandTrack
from hoi2robot.media import read_image
from hoi_videogen.hands import (
    BundleError,
    HandModelNotFoundError,
    HandTracker,
    HandTrackerConfig,
    build_hand_landmarker_bundle,
    default_model_path,
)
from hoi_videogen.hands.model_bundle import BUNDLE_MEMBERS
from hoi_videogen.hands.tracker import (PAD_GREY, _empty_arrays, changed_fraction, fill_frame, fit_background,
                                        on_background, pad_frame, zoom_crops)  # fmt: skip

pytestmark = pytest.mark.xdist_group("mediapipe")  # one worker: fetch once, models load once
REPO = Path(__file__).resolve().parents[1]
WRIST, MIDDLE_TIP = 0, 12


@pytest.fixture(scope="module")
def tracker(hand_model_path):
    with HandTracker(HandTrackerConfig(model_path=str(hand_model_path))) as tr:
        yield tr


def _hand_free_images() -> dict[str, np.ndarray]:
    """Synthetic images with no hand: noise, a colour gradient, a table scene with a ball and a box."""
    rng = np.random.default_rng(0)
    u, v = np.meshgrid(np.linspace(0, 255, 320), np.linspace(0, 255, 240))
    scene = np.full((240, 320, 3), (200, 190, 170), np.uint8)
    cv2.rectangle(scene, (0, 150), (319, 239), (120, 80, 50), -1)
    cv2.circle(scene, (100, 130), 30, (200, 30, 30), -1)
    cv2.rectangle(scene, (180, 90), (240, 160), (30, 90, 200), -1)
    return {
        "noise": rng.integers(0, 256, (240, 320, 3), dtype=np.uint8),
        "gradient": np.dstack([u, v, np.full_like(u, 128)]).astype(np.uint8),
        "scene": scene,
    }


# ---------------------------------------------------------------------------------------------------- model bundle
def _fake_wheel(path: Path) -> Path:
    """A stand-in wheel holding tiny 'TFLite' files at the paths of the real one (builder logic without network)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, src in enumerate(BUNDLE_MEMBERS.values()):
            zf.writestr(src, b"\0\0\0\0TFL3" + bytes([i]) * 64)
        zf.writestr("mediapipe/__init__.py", "")
    return path


def test_bundle_holds_the_two_models_stored(hand_model_path):
    assert hand_model_path == default_model_path()
    with zipfile.ZipFile(hand_model_path) as zf:
        assert sorted(zf.namelist()) == ["hand_detector.tflite", "hand_landmarks_detector.tflite"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_bundle_build_is_idempotent(hand_model_path):
    before = hand_model_path.stat()
    # a valid bundle is kept as is: neither the (bogus) wheel nor the network is touched
    assert build_hand_landmarker_bundle(wheel=Path("/nonexistent.whl")) == hand_model_path
    after = hand_model_path.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_bundle_builder_from_wheel_rebuilds_corrupt_and_rejects_wrong_wheel(tmp_path):
    wheel, out = _fake_wheel(tmp_path / "mediapipe-0.10.21-fake.whl"), tmp_path / "m" / "hand_landmarker.task"
    assert build_hand_landmarker_bundle(wheel, out) == out
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted(BUNDLE_MEMBERS)
    out.write_bytes(b"not a zip")
    build_hand_landmarker_bundle(wheel, out)
    assert zipfile.is_zipfile(out)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp files left behind
    wrong = tmp_path / "other.whl"
    with zipfile.ZipFile(wrong, "w") as zf:
        zf.writestr("x.txt", "")
    with pytest.raises(BundleError, match="palm_detection_full.tflite"):
        build_hand_landmarker_bundle(wrong, tmp_path / "x.task")


# ------------------------------------------------------------------------------------------------------ IMAGE mode
@pytest.mark.parametrize(
    "name", ["handSrc.jpg", "handDst.jpg", "Back_Projection_Theory0.jpg", "Back_Projection1_Source_Image.jpg"]
)
def test_real_hand_photo_is_detected(tracker, hand_photos, name):
    image = read_image(hand_photos[name])
    track = tracker.detect(image)
    h, w = image.shape[:2]
    assert isinstance(track, HandTrack) and track.num_frames == 1 and track.image_size == (w, h)
    assert track.source == "mediapipe"
    assert track.valid[0, 0] and track.score[0, 0] > 0.5  # all four photos show a left hand: slot 0
    kp = track.keypoints_2d[0, 0]
    assert kp.shape == (21, 2)
    inside = (kp[:, 0] >= -0.05 * w) & (kp[:, 0] <= 1.05 * w) & (kp[:, 1] >= -0.05 * h) & (kp[:, 1] <= 1.05 * h)
    assert inside.all()
    assert np.ptp(kp, axis=0).max() > 0.25 * min(w, h)  # pixels, not normalized coordinates
    world = track.keypoints_world[0, 0]
    assert 0.05 < np.linalg.norm(world[MIDDLE_TIP] - world[WRIST]) < 0.3  # metres
    assert np.abs(track.keypoints_depth[0, 0]).max() > 0


@pytest.mark.parametrize("name", ["Back_Projection_Theory0.jpg", "Back_Projection1_Source_Image.jpg"])
def test_upright_hand_axes_and_mirror_flips_slot(tracker, hand_photos, name):
    image = read_image(hand_photos[name])  # fingers point up: fingertip above (smaller v than) the wrist
    kp = tracker.detect(image).keypoints_2d[0, 0]
    assert kp[MIDDLE_TIP, 1] < kp[WRIST, 1] - 0.3 * image.shape[0]
    mirrored = tracker.detect(np.ascontiguousarray(image[:, ::-1]))
    assert mirrored.valid[0].tolist() == [False, True]  # a mirrored left hand looks like a right hand
    w = image.shape[1]
    np.testing.assert_allclose(mirrored.keypoints_2d[0, 1, :, 0], w - 1 - kp[:, 0], atol=0.05 * w)


def test_hand_free_images_give_no_hand(tracker):
    for name, image in _hand_free_images().items():
        track = tracker.detect(image)
        assert not track.valid.any(), name
        assert not track.keypoints_2d.any() and not track.score.any(), name


# ------------------------------------------------------------------------------------------------------ VIDEO mode
def test_video_mode_tracks_a_shifting_hand(tracker, hand_photos):
    image = read_image(hand_photos["Back_Projection_Theory0.jpg"])
    shifts = np.arange(8) * 3.0  # pixels to the right per frame
    frames = np.stack(
        [cv2.warpAffine(image, np.float32([[1, 0, s], [0, 1, 0]]), image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
         for s in shifts]
    )  # fmt: skip
    track = tracker.track(frames, fps=30.0)
    assert track.num_frames == 8 and track.fps == 30.0 and track.image_size == (200, 200)
    assert track.valid[:, 0].sum() >= 6 and not track.valid[:, 1].any()
    ok = track.valid[:, 0]
    wrist_u = track.keypoints_2d[ok, 0, WRIST, 0]
    np.testing.assert_allclose(wrist_u - wrist_u[0], shifts[ok] - shifts[ok][0], atol=4.0)
    # a second video on the same tracker starts afresh (its own timestamps from 0), even at > 1000 fps
    again = tracker.track(frames[:3], fps=2400.0)
    assert again.valid[:, 0].all()


# ---------------------------------------------------------------------------------------------- slots (no model)
def _fake_result(hands: list[tuple[str, float, float]]):
    """A HandLandmarkerResult with one hand per (handedness, score, x offset)."""
    from mediapipe.tasks.python.components.containers.category import Category
    from mediapipe.tasks.python.components.containers.landmark import Landmark, NormalizedLandmark
    from mediapipe.tasks.python.vision import HandLandmarkerResult

    return HandLandmarkerResult(
        handedness=[[Category(index=0, score=s, display_name=lab, category_name=lab)] for lab, s, _ in hands],
        hand_landmarks=[[NormalizedLandmark(x=dx + 0.01 * j, y=0.5, z=-0.01) for j in range(21)] for _, _, dx in hands],
        hand_world_landmarks=[[Landmark(x=0.001 * j, y=0.0, z=0.0) for j in range(21)] for _ in hands],
    )


def test_same_handedness_twice_keeps_the_higher_score_in_its_slot():
    arrays = _empty_arrays(2)
    fill_frame(arrays, 1, _fake_result([("Right", 0.6, 0.1), ("Right", 0.9, 0.5)]), width=100, height=50)
    assert not arrays["valid"][0].any()
    assert arrays["valid"][1].tolist() == [True, True]
    np.testing.assert_allclose(arrays["score"][1], [0.6, 0.9])
    np.testing.assert_allclose(arrays["keypoints_2d"][1, 1, 0], [50.0, 25.0])  # (x·W, y·H) of the 0.9 hand
    np.testing.assert_allclose(arrays["keypoints_2d"][1, 0, 0], [10.0, 25.0])
    np.testing.assert_allclose(arrays["keypoints_depth"][1, 0], -0.01)
    arrays = _empty_arrays(1)
    fill_frame(arrays, 0, _fake_result([("Left", 0.8, 0.2)]), width=100, height=50)
    assert arrays["valid"][0].tolist() == [True, False]


# ---------------------------------------------------------------------------------------------------------- errors
def test_missing_model_says_how_to_build_it(tmp_path, monkeypatch):
    with pytest.raises(HandModelNotFoundError, match="hoi-build-hand-model") as err:
        HandTracker(HandTrackerConfig(model_path=str(tmp_path / "nope.task")))
    assert "model_path" in str(err.value) and "nope.task" in str(err.value)
    monkeypatch.setenv("HOI2ROBOT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "cache" / "models" / "hand_landmarker.task")):
        HandTracker()


def test_bad_model_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "bad.task"
    bad.write_bytes(b"junk")
    with HandTracker(model_path=str(bad)) as tr, pytest.raises(RuntimeError, match="hoi-build-hand-model --force"):
        tr.detect(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize(
    "frames, fps",
    [
        (np.zeros((2, 32, 32, 3), np.float32), 30.0),  # wrong dtype
        (np.zeros((32, 32, 3), np.uint8), 30.0),  # an image, not a video
        (np.zeros((2, 32, 32, 4), np.uint8), 30.0),  # RGBA
        (np.zeros((0, 32, 32, 3), np.uint8), 30.0),  # no frames
        (np.zeros((2, 32, 32, 3), np.uint8), 0.0),  # bad fps
        ([[[[0, 0, 0]]]], 30.0),  # not an array
    ],
)
def test_track_rejects_bad_input(tracker, frames, fps):
    with pytest.raises(ValueError):
        tracker.track(frames, fps)


def test_detect_rejects_bad_input(tracker):
    for bad in (np.zeros((32, 32, 3), np.float64), np.zeros((1, 32, 32, 3), np.uint8), np.zeros((32, 32), np.uint8)):
        with pytest.raises(ValueError):
            tracker.detect(bad)


def test_closed_tracker_refuses_work(hand_model_path):
    with HandTracker(model_path=str(hand_model_path)) as tr:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        tr.detect(np.zeros((32, 32, 3), np.uint8))


def test_config_validation_and_yaml_mirror():
    with pytest.raises(ValueError):
        HandTrackerConfig(num_hands=3)
    with pytest.raises(ValueError):
        HandTrackerConfig(min_tracking_confidence=1.5)
    for bad in ({"zoom_grid": -1}, {"zoom_grid": 2.5}, {"zoom_crop": 1.0}, {"zoom_crop": 0}, {"zoom_memory": True},
                {"background_diff": 255}, {"background_diff": -1}, {"background_min_changed": 1.5},
                {"background_min_changed": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            HandTrackerConfig(**bad)
    cfg = yaml.safe_load((REPO / "configs" / "tracker" / "mediapipe.yaml").read_text())
    assert list(cfg) == [f.name for f in dataclasses.fields(HandTrackerConfig)]
    assert HandTrackerConfig(**cfg) == HandTrackerConfig()
    assert HandTrackerConfig().resolved_model_path() == default_model_path()
    realtime = HandTrackerConfig.preset("realtime")
    assert realtime == HandTrackerConfig(num_hands=1, zoom_grid=0, zoom_fit=0.0, zoom_backward=False)  # over the default
    # inside a running Hydra app (a collection building the generated row's tracker): the same preset
    from hydra import initialize_config_module

    with initialize_config_module(config_module="hoi2robot.configs", version_base=None):
        assert HandTrackerConfig.preset("realtime") == realtime
        assert HandTrackerConfig.preset("lenient").min_hand_detection_confidence == 0.2
        off = HandTrackerConfig.preset("lenient_nobg")  # the ablation: lenient without the background check
        assert off == dataclasses.replace(HandTrackerConfig.preset("lenient"), background_min_changed=0.0)
    assert os.fspath(HandTrackerConfig(model_path="~/m.task").resolved_model_path()).endswith("m.task")


# ------------------------------------------------------------------------------------------------------ zoom search
def test_zoom_crops_cover_the_frame_and_clamp_the_centred_crop():
    crops = zoom_crops(320, 240, 3, 0.5, centre=np.array([310.0, 5.0]))
    assert crops[0] == (200, 0, 120, 120)  # centred on the last hand, clamped into the frame
    grid = crops[1:]
    assert len(grid) == 9 and all(w == h == 120 for _, _, w, h in grid)
    covered = np.zeros((240, 320), bool)
    for x, y, w, h in grid:
        assert 0 <= x <= 320 - w and 0 <= y <= 240 - h
        covered[y : y + h, x : x + w] = True
    assert covered.all()
    assert zoom_crops(320, 240, 0, 0.5) == []


def _small_hand(hand_photos, size: int = 640, frac: float = 0.15, at=(150, 400)):
    """A real hand photo shrunk to ``frac`` of a ``size``² grey frame at ``at`` (x, y): too small for MediaPipe's
    full-frame palm detector. Returns (frame, photo, scale)."""
    photo = read_image(hand_photos["Back_Projection1_Source_Image.jpg"])
    h, w = photo.shape[:2]
    scale = int(size * frac) / max(h, w)
    small = cv2.resize(photo, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    frame = np.full((size, size, 3), 128, np.uint8)
    frame[at[1] : at[1] + small.shape[0], at[0] : at[0] + small.shape[1]] = small
    return frame, photo, scale


def test_zoom_search_finds_a_small_hand_at_its_true_place(hand_model_path, hand_photos):
    frame, photo, scale = _small_hand(hand_photos)
    with HandTracker(model_path=str(hand_model_path), zoom=False) as plain:
        assert not plain.detect(frame).valid.any()  # the case zoom search is for
        ref = plain.detect(photo)
    with HandTracker(model_path=str(hand_model_path)) as zoomed:
        found = zoomed.detect(frame)
        video = zoomed.track(np.stack([frame] * 4), fps=10.0)
    assert found.valid[0, 0] and not found.valid[0, 1]  # the photo's left hand, in its slot
    expected = ref.keypoints_2d[0, 0] * scale + (150, 400)  # the full-size detection, shrunk and moved
    assert np.linalg.norm(found.keypoints_2d[0, 0] - expected, axis=-1).mean() < 3.0
    assert abs(found.keypoints_depth[0, 0]).max() > 0
    assert video.valid[:, 0].all()  # VIDEO mode falls back to the zoom search on every frame it misses
    np.testing.assert_allclose(video.keypoints_2d[:, 0], np.broadcast_to(expected, (4, 21, 2)), atol=6.0)


def test_zoom_crops_may_reach_past_the_border_by_pad():
    crops = zoom_crops(320, 240, 3, 0.5, centre=np.array([310.0, 5.0]), pad=30)
    assert crops[0] == (230, -30, 120, 120)  # centred on the last hand, clamped to 30 px past the border
    xs, ys = sorted({c[0] for c in crops[1:]}), sorted({c[1] for c in crops[1:]})
    assert xs == [-30, 100, 230] and ys == [-30, 60, 150]  # the outer crops sit 30 px out


def test_pad_frame_modes():
    frame = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert pad_frame(frame, 0, "constant") is frame
    grey = pad_frame(frame, 2, "constant")
    assert grey.shape == (6, 7, 3) and (grey[:2] == PAD_GREY).all() and (grey[2:4, 2:5] == frame).all()
    edge = pad_frame(frame, 2, "edge")
    assert (edge[0, 0] == frame[0, 0]).all() and (edge[-1, -1] == frame[-1, -1]).all()
    with pytest.raises(ValueError, match="mode"):
        pad_frame(frame, 1, "wrap")
    for bad in ({"zoom_pad": 0.5}, {"zoom_pad": -0.1}, {"zoom_pad_mode": "wrap"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            HandTrackerConfig(**bad)


def test_zoom_pad_finds_a_small_hand_cut_by_the_image_border(hand_model_path, hand_photos):
    """A small hand 40% past the right border: crops that stop at the border miss it; crops reaching past it onto
    grey padding find it, with landmarks at their true place (the ones outside the image included)."""
    wide, photo, scale = _small_hand(hand_photos, frac=0.15, at=(0, 300))
    width = int(round(photo.shape[1] * scale))
    x = 640 - int(width * 0.6)
    frame = np.full((640, 640, 3), 128, np.uint8)
    frame[:, x:] = wide[:, : 640 - x]  # the hand's left 60% at the right border
    with HandTracker(model_path=str(hand_model_path), zoom_pad=0.0) as plain:
        assert not plain.detect(frame).valid.any()  # the case zoom_pad is for
        ref = plain.detect(photo)
    with HandTracker(model_path=str(hand_model_path), zoom_pad=0.25, zoom_pad_mode="constant") as padded:
        found = padded.detect(frame)
        hands = [padded.detect(image) for image in _hand_free_images().values()]
    assert found.valid[0].sum() == 1
    slot = int(np.argmax(found.valid[0]))
    expected = ref.keypoints_2d[0, 0] * scale + (x, 300)
    assert np.linalg.norm(found.keypoints_2d[0, slot] - expected, axis=-1).mean() < 12.0  # hand ~96 px across
    assert found.keypoints_2d[0, slot, :, 0].max() > 640  # landmarks past the border are kept, not clipped
    assert not any(h.valid.any() for h in hands)  # still no hand in hand-free images


def test_zoom_backward_centres_a_crop_on_the_next_hand(hand_model_path, monkeypatch):
    """Frames 0-2 have no hand, 3-4 do (a hand entering the view): the backward pass gives frames 1 and 2 (within
    zoom_memory = 2 of a hand) one crop centred on the later hand, latest first; frame 0 is too far back."""
    from types import SimpleNamespace as NS

    point = NS(x=0.75, y=0.5, z=0.0)
    hand = NS(handedness=[[NS(category_name="Right", score=0.9)]], hand_landmarks=[[point] * 21],
              hand_world_landmarks=[[point] * 21])  # fmt: skip
    none = NS(handedness=[], hand_landmarks=[], hand_world_landmarks=[])

    class FakeVideo:
        def detect_for_video(self, image, stamp):
            return hand if stamp >= 300 else none

        def close(self):
            pass

    calls = []

    def fake_search(self, frame, arrays, t, centre, grid=True, background=None):
        calls.append((t, None if centre is None else tuple(np.round(centre, 3)), grid))

    monkeypatch.setattr(HandTracker, "_create", lambda self, mode: FakeVideo())
    monkeypatch.setattr(HandTracker, "_zoom_search", fake_search)
    frames = np.zeros((5, 40, 80, 3), np.uint8)
    for backward in (False, True):
        calls.clear()
        with HandTracker(model_path=str(hand_model_path), zoom_memory=2, zoom_backward=backward) as tr:
            track = tr.track(frames, fps=10.0)
        assert track.valid[:, 1].tolist() == [False, False, False, True, True]
        forward = [(0, None, True), (1, None, True), (2, None, True)]
        assert calls == (forward + [(2, (60.0, 20.0, 0.0), False), (1, (60.0, 20.0, 0.0), False)] if backward else forward)


def _fake_landmarker(monkeypatch, hand_at_stamp: int) -> list[int]:
    """Replace MediaPipe with a fake: VIDEO mode finds one right hand of 20 px at (100, 60) of a 200² frame at
    timestamp ``hand_at_stamp`` (ms) only; IMAGE mode (the zoom crops) finds nothing and records each crop's side
    in the returned list."""
    from types import SimpleNamespace as NS

    pts = [NS(x=(90 + 20 * (i % 2)) / 200, y=(50 + 20 * (i // 20)) / 200, z=0.0) for i in range(21)]
    hand = NS(handedness=[[NS(category_name="Right", score=0.9)]], hand_landmarks=[pts], hand_world_landmarks=[pts])
    none = NS(handedness=[], hand_landmarks=[], hand_world_landmarks=[])
    sides: list[int] = []

    class Fake:
        def detect_for_video(self, image, stamp):
            return hand if stamp == hand_at_stamp else none

        def detect(self, image):
            sides.append(image.width)
            return none

        def close(self):
            pass

    monkeypatch.setattr(HandTracker, "_create", lambda self, mode: Fake())
    return sides


def test_zoom_fit_crops_around_the_last_hand_at_its_size_first(hand_model_path, monkeypatch):
    """Frame 0 has a 20 px hand at (100, 60) of a 200² frame, frame 1 none: the zoom search of frame 1 first tries
    one crop centred on that hand, ``zoom_fit`` x its size (60 px), then the ``zoom_crop`` crop (125 px), then the
    grid; with zoom_fit = 0 the fitted crop is skipped (the old behaviour: the 125 px crop first)."""
    sides = _fake_landmarker(monkeypatch, hand_at_stamp=0)
    frames = np.zeros((2, 200, 200, 3), np.uint8)
    for fit, first in ((3.0, [60, 125]), (0.0, [125])):
        sides.clear()
        with HandTracker(model_path=str(hand_model_path), zoom_fit=fit, zoom_backward=False, zoom_grid=2) as tr:
            tr.track(frames, fps=10.0)
        assert sides == first + [125] * 4
    with pytest.raises(ValueError, match="zoom_fit"):
        HandTrackerConfig(zoom_fit=1.0)


def test_zoom_grid_0_searches_only_around_a_recent_hand_and_zoom_false_not_at_all(hand_model_path, monkeypatch):
    """Frames 0-1 have no hand, frame 2 a 20 px hand, frames 3-7 none. zoom_grid 0 (the realtime preset): frames 0-1
    get a crop around the later hand (backward pass), frames 3-6 one around the last hand (zoom_memory 4), frame 7
    nothing and no frame a grid; zoom false: no IMAGE-mode call at all; the full search (zoom_grid 2): a grid on every
    frame the crops around a recent hand left without one."""
    calls = _fake_landmarker(monkeypatch, hand_at_stamp=200)
    frames = np.zeros((8, 200, 200, 3), np.uint8)
    for overrides, expected in (
        ({"zoom_grid": 0}, [60, 125] * 4 + [60, 125] * 2),  # frames 3-6 forward, then 1, 0 backward
        ({"zoom": False}, []),
        ({"zoom_grid": 2}, [125] * 4 * 2 + [60, 125, *[125] * 4] * 4 + [125] * 4 + [60, 125] * 2),
    ):
        calls.clear()
        with HandTracker(model_path=str(hand_model_path), zoom_fit=3.0, **overrides) as tr:
            track = tr.track(frames, fps=10.0)
        assert track.valid[:, 1].tolist() == [False, False, True] + [False] * 5
        assert calls == expected, overrides
    with pytest.raises(ValueError, match="zoom must be"):
        HandTrackerConfig(zoom="no")


# ------------------------------------------------------------------------------------------- hands over the background
def test_on_background_tells_a_hand_from_unchanged_scenery():
    background = _hand_free_images()["scene"]
    frame = background.copy()
    cv2.ellipse(frame, (60, 60), (18, 25), 0, 0, 360, (190, 120, 90), -1)  # a skin-coloured blob on the wall
    box = lambda x0, y0, x1, y1: np.array([[x0, y0], [x1, y1]] + [[(x0 + x1) / 2, (y0 + y1) / 2]] * 19, float)
    assert not on_background(frame, background, box(45, 40, 75, 80), 40.0, 0.1)  # the blob: changed
    assert on_background(frame, background, box(170, 80, 250, 170), 40.0, 0.1)  # the box: as in the background
    assert on_background(frame, background, box(40, 35, 140, 140), 40.0, 0.9)  # blob is a small part of this box
    assert not on_background(frame, background, box(40, 35, 140, 140), 40.0, 0.05)
    assert not on_background(frame, background, box(170, 80, 250, 170), 40.0, 0.0)  # 0: off
    assert not on_background(frame, background, box(400, 300, 450, 350), 40.0, 0.1)  # outside: cannot tell, kept
    assert changed_fraction(frame, background, box(400, 300, 450, 350), 40.0) is None
    inside = changed_fraction(frame, background, box(40, 35, 140, 140), 40.0)  # the blob's share of a 101×106 box
    assert abs(inside - np.pi * 18 * 25 / (101 * 106)) < 0.02
    assert changed_fraction(frame, background, box(45, 40, 75, 80), 40.0) > 0.7
    # small differences (a re-rendered or re-encoded background) are not changes
    noisy = np.clip(background.astype(int) + np.random.default_rng(0).integers(-20, 21, background.shape), 0, 255)
    assert on_background(noisy.astype(np.uint8), background, box(170, 80, 250, 170), 40.0, 0.1)


def test_fit_background_resizes_to_the_frames():
    image = _hand_free_images()["gradient"]  # 240×320
    frames = np.zeros((2, 120, 160, 3), np.uint8)
    out = fit_background(image, frames)
    assert out.shape == (120, 160, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out.astype(float).mean(axis=(0, 1)), image.astype(float).mean(axis=(0, 1)), atol=1.0)
    assert fit_background(image, np.zeros((1, 240, 320, 3), np.uint8)) is image
    with pytest.raises(ValueError):
        fit_background(image.astype(np.float32), frames)


def test_track_drops_a_hand_that_is_part_of_the_background(tracker, hand_photos):
    image = read_image(hand_photos["Back_Projection_Theory0.jpg"])
    frames = np.stack([image] * 3)
    assert tracker.track(frames, fps=10.0).valid[:, 0].all()
    # the same frames over a background without the hand (mid grey): the hand is kept
    kept = tracker.track(frames, fps=10.0, background=np.full_like(image, 128))
    assert kept.valid[:, 0].all()
    # over a background that already holds this "hand" it is scenery, in the full frame and in the zoom search
    # (which runs on every frame left without a hand, and keeps nothing either)
    calls = []
    real = tracker._zoom_search
    tracker._zoom_search = lambda *a, **k: (calls.append(1), real(*a, **k))
    try:
        dropped = tracker.track(frames, fps=10.0, background=image)
    finally:
        del tracker._zoom_search
    assert not dropped.valid.any() and not dropped.keypoints_2d.any()
    assert len(calls) >= 3
    # the background holds for that call only: the next call and detect() see hands again
    assert tracker.track(frames, fps=10.0).valid[:, 0].all() and tracker.detect(image).valid[0, 0]
    with pytest.raises(ValueError, match="background"):
        tracker.track(frames, fps=10.0, background=image[:50])
