"""HOIClip datasets: MA mask, writer/reader, crash recovery and resume, instructions, hand metrics, hoi-datagen."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from hoi2robot.media import read_image
from hoi_videogen.data import (
    DatasetError,
    DatasetWriter,
    HOIClipDataset,
    hull_mask,
    motion_area_mask,
    paraphrases,
    sample_instruction,
)
from hoi_videogen.hands import metrics
from sim.handsim import datagen
from sim.handsim.synthetic import synthetic_clip

ENV = os.environ | {"MUJOCO_GL": "egl", "PYTHONUNBUFFERED": "1"}


def datagen_cfg(*overrides: str):
    with initialize_config_module(config_module="hoi2robot.configs", version_base=None):
        return compose(config_name="datagen", overrides=["source=synthetic", "resolution=64", *overrides])


def tiny_cfg(num_frames: int = 4):
    return OmegaConf.create({"resolution": 64, "num_frames": num_frames, "fps": 8.0, "camera": "egoview"})


def run_datagen(*overrides: str, **kwargs) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sim.handsim.datagen", "source=synthetic", "resolution=64", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=ENV, **kwargs)


def assert_clean_dataset(root: Path, ids: set[str]) -> None:
    """Every id once in the manifest, a loadable folder each, nothing else under clips/."""
    lines = (root / "manifest.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert sorted(p.name for p in (root / "clips").iterdir()) == sorted(ids)
    ds = HOIClipDataset(root)
    for i, rec in enumerate(ds.records):
        clip = ds[i]
        assert (clip.task, clip.seed) == (rec["task"], rec["seed"])


# ------------------------------------------------------------------------------------------------------ MA mask
def rect_hand(x0: int, y0: int, x1: int, y1: int, rng: np.random.Generator) -> np.ndarray:
    """21 keypoints whose convex hull is the rectangle [x0, x1] × [y0, y1] (corners + points inside)."""
    inner = rng.uniform([x0 + 0.1, y0 + 0.1], [x1 - 0.1, y1 - 0.1], (17, 2))
    return np.concatenate([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]], inner]).astype(np.float32)


def test_ma_mask_is_the_union_of_filled_hulls_even_when_concave():
    rng = np.random.default_rng(0)
    kp = np.zeros((3, 2, 21, 2), np.float32)
    kp[0, 1] = rect_hand(2, 2, 8, 6, rng)  # a horizontal bar ...
    kp[1, 1] = rect_hand(6, 2, 8, 14, rng)  # ... and a vertical one: an L, whose hull would fill the corner
    kp[2, 0] = rect_hand(-5, 10, 3, 30, rng)  # the other hand, partly outside the 20×16 image
    kp[0, 0] = 100.0  # slot 0 absent in frames 0, 1: far away and invalid
    kp[1, 0] = -100.0
    vis = np.zeros((3, 2, 21), bool)
    vis[0, 1] = vis[1, 1] = vis[2, 0] = True
    mask = motion_area_mask(kp, vis, height=16, width=20)

    expected = np.zeros((16, 20), np.float32)  # pixel centres inside or on each rectangle, clipped to the image
    expected[2:7, 2:9] = 1
    expected[2:15, 6:9] = 1
    expected[10:16, 0:4] = 1
    assert mask.dtype == np.float32 and mask.shape == (16, 20)
    np.testing.assert_array_equal(mask, expected)
    assert mask[12, 3] == 1 and mask[12, 4] == 0 and mask[10, 5] == 0  # the L's inner corner stays empty

    per_frame = np.zeros((16, 20), np.uint8)  # the direct construction: one hull per frame and hand, OR-ed
    for t in range(3):
        for h in range(2):
            per_frame |= hull_mask(kp[t, h][vis[t, h]], 16, 20)
    np.testing.assert_array_equal(mask, per_frame.astype(np.float32))
    assert motion_area_mask(kp, vis.any(-1), 16, 20).sum() == mask.sum()  # T×2 hand validity form


def test_ma_mask_invisible_points_small_hulls_and_dilation():
    kp = np.zeros((2, 2, 21, 2), np.float32)
    kp[0, 1] = (5, 5)
    kp[0, 1, 0] = (40, 40)  # an outlier keypoint ...
    vis = np.zeros((2, 2, 21), bool)
    vis[0, 1, 1:] = True  # ... that is not visible; all other points coincide: a one-point hull
    kp[1, 0, :2] = [(1, 9), (9, 9)]  # a two-point "hull": a segment
    vis[1, 0, :2] = True
    mask = motion_area_mask(kp, vis, 12, 12)
    expected = np.zeros((12, 12), np.float32)
    expected[5, 5] = 1
    expected[9, 1:10] = 1
    np.testing.assert_array_equal(mask, expected)
    grown = motion_area_mask(kp, vis, 12, 12, dilate_px=1)
    assert (grown >= mask).all() and grown[4, 5] == grown[10, 5] == 1 and grown[3, 5] == 0
    assert motion_area_mask(kp, np.zeros((2, 2), bool), 12, 12).sum() == 0


@pytest.mark.parametrize(
    "kp_shape, valid_shape, match",
    [((4, 2, 20, 2), (4, 2), "T×2×21×2"), ((4, 2, 21, 2), (4, 3), "valid must be"), ((4, 2, 21, 2), (3, 2), "valid")],
)
def test_ma_mask_rejects_bad_shapes(kp_shape, valid_shape, match):
    with pytest.raises(ValueError, match=match):
        motion_area_mask(np.zeros(kp_shape), np.ones(valid_shape, bool), 8, 8)
    with pytest.raises(ValueError, match="height"):
        motion_area_mask(np.zeros((1, 2, 21, 2)), np.ones((1, 2), bool), 0, 8)


# ------------------------------------------------------------------------------------------------- instructions
def test_paraphrases_start_with_the_registry_instruction_and_sampling_is_seeded():
    from sim.tasks import TASKS, get_spec

    for task in TASKS:
        options = paraphrases(task)
        assert options[0] == get_spec(task).instruction
        assert 6 <= len(options) <= 10 and len(set(options)) == len(options)
        assert sample_instruction(task, 7) == sample_instruction(task, np.random.default_rng(7))
        assert {sample_instruction(task, s) for s in range(40)} == set(options)
    with pytest.raises(ValueError, match="unknown task 'Fly'"):
        paraphrases("Fly")


# ---------------------------------------------------------------------------------------------- writer / reader
def test_synthetic_source_is_deterministic_per_seed():
    a, b, c = (synthetic_clip("Stack", s, tiny_cfg()) for s in (5, 5, 6))
    for name in ("context", "video", "keypoints_2d", "keypoints_3d", "visibility", "hand_present", "ma_mask"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.objects["object"], b.objects["object"])
    assert (a.success, a.meta) == (b.success, b.meta)
    assert not np.array_equal(a.video, c.video)
    assert a.instruction == "stack the red cube on the green cube"


def test_writer_reader_round_trip(tmp_path):
    clips = {f"{t}_{s:06d}": synthetic_clip(t, s, tiny_cfg()) for t, s in [("Lift", 0), ("Lift", 1), ("Push", 0)]}
    info = {"resolution": 64, "source": "synthetic"}
    with DatasetWriter(tmp_path, info=info) as w:
        for cid, clip in clips.items():
            rec = w.add(clip, cid)
            assert rec["path"] == f"clips/{cid}" and rec["width"] == rec["height"] == 64
        assert w.done_ids() == set(clips)
        with pytest.raises(DatasetError, match="already in"):
            w.add(clips["Lift_000000"], "Lift_000000")
        with pytest.raises(ValueError, match="clip id must match"):
            w.add(clips["Lift_000000"], "../escape")
        with pytest.raises(DatasetError, match="another process"):
            DatasetWriter(tmp_path)
    with pytest.raises(DatasetError, match=r"resolution=64 there but 128 here"):
        DatasetWriter(tmp_path, info={"resolution": 128, "source": "synthetic"})

    ds = HOIClipDataset(tmp_path)
    assert len(ds) == 3 and ds.ids == list(clips) and ds.info == info
    assert set(ds.records[0]) >= {"id", "path", "task", "seed", "instruction", "success", "num_frames", "fps",
                                  "width", "height", "camera", "ma_area", "hand_frames", "visible_keypoints"}  # fmt: skip
    for i, (cid, clip) in enumerate(clips.items()):
        got = ds[i]
        np.testing.assert_array_equal(got.video, clip.video)  # lossless
        np.testing.assert_array_equal(got.keypoints_2d, clip.keypoints_2d)
        np.testing.assert_array_equal(got.ma_mask, clip.ma_mask)
        assert got.instruction == clip.instruction and got.success == clip.success
    assert ds.filter(task="Lift").ids == ["Lift_000000", "Lift_000001"]
    assert ds.filter(task=["Push"], success=clips["Push_000000"].success).ids == ["Push_000000"]
    assert len(ds.filter(task="Stack")) == 0 and ds.filter(seed=1).ids == ["Lift_000001"]
    assert ds.get("Push_000000").task == "Push"
    with pytest.raises(KeyError, match="nope"):
        ds.get("nope")
    with pytest.raises(DatasetError, match="no manifest.jsonl"):
        HOIClipDataset(tmp_path / "clips")
    DatasetWriter(tmp_path / "empty", info={"resolution": 64}).close()  # no clips yet: new settings are taken
    DatasetWriter(tmp_path / "empty", info={"resolution": 128}).close()
    assert HOIClipDataset(tmp_path / "empty").info == {"resolution": 128}


def test_writer_repairs_what_a_killed_run_leaves(tmp_path):
    clips = [synthetic_clip("Lift", s, tiny_cfg(2)) for s in range(3)]
    with DatasetWriter(tmp_path) as w:
        w.add(clips[0], "Lift_000000")
    root = tmp_path
    clips[1].save(root / "clips/Lift_000001")  # killed between the folder rename and the manifest line
    (root / "clips/.Lift_000002.tmp-x1y2").mkdir()  # killed inside HOIClip.save
    (root / "clips/.Lift_000002.tmp-x1y2/video.mp4").write_bytes(b"half")
    (root / "clips/Lift_000009").mkdir()  # not a clip at all
    (root / "clips/Lift_000009/meta.json").write_text("{}")
    with open(root / "manifest.jsonl", "a") as f:
        f.write('{"id": "Lift_000002", "pa')  # killed mid-line

    with pytest.warns(UserWarning, match="unterminated last line"):
        ds = HOIClipDataset(root)
    assert ds.ids == ["Lift_000000"]

    with DatasetWriter(root) as w:
        assert w.recovered["truncated"] is True
        assert w.recovered["readded"] == ["Lift_000001"]
        assert w.recovered["removed_tmp"] == [".Lift_000002.tmp-x1y2"]
        assert w.recovered["removed_invalid"] == ["Lift_000009"]
        w.add(clips[2], "Lift_000002")
    assert_clean_dataset(root, {"Lift_000000", "Lift_000001", "Lift_000002"})

    import shutil

    shutil.rmtree(root / "clips/Lift_000001")  # a manifest line whose folder is gone: dropped on reopen
    with DatasetWriter(root) as w:
        assert w.recovered["dropped_missing"] == ["Lift_000001"] and "Lift_000001" not in w.done_ids()


def test_corrupt_or_missing_clips_and_manifests_give_clear_errors(tmp_path):
    with DatasetWriter(tmp_path) as w:
        for s in range(2):
            w.add(synthetic_clip("Push", s, tiny_cfg(2)), f"Push_{s:06d}")
    (tmp_path / "clips/Push_000000/video.mp4").write_bytes(b"not a video")
    ds = HOIClipDataset(tmp_path)
    with pytest.raises(DatasetError, match=r"clip 'Push_000000' .* could not be loaded .*corrupt"):
        ds[0]
    (tmp_path / "clips/Push_000001/hands.npz").unlink()
    with pytest.raises(DatasetError, match=r"clip 'Push_000001' .*missing \['hands.npz'\]"):
        ds.get("Push_000001")
    (tmp_path / "clips/Push_000001/meta.json").write_text("{}")
    with pytest.raises(DatasetError, match=r"clip 'Push_000001' .*could not be loaded"):
        ds.get("Push_000001")
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    (tmp_path / "manifest.jsonl").write_text("\n".join([lines[0], "garbage", lines[1]]) + "\n")
    with pytest.raises(DatasetError, match=r"manifest.jsonl:2 is not valid JSON"):
        HOIClipDataset(tmp_path)
    (tmp_path / "manifest.jsonl").write_text("\n".join([lines[0], lines[0]]) + "\n")
    with pytest.raises(DatasetError, match=r"manifest.jsonl:2 repeats clip id 'Push_000000'"):
        HOIClipDataset(tmp_path)


# ------------------------------------------------------------------------------------------------------ metrics
def test_hand_metrics_match_by_position_not_label():
    rng = np.random.default_rng(1)
    gt = rng.uniform(10, 100, (5, 2, 21, 2)).astype(np.float32)
    present = np.array([[False, True], [False, True], [True, True], [False, True], [False, True]])
    vis = np.repeat(present[..., None], 21, -1).copy()
    vis[3, 1, :10] = False  # frame 3: only 11 of 21 GT keypoints in view: not eligible
    det = np.zeros_like(gt)
    valid = np.zeros((5, 2), bool)
    det[0, 1], valid[0, 1] = gt[0, 1] + (3, 4), True  # right hand found as right: 5 px off
    det[1, 0], valid[1, 0] = gt[1, 1] + (0, 2), True  # right hand reported as left: matched, mislabelled, 2 px
    det[2, 1], valid[2, 1] = gt[2, 1], True  # two GT hands, only the right one found
    det[3, 0], valid[3, 0] = gt[3, 1] + 100, True
    # frame 4: the real right hand labelled "left" (1 px off) and a false "right" hand 200 px away (a red object):
    # the real hand is matched (a label-first rule took the false one), the false one is a false positive
    det[4, 0], valid[4, 0] = gt[4, 1] + (1, 0), True
    det[4, 1], valid[4, 1] = gt[4, 1] + 200, True

    det_slot, mislabelled = metrics.match_hands(gt, present, det, valid)
    np.testing.assert_array_equal(det_slot, [[-1, 1], [-1, 0], [-1, 1], [-1, -1], [-1, 0]])  # frame 3: beyond the gate
    np.testing.assert_array_equal(mislabelled, [[False, False], [False, True], [False, False], [False, False], [False, True]])
    assert metrics.keypoint_error_px(det[0, 1], gt[0, 1]) == pytest.approx(5.0)
    assert np.isnan(metrics.keypoint_error_px(det[0, 1], gt[0, 1], np.zeros(21, bool)))
    with pytest.raises(ValueError, match="gate"):
        metrics.match_hands(gt, present, det, valid, gate=0)

    comp = metrics.compare_track(gt, vis, present, det, valid)
    np.testing.assert_array_equal(comp.eligible, [[False, True], [False, True], [True, True], [False, False], [False, True]])
    np.testing.assert_allclose(comp.error_px[[0, 1, 2, 4], 1], [5.0, 2.0, 0.0, 1.0], atol=1e-5)
    summary = metrics.summarize([comp])
    assert summary["eligible"] == 5 and summary["detected"] == 4
    assert summary["detection_rate"] == pytest.approx(0.8)
    assert summary["mean_error_px"] == pytest.approx(2.0, abs=1e-5) and summary["median_error_px"] == pytest.approx(1.5)
    assert summary["mislabelled"] == 2 and summary["false_positives"] == 2  # frame 3's far hand, frame 4's red object
    assert np.isnan(metrics.detection_rate(np.ones(3, bool), np.zeros(3, bool)))
    assert metrics.summarize([])["eligible"] == 0


# ------------------------------------------------------------------------------------------------------ datagen
def test_datagen_plan_source_registry_and_clip_checks(tmp_path, monkeypatch):
    cfg = datagen_cfg("tasks=[Lift,Push]", "clips_per_task=3", "seed_offset=10")
    todo, done = datagen.plan(cfg, {"Lift_000011"})
    assert [i.clip_id for i in todo] == ["Lift_000010", "Lift_000012", "Push_000010", "Push_000011", "Push_000012"]
    assert [i.clip_id for i in done] == ["Lift_000011"]
    monkeypatch.setitem(datagen.SOURCE_MODULES, "ghost", "sim.handsim.no_such_module")
    with pytest.raises(ValueError, match=r"source 'ghost' lives in sim.handsim.no_such_module, which is not avail"):
        datagen.get_source("ghost")
    with pytest.raises(ValueError, match="unknown clip source 'nope'"):
        datagen.get_source("nope")
    with pytest.raises(ValueError, match=r"unknown or no task\(s\) \['Fly'\]"):
        datagen.check_config(datagen_cfg("tasks=[Fly]"))

    @datagen.register_source("wrong_size")
    def wrong_size(task, seed, cfg):
        return synthetic_clip(task, seed, OmegaConf.merge(cfg, {"resolution": 32}))

    monkeypatch.setitem(datagen.SOURCES, "wrong_size", wrong_size)
    bad = datagen_cfg("source=wrong_size", "tasks=[Lift]", "clips_per_task=1", "workers=1", f"out={tmp_path}")
    report = datagen.generate(bad)
    assert report["run"]["written"] == 0 and report["per_task"]["Lift"]["failed"] == 1
    assert "size=(32, 32) (asked (64, 64))" in report["run"]["failed"][0]["error"]
    assert (tmp_path / "manifest.jsonl").read_text() == ""


@pytest.mark.xdist_group("datagen")
def test_datagen_cli_end_to_end_resume_and_validate(tmp_path, hand_model_path):
    out = tmp_path / "ds"
    args = ["tasks=[Lift,Push]", "clips_per_task=2", "num_frames=8", "workers=1", f"out={out}"]
    t0 = time.perf_counter()
    proc = run_datagen(*args)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| Lift | 2 | 2 | 0 | 0 |" in proc.stdout and "| Push | 2 | 2 | 0 | 0 |" in proc.stdout
    assert_clean_dataset(out, {"Lift_000000", "Lift_000001", "Push_000000", "Push_000001"})
    report = json.loads((out / "datagen_report.json").read_text())
    assert report["run"]["written"] == 4 and report["config"]["source"] == "synthetic"
    print(f"4 clips, CLI wall {wall:.1f} s, write {1000 * report['run']['write_s_mean']:.0f} ms/clip")

    again = datagen.generate(datagen_cfg(*args, "clips_per_task=3"))
    assert again["run"]["skipped"] == 4 and again["run"]["written"] == 2  # resumed: only the new seed 2
    with pytest.raises(DatasetError, match="resolution=64 there but 128 here"):
        datagen.generate(datagen_cfg(*args, "resolution=128"))

    proc = run_datagen(f"out={out}", "validate_only=true", "validation.worst=4", f"tracker.model_path={hand_model_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| all |" in proc.stdout
    v = json.loads((out / "validate/report.json").read_text())
    assert v["clips"] == 6 and v["frames"] == 48 and set(v["per_task"]) == {"Lift", "Push"}
    overall = v["overall"]
    groups = [v["per_task"][t]["egoview"] for t in ("Lift", "Push")]
    for key in ("eligible", "detected", "mislabelled", "false_positives"):
        assert overall[key] == sum(g[key] for g in groups) == sum(c[key] for c in v["per_clip"])
    assert 0 < overall["eligible"] <= 6 * 8 and 0 <= overall["detected"] <= overall["eligible"]
    assert overall["detection_rate"] == pytest.approx(overall["detected"] / overall["eligible"])
    assert (overall["mean_error_px"] is None) == (overall["detected"] == 0)
    assert 1 <= len(v["worst"]) <= 4 and all(c["id"] in {r["id"] for r in v["per_clip"]} for c in v["worst"])
    sheet = read_image(out / "validate/worst.png")
    assert sheet.shape == (192, 192 * len(v["worst"]), 3)
    assert v["targets"] == {"detection_rate": 0.95, "mean_error_px_at_256": 5.0}
    for g in groups:  # synthetic 64² clips: the error target scales to 1.25 px
        assert g["resolution"] == 64 and g["target_error_px"] == pytest.approx(1.25)
        assert g["pass"] == (g["detection_rate"] is not None and g["detection_rate"] >= 0.95
                             and g["mean_error_px"] is not None and g["mean_error_px"] <= 1.25)  # fmt: skip
    assert v["pass"] == all(g["pass"] for g in groups)
    assert ("| all |" in proc.stdout) and (" PASS |" in proc.stdout or " FAIL |" in proc.stdout)


def test_validation_targets():
    from hoi_videogen.data.validate import check_targets

    row = {"eligible": 100, "detection_rate": 0.96, "mean_error_px": 4.9}
    assert check_targets(row, 256, 0.95, 5.0)["pass"]
    assert not check_targets(dict(row, detection_rate=0.94), 256, 0.95, 5.0)["pass"]
    assert not check_targets(row, 128, 0.95, 5.0)["pass"]  # 4.9 px at 128² is 9.8 px at 256²
    assert check_targets(dict(row, mean_error_px=2.4), 128, 0.95, 5.0) == {
        "resolution": 128, "target_error_px": 2.5, "pass": True}  # fmt: skip
    assert not check_targets({"eligible": 0, "detection_rate": float("nan"), "mean_error_px": float("nan")},
                             256, 0.95, 5.0)["pass"]  # fmt: skip


@pytest.mark.xdist_group("datagen")
def test_datagen_killed_mid_run_resumes_with_every_clip_once(tmp_path):
    out = tmp_path / "ds"
    args = ["tasks=[Lift,Push]", "clips_per_task=5", "num_frames=4", f"out={out}"]
    cmd = [sys.executable, "-m", "sim.handsim.datagen", "source=synthetic", "resolution=64", *args]
    proc = subprocess.Popen(
        [*cmd, "workers=2", "synthetic.delay_s=0.4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, start_new_session=True,
    )  # fmt: skip
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.is_file() and manifest.read_text().count("\n") >= 3:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker processes, mid-way
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    n_before = manifest.read_text().count("\n")
    assert 3 <= n_before < 10, "the run was not killed mid-way"

    report = datagen.generate(datagen_cfg(*args, "workers=1"))
    print(f"killed after {n_before} manifest lines; repaired: {report['recovered']}")
    assert report["run"]["skipped"] + report["run"]["written"] == 10
    assert report["run"]["skipped"] >= n_before
    assert_clean_dataset(out, {f"{t}_{s:06d}" for t in ("Lift", "Push") for s in range(5)})
    assert not list(out.glob("clips/.*"))
