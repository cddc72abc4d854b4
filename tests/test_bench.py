"""hoi-bench and hoi-demo: planning, summaries, and short end-to-end runs of the real commands."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from sim import bench


def bench_cfg(*overrides: str):
    with initialize_config_module(config_module="hoi2robot.configs", version_base=None):
        return compose(config_name="bench", overrides=list(overrides))


def test_plan_splits_seeds_and_records_first_seed_once():
    items = bench.plan(bench_cfg("tasks=[Lift,Push]", "seeds=7", "chunk=3", "seed_offset=100"))
    assert [(i.task, i.seeds) for i in items] == [
        ("Lift", (100, 101, 102)), ("Lift", (103, 104, 105)), ("Lift", (106,)),
        ("Push", (100, 101, 102)), ("Push", (103, 104, 105)), ("Push", (106,)),
    ]  # fmt: skip
    assert [i.video_seed for i in items] == [100, None, None, 100, None, None]


@pytest.mark.parametrize(
    "override, match",
    [("rows=[nope]", r"unknown benchmark row\(s\) \['nope'\]; available: \['expert'"),
     ("tasks=[Lift,Fly]", r"unknown task\(s\) \['Fly'\]; available: .*'Lift'"),
     ("seeds=0", "must be >= 1")],
)  # fmt: skip
def test_plan_rejects_bad_names(override, match):
    with pytest.raises(ValueError, match=match):
        bench.plan(bench_cfg(override))


def test_summary_and_table():
    eps = [bench.Episode("expert", "Lift", s, s != 2, 10 + s, 0.5) for s in range(4)]
    summary = bench.summarize(eps)
    assert summary["expert"]["Lift"] == {"success_rate": 0.75, "episodes": 4, "mean_steps": 11.5, "sec_per_episode": 0.5}
    table = bench.format_table(summary, ["Lift", "Stack"])
    assert "| expert | 75% (4) | – |" in table


@pytest.mark.xdist_group("sim")
def test_bench_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("HOI2ROBOT_RETARGET", '{"objects": {"grasp_yaw": "hand"}}')  # unused by the expert row
    cfg = bench_cfg("tasks=[Lift]", "seeds=2", "workers=1", "video_size=[64,64]", f"results_dir={tmp_path}", "name=t")
    record = bench.run(cfg, tmp_path)
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["summary"]["expert"]["Lift"]["episodes"] == 2
    assert saved["summary"]["expert"]["Lift"]["success_rate"] == 1.0
    assert [e["seed"] for e in saved["episodes"]] == [0, 1]
    assert saved["env"]["HOI2ROBOT_RETARGET"] == '{"objects": {"grasp_yaw": "hand"}}'  # what selected the rows' setup
    video = Path(record["videos"]["expert"]["Lift"])
    assert video.is_file() and video.stat().st_size > 1000


@pytest.mark.xdist_group("sim")
@pytest.mark.parametrize("driver", ["tracked-hand", "expert"])
def test_demo_command_writes_artifacts(tmp_path, driver):
    out = tmp_path / "demo"
    args = [] if driver == "tracked-hand" else [f"driver={driver}"]  # tracked-hand is the default
    proc = subprocess.run(
        [sys.executable, "-m", "hoi2robot.demo", f"hydra.run.dir={out}", "image_size=[64,64]", "task=Lift",
         "cameras=[agentview,egoview]", *args],
        capture_output=True, text=True, timeout=600, env=os.environ | {"MUJOCO_GL": "egl"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"artifacts: {out.resolve()}" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success"] is True and summary["task"] == "Lift" and summary["driver"] == driver
    for name in ("rollout.mp4", "context.png", "cameras/agentview.json", "cameras/egoview.json"):
        assert (out / name).is_file(), name
    from hoi2robot.media import read_video

    video = read_video(out / "rollout.mp4")
    if driver == "expert":
        assert video.shape[1:] == (64, 128, 3)  # two 64² views side by side
    else:
        assert video.shape[1:] == (64, 192, 3)  # hand demo | two robot views
        for name in ("track.npz", "ee.npz", "ee.json", "joints.json", "cameras/demo.json"):
            assert (out / name).is_file(), name
        assert summary["hand_detection_rate"] > 0.5 and summary["retarget"]["has_grasp"]


def test_pool_workers_share_the_cores():
    """share_cores (the collection / bench pool initializer) gives each worker its share of torch's threads, at
    least one: two workers each on all cores oversubscribed the machine about 4x."""
    import torch

    from hoi2robot.config import share_cores

    before = torch.get_num_threads()
    try:
        cores = os.cpu_count() or 1
        assert share_cores(2) == torch.get_num_threads() == max(1, cores // 2)
        assert share_cores(4 * cores) == torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
