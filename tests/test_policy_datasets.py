"""policy.datasets: HDF5 round trip, normalization, windows, corrupt files, LeRobot export, demo collection."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from policy.datasets import DatasetError, Demo, DemoFile, Normalizer, SequenceDataset, read_demos, write_demos
from policy.datasets.lerobot import export_lerobot

ENV_ARGS = {"env_name": "Toy", "type": "hoi2robot", "env_kwargs": {}, "task": "Toy", "lowdim_keys": ["a", "b"]}


def _demos(n: int = 5, images: bool = False) -> list[Demo]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        T = 6 + i
        obs = {"a": rng.normal(size=(T, 3)), "b": rng.uniform(-2, 5, size=(T, 2))}
        if images:
            obs["agentview_image"] = rng.integers(0, 255, (T, 16, 16, 3), dtype=np.uint8)
        rewards = np.zeros(T)
        rewards[-1] = 1
        out.append(Demo(obs, rng.uniform(-1, 1, (T, 7)), rewards, np.eye(T)[-1], source="expert",
                        success=i != 1, seed=i, task="Toy"))
    return out


def test_hdf5_round_trip(tmp_path):
    demos = _demos()
    path = write_demos(tmp_path / "d.hdf5", demos, ENV_ARGS, valid_fraction=0.4)
    back = read_demos(path)
    assert len(back) == len(demos)
    for d, b in zip(demos, back):
        assert set(b.obs) == set(d.obs)
        for k in d.obs:
            np.testing.assert_allclose(b.obs[k], d.obs[k])
        np.testing.assert_allclose(b.actions, d.actions, rtol=1e-6)
        assert (b.source, b.success, b.seed, b.task) == (d.source, d.success, d.seed, d.task)
        assert b.dones[-1] == 1 and b.dones[:-1].sum() == 0
    with DemoFile(path) as f:
        assert f.env_args == ENV_ARGS
        train, valid = f.demo_names("train"), f.demo_names("valid")
        assert len(valid) == 2 and sorted(train + valid, key=lambda n: int(n[5:])) == f.demo_names()
    with h5py.File(path) as f:  # the robomimic layout
        assert f["data/demo_3"].attrs["num_samples"] == 9
        assert f["data"].attrs["total"] == sum(len(d) for d in demos)
    assert not list(tmp_path.glob(".*tmp"))  # written atomically, nothing left behind


def test_demo_validation():
    with pytest.raises(DatasetError, match="rewards has 3 steps"):
        Demo({"a": np.zeros((4, 1))}, np.zeros((4, 7)), np.zeros(3), np.zeros(4))
    with pytest.raises(DatasetError, match="obs\\['a'\\] has 2 steps"):
        Demo({"a": np.zeros((2, 1))}, np.zeros((4, 7)), np.zeros(4), np.zeros(4))


@pytest.mark.parametrize("mode", ["minmax", "gaussian"])
def test_normalizer(tmp_path, mode):
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(500, 4))
    x[:, 2] = 7.0  # a constant dimension must not blow up
    norm = Normalizer(mode).fit("obs", x)
    y = norm.normalize("obs", x)
    if mode == "minmax":
        np.testing.assert_allclose(y[:, [0, 1, 3]].min(0), -1, atol=1e-5)
        np.testing.assert_allclose(y[:, [0, 1, 3]].max(0), 1, atol=1e-5)
    else:
        np.testing.assert_allclose(y[:, [0, 1, 3]].mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(y[:, [0, 1, 3]].std(0), 1, atol=1e-3)
    assert np.all(np.isfinite(y)) and np.allclose(y[:, 2], 0)
    np.testing.assert_allclose(norm.unnormalize("obs", y), x, rtol=1e-5, atol=1e-5)
    loaded = Normalizer.load(norm.save(tmp_path / "n.json"))
    np.testing.assert_allclose(loaded.normalize("obs", x), y)
    import torch

    np.testing.assert_allclose(norm.normalize("obs", torch.from_numpy(x).float()).numpy(), y, rtol=1e-5, atol=1e-5)
    with pytest.raises(KeyError, match="no normalization statistics for 'action'"):
        norm.normalize("action", x)


def test_sequence_windows(tmp_path):
    demos = _demos()
    path = write_demos(tmp_path / "d.hdf5", demos, ENV_ARGS, valid_fraction=0.0)
    ds = SequenceDataset(path, ["a", "b"], obs_horizon=2, pred_horizon=4, split=None, only_successful=False)
    assert len(ds) == sum(len(d) for d in demos) and ds.obs_dim == 5 and ds.action_dim == 7
    all_obs = np.concatenate([np.concatenate([d.obs["a"], d.obs["b"]], 1) for d in demos])
    np.testing.assert_allclose(ds.normalizer.normalize("obs", all_obs).min(0), -1, atol=1e-5)
    item = ds[0]  # step 0 of demo 0: the first observation repeated, actions 0..3
    assert item["obs"].shape == (2, 5) and item["actions"].shape == (4, 7)
    np.testing.assert_allclose(item["obs"][0], item["obs"][1])
    a0 = ds.normalizer.normalize("action", demos[0].actions)
    np.testing.assert_allclose(item["actions"].numpy(), a0[:4], rtol=1e-6)
    last = ds[len(demos[0]) - 1]  # last step of demo 0: its last action repeated
    np.testing.assert_allclose(last["actions"].numpy(), np.repeat(a0[-1:], 4, 0), rtol=1e-6)
    ok = SequenceDataset(path, ["a", "b"], split=None)  # failed demo 1 skipped by default
    assert len(ok) == len(ds) - len(demos[1])
    batch = ds.batch([0, 3, 7])
    assert batch["obs"].shape == (3, 2, 5) and batch["actions"].shape == (3, 4, 7)


def test_corrupt_and_missing_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_demos(tmp_path / "nope.hdf5")
    path = write_demos(tmp_path / "d.hdf5", _demos(), ENV_ARGS)
    raw = path.read_bytes()
    bad = tmp_path / "truncated.hdf5"
    bad.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(DatasetError, match="truncated.hdf5"):
        read_demos(bad)
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(DatasetError, match="garbage.hdf5.*corrupt"):
        SequenceDataset(garbage, ["a"])
    with h5py.File(path, "a") as f:
        del f["data/demo_2/actions"]
    with pytest.raises(DatasetError, match=r"d.hdf5: missing key 'data/demo_2/actions'"):
        read_demos(path)
    with pytest.raises(DatasetError, match="missing key 'data/demo_0/obs/c'"):
        read_demos(path, obs_keys=["c"])
    with h5py.File(tmp_path / "empty.hdf5", "w"):
        pass
    with pytest.raises(DatasetError, match="missing group 'data'"):
        read_demos(tmp_path / "empty.hdf5")


def test_lerobot_export(tmp_path):
    demos = _demos(3, images=True)
    path = write_demos(tmp_path / "d.hdf5", demos, {**ENV_ARGS, "instruction": "do the toy task"})
    res = export_lerobot(path, tmp_path / "lr")
    root = tmp_path / "lr"
    info = json.loads((root / "meta/info.json").read_text())
    assert info["total_episodes"] == 3 and info["total_frames"] == sum(len(d) for d in demos) == res["frames"]
    assert info["features"]["observation.state"]["shape"] == [5]
    assert info["features"]["observation.images.agentview"]["dtype"] == "video"
    eps = [json.loads(line) for line in (root / "meta/episodes.jsonl").read_text().splitlines()]
    assert [e["length"] for e in eps] == [len(d) for d in demos] and eps[0]["tasks"] == ["do the toy task"]
    assert json.loads((root / "meta/tasks.jsonl").read_text()) == {"task_index": 0, "task": "do the toy task"}
    stats = json.loads((root / "meta/stats.json").read_text())
    np.testing.assert_allclose(stats["action"]["max"], np.concatenate([d.actions for d in demos]).max(0), rtol=1e-6)
    suffix = "parquet" if res["parquet"] else "npz"
    tables = sorted((root / "data/chunk-000").glob(f"episode_*.{suffix}"))
    assert len(tables) == 3
    if not res["parquet"]:
        t = np.load(tables[1])
        np.testing.assert_allclose(t["action"], demos[1].actions, rtol=1e-6)
        assert t["index"][0] == len(demos[0]) and t["episode_index"][0] == 1
    assert len(list(root.glob("videos/chunk-000/observation.images.agentview/episode_*.mp4"))) == 3
    with pytest.raises(FileExistsError):
        export_lerobot(path, root)


def test_collect_expert_demos(tmp_path):
    """Real collection: the expert on Lift, the recorded actions replay to the same outcome."""
    from policy.datasets.collect import CollectConfig, collect
    from sim.tasks import make_env

    with pytest.raises(ValueError, match="unknown source 'nobody'"):
        CollectConfig(source="nobody")
    report = collect(CollectConfig(task="Lift", source="expert", num_demos=2, out=str(tmp_path / "l.hdf5")))
    assert report["successful"] == 2 and report["demos_written"] == 2
    demos = read_demos(tmp_path / "l.hdf5")
    assert [d.seed for d in demos] == [0, 1] and all(d.success and d.source == "expert" for d in demos)
    d = demos[0]
    assert d.rewards[-1] == 1 and d.rewards[:-1].max() == 0 and d.actions.shape[1] == 7
    env = make_env("Lift")
    try:
        obs, _ = env.reset(seed=0)
        np.testing.assert_allclose(obs["cube_pos"], d.obs["cube_pos"][0])
        for a in d.actions:  # open-loop replay of the recorded actions reproduces the episode
            obs, r, *_ = env.step(a)
        assert r == 1.0
    finally:
        env.close()
    with DemoFile(tmp_path / "l.hdf5") as f:
        assert "robot0_eef_pos" in f.env_args["lowdim_keys"] and f.env_args["task"] == "Lift"


def test_collect_survives_a_failing_seed(tmp_path, monkeypatch):
    """A source that raises on one seed loses only that seed; a source that always raises is a clear error."""
    import sim.bench
    from policy.datasets.collect import CollectConfig, collect

    def flaky(env, task, seed, record):
        if seed == 1:
            raise RuntimeError("boom on seed 1")
        return sim.bench.expert_row(env, task, seed, record)

    def broken(env, task, seed, record):
        raise RuntimeError(f"broken source, seed {seed}")

    monkeypatch.setitem(sim.bench.ROWS, "flaky", flaky)
    monkeypatch.setitem(sim.bench.ROWS, "broken", broken)
    report = collect(CollectConfig(task="Lift", source="flaky", num_demos=2, out=str(tmp_path / "f.hdf5")))
    assert report["errors"] == 1 and report["demos_written"] == 1
    assert report["per_seed"][1]["error"] == "RuntimeError: boom on seed 1"
    assert [d.seed for d in read_demos(tmp_path / "f.hdf5")] == [0]
    with pytest.raises(RuntimeError, match="no demos.*broken source, seed 0"):
        collect(CollectConfig(task="Lift", source="broken", num_demos=2, out=str(tmp_path / "b.hdf5")))
    assert not (tmp_path / "b.hdf5").exists()


def test_collect_resumes_after_an_interrupt(tmp_path, monkeypatch):
    """Seeds finished before an interrupt are kept in <out>.parts/ and not collected again; other settings are
    refused rather than mixed in, resume=false starts over, and the folder is gone once the file is written."""
    import sim.bench
    from policy.datasets.collect import CollectConfig, collect, parts_dir

    calls: list[int] = []

    class Interrupt(BaseException):  # like KeyboardInterrupt: not caught as a failing seed
        pass

    def interrupted(env, task, seed, record):
        if seed == 2:
            raise Interrupt()
        calls.append(seed)
        return sim.bench.expert_row(env, task, seed, record)

    def counting(env, task, seed, record):
        calls.append(seed)
        return sim.bench.expert_row(env, task, seed, record)

    monkeypatch.setitem(sim.bench.ROWS, "interrupted", interrupted)
    monkeypatch.setitem(sim.bench.ROWS, "counting", counting)
    out = tmp_path / "r.hdf5"
    cfg = CollectConfig(task="Lift", source="interrupted", num_demos=3, out=str(out))
    with pytest.raises(Interrupt):
        collect(cfg)
    assert not out.exists() and calls == [0, 1]
    parts = parts_dir(cfg)
    assert sorted(p.name for p in parts.glob("seed_*")) == ["seed_0.hdf5", "seed_0.json", "seed_1.hdf5", "seed_1.json"]

    with pytest.raises(ValueError, match="other settings.*source"):  # another source must not reuse these seeds
        collect(CollectConfig(task="Lift", source="counting", num_demos=3, out=str(out)))
    assert parts.is_dir() and calls == [0, 1]
    monkeypatch.setenv("HOI2ROBOT_TRACKER", "keypoint_net")  # nor the same source with another tracker
    with pytest.raises(ValueError, match="other settings.*env"):
        collect(cfg)
    monkeypatch.delenv("HOI2ROBOT_TRACKER")

    # The same settings finish the run: only seed 2 is collected. (The source is swapped for one that does not
    # raise; the key is the source *name*, so the saved seeds 0 and 1 are reused.)
    monkeypatch.setitem(sim.bench.ROWS, "interrupted", counting)
    report = collect(cfg)
    assert calls == [0, 1, 2] and report["resumed_seeds"] == 2 and report["demos_written"] == 3
    assert not parts.exists()
    demos = read_demos(out)
    assert [d.seed for d in demos] == [0, 1, 2] and all(d.success for d in demos)
    collect(CollectConfig(task="Lift", source="expert", num_demos=3, out=str(tmp_path / "fresh.hdf5")))
    for a, b in zip(demos, read_demos(tmp_path / "fresh.hdf5")):  # the same data as an uninterrupted run's
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.obs["cube_pos"], b.obs["cube_pos"])

    # resume=false discards what an interrupted run saved.
    monkeypatch.setitem(sim.bench.ROWS, "interrupted", interrupted)
    calls.clear()
    cfg2 = CollectConfig(task="Lift", source="interrupted", num_demos=2, seed_offset=1, out=str(tmp_path / "s.hdf5"))
    with pytest.raises(Interrupt):
        collect(cfg2)
    assert calls == [1] and (parts_dir(cfg2) / "seed_1.json").is_file()
    monkeypatch.setitem(sim.bench.ROWS, "interrupted", counting)
    cfg2.resume = False
    assert collect(cfg2)["resumed_seeds"] == 0 and calls == [1, 1, 2]


def noisy_row(calls: list[tuple[int, int]], succeeds: set[tuple[int, int]]):
    """A fake row that takes ``attempt``: the expert's episode on the (seed, attempt) pairs in ``succeeds``, else
    3 + attempt idle steps, failed; every call is appended to ``calls``."""
    import sim.bench

    def noisy(env, task, seed, record, attempt=0):
        calls.append((seed, attempt))
        if (seed, attempt) in succeeds:
            return sim.bench.expert_row(env, task, seed, record)
        env.reset(seed=seed)
        for _ in range(3 + attempt):
            env.step(np.zeros(env.action_space.shape))
        return {"success": False, "steps": 3 + attempt}

    return noisy


def test_collect_retries_a_noisy_source_until_a_demo_succeeds(tmp_path, monkeypatch):
    """attempts=K reruns a source that takes ``attempt`` until it succeeds: one demo per seed (the successful attempt,
    else the last one, labelled failed), the attempts counted per seed and in the report; a source that draws
    nothing beyond its seed is refused, and saved seeds of other attempts are not reused."""
    import sim.bench
    from policy.datasets.collect import CollectConfig, collect, parts_dir

    calls: list[tuple[int, int]] = []
    monkeypatch.setitem(sim.bench.ROWS, "noisy", noisy_row(calls, {(0, 2)}))  # seed 0: third attempt; seed 1: never
    with pytest.raises(ValueError, match="attempts=3: source 'expert' draws nothing"):
        CollectConfig(task="Lift", source="expert", attempts=3)
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        CollectConfig(task="Lift", source="noisy", attempts=0)

    report = collect(CollectConfig(task="Lift", source="noisy", num_demos=2, attempts=3, out=str(tmp_path / "n.hdf5")))
    assert calls == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert [r["attempts"] for r in report["per_seed"]] == [3, 3] and report["attempts_run"] == 6
    assert report["successful"] == 1 and report["generation_rate"] == pytest.approx(1 / 6)
    expert, failed = read_demos(tmp_path / "n.hdf5")
    assert expert.success and expert.seed == 0 and len(expert) > 20  # the expert's episode, not a failed attempt's
    assert not failed.success and failed.seed == 1 and len(failed) == 5  # the last attempt (3 + 2 steps)

    # one attempt: the plain row (no ``attempt`` passed); a part saved with other attempts is not reused
    calls.clear()
    cfg = CollectConfig(task="Lift", source="noisy", num_demos=1, out=str(tmp_path / "one.hdf5"))
    parts = parts_dir(cfg)
    parts.mkdir()
    (parts / "key.json").write_text(json.dumps({"attempts": 3}))
    with pytest.raises(ValueError, match="other settings.*attempts"):
        collect(cfg)
    cfg.resume = False
    assert collect(cfg)["per_seed"][0]["attempts"] == 1 and calls == [(0, 0)]


def test_collect_with_more_attempts_extends_a_finished_collection(tmp_path, monkeypatch):
    """extend=<a finished collection with fewer attempts>: its successful seeds are kept, its failed seeds go on from
    the attempt where it stopped, and the result equals a fresh collection with all the attempts; collections that
    differ in settings, already ran as many attempts, or do not record their settings are refused. The data-source
    table extends the set of the same seeds with the most attempts below its own."""
    import sim.bench
    from omegaconf import OmegaConf

    from policy.datasets.collect import CollectConfig, collect, extend_problem
    from policy.source_table import _demos

    calls: list[tuple[int, int]] = []
    monkeypatch.setitem(sim.bench.ROWS, "noisy", noisy_row(calls, {(0, 2), (2, 0)}))  # seed 1 never succeeds
    def cfg(attempts, name, **kw):
        return CollectConfig(task="Lift", source="noisy", num_demos=3, attempts=attempts, out=str(tmp_path / name), **kw)

    base = collect(cfg(2, "x2.hdf5"))
    assert calls == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)] and base["key"]["attempts"] == 2
    calls.clear()
    ext = collect(cfg(4, "x4.hdf5", extend=str(tmp_path / "x2.hdf5")))
    assert calls == [(0, 2), (1, 2), (1, 3)]  # only the new attempts of the failed seeds
    assert (ext["kept_seeds"], ext["resumed_seeds"], ext["extended_from"]) == (1, 0, str(tmp_path / "x2.hdf5"))
    calls.clear()
    fresh = collect(cfg(4, "fresh.hdf5"))
    assert len(calls) == 8
    untimed = [[{k: v for k, v in r.items() if k != "time"} for r in rep["per_seed"]] for rep in (ext, fresh)]
    assert untimed[0] == untimed[1]
    assert [r["attempts"] for r in ext["per_seed"]] == [3, 4, 1] and ext["attempts_run"] == fresh["attempts_run"] == 8
    for a, b in zip(read_demos(tmp_path / "x4.hdf5"), read_demos(tmp_path / "fresh.hdf5")):
        assert (a.seed, a.success, len(a)) == (b.seed, b.success, len(b))
        np.testing.assert_array_equal(a.actions, b.actions)

    # refusals, with the reason
    x2 = tmp_path / "x2.hdf5"
    assert "already ran 2 attempts" in extend_problem(cfg(2, "y.hdf5"), x2)
    assert "differ: ['task']" in extend_problem(CollectConfig(task="Push", source="noisy", attempts=4), x2)
    monkeypatch.setenv("HOI2ROBOT_RETARGET", '{"objects": {"grasp_yaw": "least_turn"}}')
    assert "differ: ['env']" in extend_problem(cfg(4, "y.hdf5"), x2)
    monkeypatch.delenv("HOI2ROBOT_RETARGET")
    report = json.loads(x2.with_suffix(".json").read_text())
    x2.with_suffix(".json").write_text(json.dumps({k: v for k, v in report.items() if k != "key"}))
    with pytest.raises(ValueError, match="cannot extend it: .*does not record the settings"):
        collect(cfg(4, "z.hdf5", extend=str(x2)))
    x2.with_suffix(".json").write_text(json.dumps(report))

    # the data-source table picks the set with the most attempts below its own that it can extend
    demos = tmp_path / "demos"
    demos.mkdir()
    for name in ("x2", "x4"):
        for suffix in (".hdf5", ".json"):
            (demos / f"Lift_noisy_{name}_3{suffix}").write_bytes((tmp_path / f"{name}{suffix}").read_bytes())
    seen: list[CollectConfig] = []
    monkeypatch.setattr("policy.datasets.collect.collect", seen.append)
    table = OmegaConf.create({"num_demos": 3, "collect": {"render": False, "workers": 1}})
    _demos(table, demos / "Lift_noisy_x8_3.hdf5", "Lift", "noisy", 8)
    _demos(table, demos / "Lift_noisy_x3_3.hdf5", "Lift", "noisy", 3)
    _demos(table, demos / "Lift_noisy_x2_3.hdf5", "Lift", "noisy", 2)  # there: nothing collected
    assert [(c.attempts, c.extend) for c in seen] == [(8, str(demos / "Lift_noisy_x4_3.hdf5")),
                                                       (3, str(demos / "Lift_noisy_x2_3.hdf5"))]
    # ... and refuses a finished set made another way (here: another retargeter) instead of reusing it silently
    monkeypatch.setenv("HOI2ROBOT_RETARGET", '{"objects": {"grasp_yaw": "least_turn"}}')
    with pytest.raises(ValueError, match=r"other settings \(differ: \['env'\]\).*another root"):
        _demos(table, demos / "Lift_noisy_x2_3.hdf5", "Lift", "noisy", 2)
    table.reuse_only = True  # re-tabulating old results is still allowed
    assert _demos(table, demos / "Lift_noisy_x2_3.hdf5", "Lift", "noisy", 2) == demos / "Lift_noisy_x2_3.hdf5"
    assert len(seen) == 2


def test_demo_stats_splits_retried_seeds_and_measures_action_disagreement(tmp_path, bench_script):
    """bench/demo_stats.py: a collection with attempts is split into first-attempt and retried seeds (from its
    report); demos whose actions disagree on the same states score higher than consistent ones; the gripper closing
    step and the steps after it are read from the actions."""
    mod = bench_script("demo_stats")
    rng = np.random.default_rng(0)

    def demo(seed, noise, T=20, close=8):
        pos = np.linspace([0, 0, 0], [1, 1, 1], T) + rng.normal(0, 0.01, (T, 3))
        actions = np.zeros((T, 7))
        actions[:, :3] = np.gradient(pos, axis=0) * 10 + rng.normal(0, noise, (T, 3))
        actions[close:, 6] = 1
        obs = {"robot0_eef_pos": pos, "gripper_to_cube_pos": np.full((T, 3), 0.01)}
        return Demo(obs=obs, actions=actions, rewards=np.r_[np.zeros(T - 1), 1], dones=np.r_[np.zeros(T - 1), 1],
                    source="generated", success=True, seed=seed, task="Lift")

    env_args = {"lowdim_keys": ["robot0_eef_pos", "gripper_to_cube_pos"]}
    demos = [demo(s, 0.0) for s in range(4)] + [demo(s, 0.5) for s in range(4, 8)]
    write_demos(tmp_path / "g.hdf5", demos, env_args, valid_fraction=0.0)
    per_seed = [{"seed": s, "success": True, "attempts": 1 if s < 4 else 3} for s in range(8)]
    (tmp_path / "g.json").write_text(json.dumps({"per_seed": per_seed}))
    write_demos(tmp_path / "e.hdf5", [demo(s, 0.0, close=5) for s in range(3)], env_args, valid_fraction=0.0)

    record = mod.main([str(tmp_path / "g.hdf5"), str(tmp_path / "e.hdf5"), "--draws", "2",
                       "--out", str(tmp_path / "stats.json")])
    first, retried, expert = (record["groups"][k] for k in ("g first", "g retried", "e"))
    assert (first["demos"], retried["demos"], expert["demos"], record["subset_size"]) == (4, 4, 3, 3)
    assert retried["action_disagreement"] > 5 * first["action_disagreement"]
    assert (first["close_step_mean"], expert["close_step_mean"]) == (8, 5)
    assert (first["steps_after_close"], first["gripper_toggles"]) == (12, 1)
    assert first["grasp_offset_cm"] == pytest.approx(100 * np.sqrt(3) * 0.01)
    assert json.loads((tmp_path / "stats.json").read_text())["groups"]["g retried"]["demos"] == 4


def test_demo_outcomes_tell_lifts_pushes_and_misses_apart(tmp_path, bench_script):
    """bench/demo_outcomes.py: per demo, the object that rose (lifted), else the one moved on the table (pushed),
    else nothing; counted apart for successful and failed demos; relative and robot positions are not objects."""
    mod = bench_script("demo_outcomes")
    T = 10

    def demo(seed, success, a_path=None, b_path=None):
        still = np.zeros((T, 3))
        obs = {"cubeA_pos": still + [0.1, 0, 0.82] if a_path is None else a_path,
               "cubeB_pos": still + [-0.1, 0, 0.82] if b_path is None else b_path,
               "cubeA_to_cubeB_pos": np.full((T, 3), 5.0), "robot0_eef_pos": np.linspace([0, 0, 1], [0, 0, 0.5], T)}
        return Demo(obs=obs, actions=np.zeros((T, 7)), rewards=np.zeros(T), dones=np.r_[np.zeros(T - 1), 1],
                    source="generated", success=success, seed=seed, task="Stack")

    rise = np.linspace([0.1, 0, 0.82], [0.1, 0, 0.90], T)  # 8 cm up
    push = np.linspace([-0.1, 0, 0.82], [-0.1, 0.05, 0.82], T)  # 5 cm along the table
    # spawned 1.5 cm up, it falls to rest on the first step, then is lifted 1.4 cm (a Lift demo ends there)
    settle = np.r_[[[0.1, 0, 0.835]], np.full((4, 3), [0.1, 0, 0.82]), np.linspace([0.1, 0, 0.82], [0.1, 0, 0.834], 5)]
    demos = [demo(0, True, a_path=rise), demo(1, False, b_path=push), demo(2, False), demo(3, False, a_path=settle),
             demo(4, False, a_path=np.linspace([0.1, 0, 0.82], [0.1, 0.01, 0.825], T)),  # below both thresholds
             demo(5, False, a_path=np.r_[[[0.1, 0, 0.835]], np.linspace([0.1, 0, 0.82], [0.1, 0.05, 0.82], T - 1)])]
    # (seed 5: spawned 1.5 cm up, it falls to rest and is pushed 5 cm: its spawn height is no lift)
    write_demos(tmp_path / "s.hdf5", demos, {"lowdim_keys": ["cubeA_pos"]}, valid_fraction=0.0)
    (summary,) = mod.main([str(tmp_path / "s.hdf5"), "--out", str(tmp_path / "o.json")])
    assert summary["counts"] == {"successful": {"lifts cubeA": 1},
                                 "failed": {"moves nothing": 2, "pushes cubeB": 1, "lifts cubeA": 1, "pushes cubeA": 1}}
    first = summary["per_demo"][0]
    assert first["rise_cm"]["cubeA"] == pytest.approx(8.0) and set(first["rise_cm"]) == {"cubeA", "cubeB"}
    assert summary["per_demo"][1]["moved_cm"]["cubeB"] == pytest.approx(5.0)
    assert "| pushes cubeB | 0 | 1 |" in mod.format_summary(summary)
    assert json.loads((tmp_path / "o.json").read_text())["records"][0]["demos"] == 6
    with pytest.raises(ValueError, match="no object position"):
        mod.outcome(Demo(obs={"robot0_eef_pos": np.zeros((T, 3))}, actions=np.zeros((T, 7)), rewards=np.zeros(T),
                         dones=np.zeros(T), seed=7))


def test_generated_collections_are_keyed_by_the_generator_weights(tmp_path, monkeypatch):
    """Seeds generated with other weights under the same generator name or path are not reused or extended."""
    from hoi_videogen.generators import weights_fingerprint
    from policy.datasets.collect import CollectConfig, _parts_key, extend_problem

    folder = tmp_path / "gen"
    (folder / "video_denoiser").mkdir(parents=True)
    weights = folder / "video_denoiser" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(b"first")
    (folder / "model_index.json").write_text("{}")
    monkeypatch.setenv("HOI2ROBOT_GENERATOR", json.dumps({"name": "tiny", "path": str(folder)}))
    cfg = CollectConfig(task="Lift", source="generated", attempts=2)
    first = _parts_key(cfg)
    base = tmp_path / "x1.hdf5"
    base.write_bytes(b"")
    base.with_suffix(".json").write_text(json.dumps({"key": {**first, "attempts": 1}}))
    assert extend_problem(cfg, base) is None
    weights.write_bytes(b"retrained")
    second = _parts_key(cfg)
    assert first["env"] == second["env"] and first["generator_weights"] != second["generator_weights"]
    assert "differ: ['generator_weights']" in extend_problem(cfg, base)
    (folder / "RECIPE.md").write_text("notes")  # documents are not weights
    assert _parts_key(cfg) == second
    monkeypatch.delenv("HOI2ROBOT_GENERATOR")  # the shipped tiny weights
    assert _parts_key(cfg)["generator_weights"] == weights_fingerprint({"name": "tiny"}) != second["generator_weights"]
    assert "generator_weights" not in _parts_key(CollectConfig(task="Lift", source="expert"))
    assert weights_fingerprint({"name": "engine"}) is None
    # PickPlaceCan runs its own shipped weights (configs/generated_row.yaml), so its key names them
    ppc = _parts_key(CollectConfig(task="PickPlaceCan", source="generated"))["generator_weights"]
    assert ppc == weights_fingerprint({"name": "tiny", "path": "hoi_videogen/weights/tiny_256x32_pickplacecan"})
    assert ppc != weights_fingerprint({"name": "tiny"})
    with pytest.raises(FileNotFoundError, match="no weight files"):
        weights_fingerprint({"name": "tiny", "path": str(tmp_path / "empty")})


def test_generated_collection_keys_name_their_tracker_also_from_before_they_did():
    """The generated row's default tracker changed (mediapipe → lenient), so a key names the tracker itself; a key
    saved before that reads as the tracker it ran: its HOI2ROBOT_TRACKER, or mediapipe."""
    from policy.datasets.collect import _settings_diff

    old = {"task": "Stack", "source": "generated", "attempts": 4, "env": {"HOI2ROBOT_TRACKER": None}}
    now = {**old, "tracker": "lenient"}
    assert _settings_diff(old, now) == ["tracker"]
    assert _settings_diff(old, {**old, "tracker": "mediapipe"}, ignore=("attempts",)) == []
    set_lenient = {**old, "env": {"HOI2ROBOT_TRACKER": "lenient"}}
    assert _settings_diff(set_lenient, {**set_lenient, "tracker": "lenient"}) == []
    expert = {"task": "Stack", "source": "expert", "env": {}}
    assert _settings_diff(expert, dict(expert)) == []  # other sources have no tracker


def test_generated_yield_pairs_first_attempts_per_seed(tmp_path, bench_script):
    """bench/generated_yield.py: only the seeds both reports have count, a retried success is a first-attempt
    failure, and the exact McNemar p-value follows the discordant seeds."""
    mod = bench_script("generated_yield")
    a = {"per_seed": [{"seed": s, "success": s in (0, 1), "detection_rate": 0.5} for s in range(6)]
         + [{"seed": 6, "success": True, "attempts": 3, "detection_rate": 0.5}]}
    b = {"per_seed": [{"seed": s, "success": s in (1, 2, 3, 4, 6), "detection_rate": 1.0} for s in range(1, 8)]}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    rec = mod.main(["--pair", "Lift", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--labels", "old", "new",
                    "--out", str(tmp_path / "y.json")])
    r = rec["tasks"]["Lift"]
    assert (r["seeds"], r["first_seed"], r["last_seed"]) == (6, 1, 6)  # seed 0 only in a, seed 7 only in b
    assert (r["success_a"], r["success_b"], r["both"], r["only_a"], r["only_b"]) == (1, 5, 1, 0, 4)
    assert r["p_exact"] == pytest.approx(0.125) and (r["detection_a"], r["detection_b"]) == (0.5, 1.0)
    assert mod.mcnemar_p(3, 3) == 1.0 and mod.mcnemar_p(0, 0) == 1.0
    assert json.loads((tmp_path / "y.json").read_text())["labels"] == {"a": "old", "b": "new"} and "pooled" not in rec
    two = mod.main(["--pair", "Lift", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                    "--pair", "Push", str(tmp_path / "b.json"), str(tmp_path / "a.json")])  # fmt: skip
    assert two["pooled"] == {"seeds": 12, "success_a": 6, "success_b": 6, "both": 2, "only_a": 4, "only_b": 4,
                             "p_exact": 1.0}  # fmt: skip
    # within the first 3 attempts, a's seed 6 (third attempt) counts; a report that ran fewer attempts is refused
    a["key"], b["key"] = {"attempts": 4}, {"attempts": 4}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    r3 = mod.main(["--pair", "Lift", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--attempts", "3"])
    assert r3["attempts"] == 3 and (r3["tasks"]["Lift"]["success_a"], r3["tasks"]["Lift"]["only_b"]) == (2, 3)
    b["key"] = {"attempts": 1}
    (tmp_path / "b.json").write_text(json.dumps(b))
    with pytest.raises(ValueError, match="at most 1 attempt"):
        mod.main(["--pair", "Lift", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--attempts", "2"])


def test_plan_counts_say_what_the_generated_videos_became():
    from policy.datasets.collect import plan_counts
    from policy.retarget.retargeter import NO_CLOSURE, NO_OBJECT_CONTACT

    grasp = {"plan_grasp": True, "plan_grasp_type": "pinch", "plan_motion_timed": True}
    push = {"plan_grasp": False, "plan_grasp_type": "push", "plan_motion_timed": False, "plan_no_grasp": NO_OBJECT_CONTACT}
    results = [
        {"success": True, "steps": 90, **grasp},
        {"success": False, "steps": 120, **grasp},
        {"success": False, "steps": 150, **push},
        {"success": False, "steps": 150, **push},
        {"success": False, "steps": 150, **push, "plan_no_grasp": NO_CLOSURE},
        {"success": False, "steps": 0, "error": "no hand detected in any of the 16 frames"},
    ]
    assert plan_counts(results) == {
        "successful": {"grasp": 1},
        "failed": {"grasp": 1, f"push: {NO_OBJECT_CONTACT}": 2, f"push: {NO_CLOSURE}": 1,
                   "no plan: no hand detected in any of the 16 frames": 1},
    }  # fmt: skip
    assert plan_counts([{"success": True, "steps": 80}]) == {}  # sources without a plan (expert): no entry


def test_a_collection_report_counts_the_plans_of_its_seeds(tmp_path, monkeypatch):
    """The plan entries of a row's result survive the collection (it keeps scalars only) into the report."""
    import sim.bench
    from policy.datasets.collect import CollectConfig, collect
    from policy.retarget.retargeter import NO_LIFT

    inner = noisy_row([], set())

    def planning(env, task, seed, record, attempt=0):
        return {**inner(env, task, seed, record, attempt), "plan_grasp": False, "plan_grasp_type": "push",
                "plan_motion_timed": False, "plan_no_grasp": NO_LIFT}  # fmt: skip

    monkeypatch.setitem(sim.bench.ROWS, "planning", planning)
    report = collect(CollectConfig(task="Lift", source="planning", num_demos=2, attempts=2, out=str(tmp_path / "p.hdf5")))
    assert report["plans"] == {"failed": {f"push: {NO_LIFT}": 2}, "successful": {}}
    assert report["per_seed"][0]["plan_no_grasp"] == NO_LIFT
    assert "plans" not in collect(CollectConfig(task="Lift", source="expert", num_demos=1, out=str(tmp_path / "e.hdf5")))
