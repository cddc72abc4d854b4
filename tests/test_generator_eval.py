"""hoi-eval-generator metrics and the ``generated`` bench row (fake generators and trackers)."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from hoi2robot.contracts import EETrajectory, GeneratedVideo, HandTrack
from hoi_videogen import eval as ev
from hoi_videogen.data import DatasetWriter
from hoi_videogen.generators import GENERATORS, register_generator
from sim.handsim.synthetic import synthetic_clip


def clip(seed=0, T=4, size=64, task="Lift"):
    return synthetic_clip(task, seed, OmegaConf.create({"resolution": size, "num_frames": T, "fps": 8.0,
                                                        "camera": "egoview"}))  # fmt: skip


class ReplayGenerator:
    """Fake generator: returns a stored clip's own video and MA (an oracle), or a blank one."""

    name = "replay-test"

    def __init__(self, clips=(), blank=False):
        self.clips = {(c.instruction, c.seed): c for c in clips}
        self.blank = blank
        self.calls = []

    def generate(self, image, instruction, *, seed=0, camera=None, progress=None):
        self.calls.append((image.shape, instruction, seed))
        c = self.clips.get((instruction, seed))
        if self.blank or c is None:
            frames = np.repeat(image[None], 4, 0)
            return GeneratedVideo(frames, 8.0, np.zeros(image.shape[:2], np.float32), instruction, seed, self.name)
        return GeneratedVideo(c.video.copy(), c.fps, c.ma_mask.copy(), instruction, seed, self.name)


class GTTracker:
    """Fake tracker: 'detects' the GT hand of the clip whose video it is given."""

    def __init__(self, clips):
        self.clips = clips

    def track(self, frames, fps):
        for c in self.clips:
            if c.video.shape == frames.shape and np.array_equal(c.video, frames):
                tr = HandTrack.empty(len(frames), fps, (frames.shape[2], frames.shape[1]), "gt-test")
                tr.keypoints_2d[:] = c.keypoints_2d
                tr.valid[:] = c.hand_present
                return tr
        return HandTrack.empty(len(frames), fps, (frames.shape[2], frames.shape[1]), "gt-test")

    def close(self):
        pass


# --------------------------------------------------------------------------------------------------------- metrics
def test_psnr_known_values():
    a = np.full((2, 8, 8, 3), 100, np.uint8)
    assert ev.psnr(a, a) == ev.PSNR_CAP
    b = a + 1
    assert ev.psnr(a, b) == pytest.approx(10 * math.log10(255**2), rel=1e-9)  # MSE 1
    mask = np.zeros((8, 8), bool)
    mask[:4] = True
    c = a.copy()
    c[:, 4:] = 0  # differs only outside the mask
    assert ev.psnr(a, c, mask) == ev.PSNR_CAP and ev.psnr(a, c, ~mask) < 10
    assert math.isnan(ev.psnr(a, a, np.zeros((8, 8), bool)))
    with pytest.raises(ValueError, match="shapes"):
        ev.psnr(a, a[:1])


def test_mask_iou_known_masks():
    a = np.zeros((10, 10), np.float32)
    b = np.zeros((10, 10), np.float32)
    a[:, :6] = 1  # 60 px
    b[:, 3:] = 1  # 70 px, overlap 30
    assert ev.mask_iou(a, b) == pytest.approx(30 / 100)
    assert ev.mask_iou(a, a) == 1.0 and ev.mask_iou(0 * a, 0 * a) == 1.0
    assert ev.mask_iou(np.stack([a, b]), b) == pytest.approx(70 / 100)  # T×H×W unioned over time: all 100 px
    with pytest.raises(ValueError, match="shape"):
        ev.mask_iou(a, b[:5])


def test_consistency_and_hs_err():
    c = clip()
    static = np.repeat(c.context[None], 4, 0)
    inside, outside = ev.consistency(static, c.ma_mask >= 0.5)
    assert inside == 0.0 and outside == 0.0
    gin, gout = ev.consistency(c.video, c.ma_mask >= 0.5)
    assert gin > gout  # the hand moves inside the MA
    perfect = ev.hs_err(c.keypoints_2d, c.hand_present, c.keypoints_2d, c.visibility, c.hand_present, 64, 64)
    assert perfect["hs_err"] == pytest.approx(0.0, abs=1e-12) and perfect["matched_frames"] == 4
    missed = ev.hs_err(c.keypoints_2d, np.zeros((4, 2), bool), c.keypoints_2d, c.visibility, c.hand_present, 64, 64)
    from hoi_videogen.hands.keypoint_net import normalize_keypoints

    v = c.visibility[:, 1]
    expect = np.mean([(normalize_keypoints(c.keypoints_2d[t, 1], 64, 64)[v[t]] ** 2).sum() / 42 for t in range(4)])
    assert missed["hs_err"] == pytest.approx(expect, rel=1e-6) and math.isnan(missed["hs_err_detected"])


def test_object_coverage_finds_the_acted_on_object_and_the_wrong_one():
    from sim.handsim.engine import make_clip

    c = make_clip("Stack", 0, resolution=64, num_frames=8)
    assert c.objects["cubeA"][-1, 2] > c.objects["cubeA"][0, 2] + 0.02  # the GT hand lifts cube A, not B
    assert ev.object_coverage(c.ma_mask, c) == {"ma_on_object": 1.0, "ma_other_object_only": 0.0}
    blank = np.zeros_like(c.ma_mask)
    assert ev.object_coverage(blank, c) == {"ma_on_object": 0.0, "ma_other_object_only": 0.0}
    # a motion area over cube B alone: the hand would go to the wrong cube
    (u, v), = c.camera.project(c.objects["cubeB"][0, :3])[0]
    wrong = blank.copy()
    wrong[int(round(v)) - 1 : int(round(v)) + 2, int(round(u)) - 1 : int(round(u)) + 2] = 1.0
    assert ev.object_coverage(wrong, c) == {"ma_on_object": 0.0, "ma_other_object_only": 1.0}
    assert ev.object_coverage(np.stack([wrong, c.ma_mask]), c)["ma_on_object"] == 1.0  # T×H×W: unioned over time
    # one object (Lift): nothing else to go to; nothing moved: undefined
    lift = make_clip("Lift", 0, resolution=64, num_frames=8)
    assert ev.object_coverage(lift.ma_mask, lift)["ma_on_object"] == 1.0
    assert math.isnan(ev.object_coverage(lift.ma_mask, lift)["ma_other_object_only"])
    still = dataclasses.replace(lift, objects={k: np.repeat(v[:1], len(v), 0) for k, v in lift.objects.items()})
    assert all(math.isnan(x) for x in ev.object_coverage(lift.ma_mask, still).values())


def test_evaluate_generator_oracle_and_blank():
    clips = [clip(s) for s in range(2)]
    tracker = GTTracker(clips)
    oracle = ev.summarize_scores(ev.evaluate_generator(ReplayGenerator(clips), clips, tracker, progress=False))["all"]
    assert oracle["ma_iou"] == 1.0 and oracle["psnr_outside_ma"] == ev.PSNR_CAP
    assert oracle["hs_err"] == pytest.approx(0.0, abs=1e-12) and oracle["detection_rate"] == 1.0
    assert oracle["consistency_in"] == pytest.approx(oracle["gt_consistency_in"])
    assert oracle["hs_err_pair"] == 0.0 and oracle["psnr_bg_context"] == pytest.approx(oracle["gt_psnr_bg_context"])
    blank = ev.summarize_scores(ev.evaluate_generator(ReplayGenerator(blank=True), clips, tracker, progress=False))
    b = blank["all"]
    assert b["ma_iou"] == 0.0 and b["detection_rate"] == 0.0 and b["hs_err"] > 0.01 and b["consistency_in"] == 0.0
    assert b["hs_err_pair"] > 0.01 and b["psnr_bg_context"] == ev.PSNR_CAP  # nothing moves: background kept
    assert set(blank["per_task"]) == {"Lift"}


def test_run_writes_record_sheet_and_marks_untrained_rows(tmp_path):
    root = tmp_path / "eval"
    clips = [clip(s, task=t) for t in ("Lift", "Push") for s in (1000, 1001)]
    with DatasetWriter(root, {"resolution": 64}) as w:
        for c in clips:
            w.add(c, f"{c.task}_{c.seed:06d}")
    gen = ReplayGenerator(clips)
    register_generator("replay-test", lambda **kw: gen)
    try:
        cfg = {
            "generator": {"name": "replay-test"}, "data": str(root), "tasks": None, "max_clips_per_task": None,
            "mediapipe": False, "keypoint_net": False, "threads": 1, "sheet_clips": 2, "sheet_frames": 3,
            "sheet": str(tmp_path / "sheet.png"), "results": str(tmp_path / "generator_eval.json"),
            "ablation": [{"name": "MA only", "generator": {"name": "replay-test", "path": str(tmp_path / "missing")}}],
        }  # fmt: skip
        record = ev.run(cfg, tmp_path / "run")
    finally:
        GENERATORS.pop("replay-test")
    assert record["num_clips"] == 4 and len(gen.calls) == 4
    assert {c[2] for c in gen.calls} == {1000, 1001}  # the clips' engine seeds
    assert record["result"]["all"]["ma_iou"] == 1.0
    assert record["ablation"][0]["status"] == "not trained" and "not trained" in record["table"]
    saved = json.loads((tmp_path / "generator_eval.json").read_text())
    assert saved["result"]["status"] == "ok" and len(saved["result"]["clips"]) == 4
    from hoi2robot.media import read_image

    sheet = read_image(tmp_path / "sheet.png")
    assert sheet.shape == (2 * 2 * 128, 3 * 128, 3)  # 2 clips × (GT row + generated row), 3 frames of 128 px
    assert (tmp_path / "run" / "contact_sheet.png").is_file()


class OwnMaskGenerator(ReplayGenerator):
    """Fake two-stage generator: its own motion area is empty unless it is given one (``ma_mask=``)."""

    name = "own-mask-test"

    def generate(self, image, instruction, *, seed=0, camera=None, progress=None, ma_mask=None):
        video = super().generate(image, instruction, seed=seed)
        video.ma_mask = np.zeros_like(video.ma_mask) if ma_mask is None else np.asarray(ma_mask, np.float32)
        return video


def test_gt_ma_row_scores_the_video_stage_on_the_ground_truth_motion_area(tmp_path):
    clips = [clip(s) for s in (1000, 1001)]
    own = ev.summarize_scores(ev.evaluate_generator(OwnMaskGenerator(clips), clips, progress=False))
    gt = ev.summarize_scores(ev.evaluate_generator(OwnMaskGenerator(clips), clips, progress=False, gt_ma=True))
    assert own["all"]["ma_iou"] == 0.0 and gt["all"]["ma_iou"] == 1.0
    with pytest.raises(TypeError, match="ma_mask"):
        ev.evaluate_generator(ReplayGenerator(clips), clips, progress=False, gt_ma=True)
    root = tmp_path / "eval"
    with DatasetWriter(root, {"resolution": 64}) as w:
        for c in clips:
            w.add(c, f"{c.task}_{c.seed:06d}")
    register_generator("own-mask-test", lambda **kw: OwnMaskGenerator(clips))
    try:
        record = ev.run({"generator": {"name": "own-mask-test"}, "data": str(root), "mediapipe": False,
                         "keypoint_net": False, "sheet_clips": 0, "gt_ma_row": True})  # fmt: skip
    finally:
        GENERATORS.pop("own-mask-test")
    assert record["result"]["all"]["ma_iou"] == 0.0 and record["result_gt_ma"]["all"]["ma_iou"] == 1.0
    assert "own-mask-test + GT MA" in record["table"]


def test_run_reports_a_missing_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="hoi-datagen seed_offset=1000"):
        ev.run({"generator": {"name": "tiny"}, "data": str(tmp_path / "none"), "mediapipe": False,
                "keypoint_net": False})  # fmt: skip


# ----------------------------------------------------------------------------------------------------- generated row
class FakeRetargeter:
    def __init__(self, pos=None):
        self.pos = pos

    def retarget(self, track, camera, depth=None):
        from policy.retarget.retargeter import RetargetError

        if not track.valid.any():
            raise RetargetError("no hand detected in any frame")
        t = np.arange(3) / 8.0
        return EETrajectory(t, np.repeat(self.pos[None], 3, 0), np.tile([0.0, 1.0, 0.0, 0.0], (3, 1)), np.zeros(3))


@pytest.fixture
def lift_env():
    from sim.tasks import make_env

    env = make_env("Lift", render_mode="rgb_array", image_size=(64, 64), horizon=40)
    yield env
    env.close()


def test_generated_row_with_fakes(lift_env, monkeypatch):
    from hoi_videogen import rows
    from sim.bench import ROWS, load_rows

    assert "generated" in load_rows()
    gen = ReplayGenerator(blank=True)
    register_generator("fake-row", lambda **kw: gen)
    monkeypatch.setenv("HOI2ROBOT_GENERATOR", "fake-row")
    monkeypatch.setenv("HOI2ROBOT_CONTEXT", "robot")
    monkeypatch.setenv("HOI2ROBOT_TRACKER", "mediapipe")
    obs, _ = lift_env.reset(seed=3)
    found = HandTrack.empty(4, 8.0, (128, 128), "fake")
    found.valid[:, 1] = True
    monkeypatch.setitem(rows._CACHE, "tracker:mediapipe", type("T", (), {"track": lambda self, f, fps: found})())
    fake = FakeRetargeter(obs["robot0_eef_pos"].copy())
    monkeypatch.setitem(rows._CACHE, "retarget:default", fake)
    try:
        record: list = []
        out = ROWS["generated"](lift_env, "Lift", 3, record)
        # the generator saw the 128² egoview frame of this seed and the task's instruction
        (shape, instruction, seed), = gen.calls
        assert shape == (128, 128, 3) and seed == 3 and instruction == lift_env.unwrapped.instruction
        assert out["success"] is False and 0 < out["steps"] <= 40 and out["detection_rate"] == 1.0
        assert len(record) == out["steps"] + 1 and "plan_grasp" not in out  # this retargeter keeps no report
        assert out["tracker"] == "mediapipe"  # each result names the tracker that read the video
        # a retargeter's report: the result says what it made of the video (here: a push, and why)
        from policy.retarget.retargeter import NO_OBJECT_CONTACT, RetargetReport

        fake.last_report = RetargetReport(grasp_type="push", no_grasp=NO_OBJECT_CONTACT)
        out = ROWS["generated"](lift_env, "Lift", 3, None)
        assert {k: v for k, v in out.items() if k.startswith("plan_")} == {
            "plan_grasp": False, "plan_grasp_type": "push", "plan_motion_timed": False, "plan_no_grasp": NO_OBJECT_CONTACT}
        del fake.last_report
        # no hand found: the row fails cleanly, without stepping
        monkeypatch.setitem(rows._CACHE, "tracker:mediapipe",
                            type("T", (), {"track": lambda self, f, fps: HandTrack.empty(4, 8.0, (128, 128), "x")})())  # fmt: skip
        out = ROWS["generated"](lift_env, "Lift", 3, None)
        assert out == {"success": False, "steps": 0, "error": "no hand detected in any frame", "detection_rate": 0.0,
                       "generation_seed": 3, "tracker": "mediapipe"}
        # another attempt on the same scene draws other generator noise, the same for the same attempt
        out = ROWS["generated"](lift_env, "Lift", 3, None, attempt=2)
        assert gen.calls[-1][2] == out["generation_seed"] == rows.generation_seed(3, 2) != 3
        assert gen.calls[-1][:2] == gen.calls[0][:2]  # same context frame and instruction
    finally:
        GENERATORS.pop("fake-row")


def test_generation_seed_keeps_attempt_zero_and_draws_distinct_noise_after():
    from hoi_videogen.rows import generation_seed
    from sim.bench import expert_row, load_rows, takes_attempt

    assert [generation_seed(s) for s in (0, 7, 1000)] == [0, 7, 1000]  # attempt 0: the row as recorded before
    drawn = {generation_seed(s, a) for s in range(50) for a in range(1, 5)}
    assert len(drawn) == 200 and not drawn & set(range(50)) and max(drawn) < 2**31
    assert generation_seed(5, 3) == generation_seed(5, 3)
    with pytest.raises(ValueError, match="attempt"):
        generation_seed(5, -1)
    assert takes_attempt(load_rows()["generated"]) and not takes_attempt(expert_row)


def test_row_tracks_a_generated_video_over_its_context_frame():
    """A MediaPipe tracker gets the context frame, at the video's size, as the background of the track (scenery the
    lenient tracker takes for a hand is dropped); another tracker is called as before."""
    from types import SimpleNamespace

    from hoi_videogen.hands import HandTracker
    from hoi_videogen.rows import track_video

    calls = []

    class Recorder(HandTracker):
        def __init__(self):  # no model needed: only the call is recorded
            pass

        def track(self, frames, fps, background=None):
            calls.append((frames.shape, fps, background))
            return "track"

    class Other:
        def track(self, frames, fps):
            calls.append((frames.shape, fps))
            return "other"

    video = SimpleNamespace(frames=np.zeros((4, 32, 32, 3), np.uint8), fps=8.0)
    context = np.full((64, 64, 3), 200, np.uint8)
    assert track_video(Recorder(), video, context) == "track"
    shape, fps, background = calls[-1]
    assert shape == (4, 32, 32, 3) and fps == 8.0
    assert background.shape == (32, 32, 3) and background.dtype == np.uint8 and (background == 200).all()
    assert track_video(Other(), video, context) == "other" and calls[-1] == ((4, 32, 32, 3), 8.0)


def test_row_config_from_env(monkeypatch):
    from hoi_videogen.rows import GeneratedRowConfig, scale_camera

    monkeypatch.setenv("HOI2ROBOT_GENERATOR", '{"name": "tiny", "num_inference_steps": 4}')
    monkeypatch.setenv("HOI2ROBOT_CONTEXT", "robot")
    cfg = GeneratedRowConfig.from_env()
    assert cfg.generator == {"name": "tiny", "num_inference_steps": 4} and cfg.context == "robot" and cfg.depth
    # the context frame takes the generator's own size: the engine oracle's set resolution, a tiny pipeline's
    from types import SimpleNamespace

    from hoi_videogen.generators import build_generator
    from hoi_videogen.rows import context_size

    assert context_size(cfg, build_generator({"name": "engine", "resolution": 256, "num_frames": 32})) == 256
    assert context_size(cfg, build_generator({"name": "engine"})) == 128  # renders at the size it is given
    assert context_size(cfg, SimpleNamespace(resolution=64)) == 64
    monkeypatch.setenv("HOI2ROBOT_DEPTH", "0")
    assert not GeneratedRowConfig.from_env().depth
    monkeypatch.setenv("HOI2ROBOT_CONTEXT", "nowhere")
    with pytest.raises(ValueError, match="HOI2ROBOT_CONTEXT"):
        GeneratedRowConfig.from_env()
    monkeypatch.setenv("HOI2ROBOT_CONTEXT", "engine")
    # the tracker: the keypoint net or a MediaPipe preset of configs/tracker/ (lenient: low confidence thresholds)
    from hoi_videogen.rows import _CACHE, _tracker, tracker_presets

    assert {"mediapipe", "realtime", "lenient"} <= set(tracker_presets())
    monkeypatch.delenv("HOI2ROBOT_TRACKER", raising=False)
    assert GeneratedRowConfig.from_env().tracker == "lenient"  # the default: generated hands are blob-like
    monkeypatch.setenv("HOI2ROBOT_TRACKER", "mediapipe")
    assert GeneratedRowConfig.from_env().tracker == "mediapipe"
    monkeypatch.delitem(_CACHE, "tracker:lenient", raising=False)
    lenient, default = _tracker("lenient").config, _tracker("mediapipe").config
    assert lenient.min_hand_detection_confidence < default.min_hand_detection_confidence
    assert lenient.zoom_grid == default.zoom_grid  # the rest is the default's
    monkeypatch.setenv("HOI2ROBOT_TRACKER", "mediapipes")
    with pytest.raises(ValueError, match="HOI2ROBOT_TRACKER.*lenient"):
        GeneratedRowConfig.from_env()
    cam = clip().camera
    half = scale_camera(cam, 32, 32)
    p = cam.base_T_cam[:3, 3] + cam.base_T_cam[:3, :3] @ np.array([0.01, 0.02, 0.6])
    uv, _ = cam.project(p[None])
    uv2, _ = half.project(p[None])
    np.testing.assert_allclose(uv2, (uv + 0.5) * 0.5 - 0.5, atol=1e-9)


def test_row_runs_each_tasks_shipped_weights(monkeypatch, tmp_path):
    """``tiny`` without a path runs the task's weights of configs/generated_row.yaml (PickPlaceCan: 256², 32 frames);
    a path given always wins, other tasks keep the 128² weights, and a listed folder without a pipeline is refused."""
    from hoi_videogen.generators import build_generator
    from hoi_videogen.pipeline import TINY_WEIGHTS
    from hoi_videogen.rows import GeneratedRowConfig, context_size, task_weights

    ppc = str(TINY_WEIGHTS.parent / "tiny_256x32_pickplacecan")
    assert task_weights() == {"PickPlaceCan": ppc}
    for env in (None, "tiny", '{"name": "tiny", "num_inference_steps": 10}'):
        if env is None:
            monkeypatch.delenv("HOI2ROBOT_GENERATOR", raising=False)
        else:
            monkeypatch.setenv("HOI2ROBOT_GENERATOR", env)
        cfg = GeneratedRowConfig.from_env("PickPlaceCan")
        assert cfg.generator["name"] == "tiny" and cfg.generator["path"] == ppc
        assert "path" not in GeneratedRowConfig.from_env("Lift").generator
        assert "path" not in GeneratedRowConfig.from_env().generator
    assert cfg.generator["num_inference_steps"] == 10  # the other settings stay
    gen = build_generator(GeneratedRowConfig.from_env("PickPlaceCan").generator)
    assert (gen.resolution, context_size(cfg, gen)) == (256, 256)
    monkeypatch.setenv("HOI2ROBOT_GENERATOR", json.dumps({"name": "tiny", "path": str(TINY_WEIGHTS)}))
    assert GeneratedRowConfig.from_env("PickPlaceCan").generator["path"] == str(TINY_WEIGHTS)
    monkeypatch.setenv("HOI2ROBOT_GENERATOR", "engine")
    assert GeneratedRowConfig.from_env("PickPlaceCan").generator == {"name": "engine"}
    # a config naming a folder without a saved pipeline
    import hoi_videogen.rows as rows

    fake = tmp_path / "hoi2robot_configs"
    fake.mkdir()
    (fake / "generated_row.yaml").write_text("task_weights:\n  Lift: no_such_weights\n")
    monkeypatch.setattr("importlib.resources.files", lambda pkg: fake)
    rows.task_weights.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="Lift.*no_such_weights.*no saved pipeline"):
            rows.task_weights()
    finally:
        rows.task_weights.cache_clear()


def test_generator_formats_bench(tmp_path, bench_script):
    """bench/generator_formats.py: the engine-oracle ceiling per format from hoi-bench records (a record of another
    format is refused), stage-2 step time and out-of-memory from the GPU probe's files, and a real sampling run of
    the tiny architecture at a format it was not saved with."""
    mod = bench_script("generator_formats")

    def record(res, frames, successes, gen_res=None):
        env = {"HOI2ROBOT_GENERATOR": json.dumps({"name": "engine", "resolution": gen_res or res, "num_frames": frames})}
        eps = [{"task": "PickPlaceCan", "seed": 1000 + i, "success": i < successes} for i in range(4)]
        summary = {"generated": {"PickPlaceCan": {"success_rate": successes / 4, "episodes": 4}}}
        (tmp_path / f"ceil_{res}_{frames}.json").write_text(json.dumps({"env": env, "summary": summary,
                                                                         "episodes": eps}))

    record(64, 4, 1)
    logs = tmp_path / "gpu"
    logs.mkdir()
    (logs / "losses_64_4_b8.csv").write_text("stage,step,lr,seconds,loss\nma,5,0,1.0,1\nvideo,5,0,2.0,1\n"
                                             "video,15,0,7.0,0.5\n")  # fmt: skip
    (logs / "mem_64_4_b8.txt").write_text("100\n900\n400\n")
    (logs / "mem_64_4_b16.txt").write_text("81000\n")  # no loss rows: out of memory
    out = tmp_path / "formats.json"
    rec = mod.main(["--ceilings", str(tmp_path / "ceil"), "--train-logs", str(logs), "--formats", "64x4", "128x8",
                    "--steps", "2", "--repeats", "1", "--threads", "1", "--out", str(out)])
    small, missing = rec["formats"]
    assert small["ceiling"]["success_rate"] == 0.25 and small["ceiling"]["seeds"] == [1000, 1003]
    assert missing["ceiling"] is None  # no record for 128x8
    assert small["gpu_train"]["8"] == {"peak_gpu_mib": 900, "s_per_step": 0.5, "clips_per_s": 16.0}
    assert small["gpu_train"]["16"]["oom"] and missing["gpu_train"] == {}
    assert small["cpu_s_per_clip"] > 0 and out.with_suffix(".png").is_file()
    record(64, 4, 1, gen_res=128)  # a record of the engine at another resolution under this format's name
    with pytest.raises(ValueError, match="not the 64x4 engine oracle"):
        mod.main(["--ceilings", str(tmp_path / "ceil"), "--formats", "64x4", "--no-sample", "--out", str(out)])
    with pytest.raises(SystemExit):
        mod.main(["--ceilings", str(tmp_path / "ceil"), "--formats", "100x4"])  # not a multiple of 8


def test_vae_hands_bench(tmp_path, bench_script):
    """bench/vae_hands.py: a VAE round trip keeps the frames' shape and most of their content, the record has one
    row per dataset with rates in [0, 1], and a dataset without the task is an error, not an empty row."""
    mod = bench_script("vae_hands")
    root = tmp_path / "clips"
    with DatasetWriter(root, {"resolution": 64}) as w:
        for c in (clip(0, task="Push"), clip(1, task="Push")):
            w.add(c, f"{c.task}_{c.seed:06d}")
    rec = mod.main(["--data", str(root), "--task", "Push", "--clips", "1", "--out", str(tmp_path / "v.json")])
    (row,) = rec["datasets"]
    assert (row["clips"], row["resolution"], row["num_frames"]) == (1, 64, 4)
    assert 0 <= row["hand_found_original"] <= 1 and 0 <= row["hand_found_vae"] <= 1 and row["psnr"] > 10
    with pytest.raises(ValueError, match="no Lift clips"):
        mod.main(["--data", str(root), "--task", "Lift", "--out", str(tmp_path / "v.json")])


def test_background_hands_bench(tmp_path, bench_script):
    """bench/background_hands.py: the histogram counts every detection once and the threshold count matches; a real
    (1-step) run of the shipped 256² generator writes a record whose per-seed counts add up, and a PNG."""
    mod = bench_script("background_hands")
    h = mod.histogram([0.0, 0.01, 0.09, 0.5, 1.0], 0.1)
    assert sum(h["counts"]) == h["detections"] == 5 and h["under_threshold"] == 3 and h["counts"][0] == 2
    out = tmp_path / "bh.json"
    rec = mod.main(["--seeds", "0", "1", "--steps", "1", "--threads", "2", "--out", str(out)])
    assert json.loads(out.read_text())["histogram"] == rec["histogram"] and out.with_suffix(".png").is_file()
    (seed,) = rec["per_seed"]
    assert seed["detections"] == rec["histogram"]["detections"] == sum(rec["histogram"]["counts"])
    assert seed["under_threshold"] == rec["histogram"]["under_threshold"] <= seed["detections"]
    assert rec["tracker"] == "lenient_nobg" and rec["generator"]["num_inference_steps"] == 1
    with pytest.raises(SystemExit):
        mod.main(["--seeds", "3", "3", "--out", str(out)])
