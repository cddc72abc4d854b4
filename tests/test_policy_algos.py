"""policy.algos / train / evaluate / rows: overfitting, exact resume, deterministic evaluation, the bench row."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from policy.algos import POLICIES, make_policy, policy_config
from policy.datasets import Demo, DemoFile, write_demos
from policy.train import TrainConfig, load_checkpoint, train

SMALL = {
    "bc": {"hidden": [64, 64]},
    "bc_transformer": {"obs_horizon": 2, "pred_horizon": 4, "n_action_steps": 2, "d_model": 32, "n_heads": 2,
                       "n_layers": 1, "ff_dim": 64, "dropout": 0.1},
    "diffusion": {"obs_horizon": 2, "pred_horizon": 4, "n_action_steps": 2, "down_dims": [16, 32], "n_groups": 4,
                  "step_embed_dim": 16, "num_train_timesteps": 50, "num_inference_steps": 5},
}


@pytest.fixture(scope="module")
def toy_dataset(tmp_path_factory):
    """Two smooth demos: actions are a deterministic function of the observation."""
    rng = np.random.default_rng(0)
    demos, W = [], rng.normal(size=(3, 6))
    for i in range(3):
        T = 30
        t = np.linspace(0, 1, T)[:, None]
        x = np.concatenate([np.sin(2 * np.pi * t + i), np.cos(2 * np.pi * t + i), t], 1)
        actions = np.concatenate([np.tanh(x @ W * 0.5), np.tanh(3 * x[:, :1])], 1)
        demos.append(Demo({"x": x}, actions, np.eye(T)[-1], np.eye(T)[-1], source="expert", success=True, seed=i))
    env_args = {"env_name": "Toy", "type": "hoi2robot", "env_kwargs": {}, "task": "Toy", "lowdim_keys": ["x"]}
    return write_demos(tmp_path_factory.mktemp("toy") / "toy.hdf5", demos, env_args, valid_fraction=0.0)


def test_registry_and_config_errors():
    assert {"bc", "bc_transformer", "diffusion"} <= set(POLICIES)
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        make_policy("nope", {}, 3, 7)
    with pytest.raises(ValueError, match="unknown config key\\(s\\) \\['widht'\\]"):
        policy_config("bc", {"widht": 3})
    with pytest.raises(ValueError, match="n_action_steps"):
        policy_config("diffusion", {"pred_horizon": 8, "n_action_steps": 9})
    with pytest.raises(ValueError, match="divisible"):
        policy_config("diffusion", {"pred_horizon": 6, "n_action_steps": 2, "down_dims": [16, 32, 64], "n_groups": 4})
    p = make_policy("bc", SMALL["bc"], 3, 7)
    with pytest.raises(ValueError, match="obs must be \\(B, 1, 3\\)"):
        p.compute_loss(torch.zeros(2, 1, 4), torch.zeros(2, 1, 7))


@pytest.mark.parametrize("name", ["bc", "bc_transformer", "diffusion"])
def test_each_algorithm_overfits(toy_dataset, tmp_path, name):
    steps = {"bc": 300, "bc_transformer": 300, "diffusion": 200}[name]
    cfg = TrainConfig(dataset=str(toy_dataset), out=str(tmp_path / name), policy=name, policy_cfg=SMALL[name],
                      steps=steps, batch_size=32, lr=3e-3, warmup_steps=10, checkpoint_every=steps, ema_decay=0.0)
    summary = train(cfg, progress=False)
    assert summary["final_train_loss"] < 0.2 * summary["initial_loss"], summary
    policy, norm, meta = load_checkpoint(tmp_path / name)
    assert meta["policy"] == name and meta["obs_keys"] == ["x"] and meta["step"] == steps
    from policy.datasets import SequenceDataset

    ds = SequenceDataset(toy_dataset, ["x"], policy.cfg.obs_horizon, policy.cfg.pred_horizon, normalizer=norm)
    b = ds.batch(range(len(ds)))
    torch.manual_seed(0)
    untrained = make_policy(name, SMALL[name], 3, 7).eval()
    gen = torch.Generator().manual_seed(0)
    err = (policy.predict(b["obs"], generator=gen) - b["actions"]).abs().mean()  # sampled chunks for diffusion
    err0 = (untrained.predict(b["obs"], generator=torch.Generator().manual_seed(0)) - b["actions"]).abs().mean()
    assert err < 0.15 and err < 0.3 * err0, (err, err0)


def test_epochs_budget_scales_steps_with_the_dataset(toy_dataset, tmp_path):
    """epochs=E trains E passes over the training windows (steps = E * windows // batch), whatever ``steps`` says, so
    a smaller dataset gets fewer batches; the summary and checkpoints record the resolved step count."""
    common = dict(dataset=str(toy_dataset), policy="bc", policy_cfg=SMALL["bc"], steps=999, batch_size=16,
                  epochs=4, checkpoint_every=1000, warmup_steps=2, valid_every=1000)
    full = train(TrainConfig(out=str(tmp_path / "all"), **common), progress=False)
    assert full["train_windows"] == 90 and (full["step"], full["total_steps"], full["epochs"]) == (20, 20, 4)
    one = train(TrainConfig(out=str(tmp_path / "one"), max_demos=1, **common), progress=False)
    assert (one["step"], one["total_steps"]) == (4, 4)  # 30 windows: 1 batch of 16 per epoch
    assert load_checkpoint(tmp_path / "one")[2]["step"] == 4
    assert train(TrainConfig(out=str(tmp_path / "steps"), **{**common, "epochs": None, "steps": 7}),
                 progress=False)["step"] == 7
    with pytest.raises(ValueError, match="epochs must be > 0"):
        TrainConfig(out=str(tmp_path / "x"), **{**common, "epochs": 0})


@pytest.mark.parametrize("name", ["diffusion", "bc_transformer"])
def test_resume_matches_uninterrupted(toy_dataset, tmp_path, name):
    common = dict(dataset=str(toy_dataset), policy=name, policy_cfg=SMALL[name], steps=40, batch_size=16,
                  checkpoint_every=10, warmup_steps=5, ema_decay=0.9, valid_every=10)
    full = train(TrainConfig(out=str(tmp_path / "full"), **common), progress=False)
    part = train(TrainConfig(out=str(tmp_path / "cut"), **common), stop_after=23, progress=False)  # killed at 23
    assert part["step"] == 23
    resumed = train(TrainConfig(out=str(tmp_path / "cut"), resume=True, **common), progress=False)
    assert resumed["step"] == 40 and full["step"] == 40
    for f in ("model.safetensors", "model_raw.safetensors"):
        a = load_file(str(tmp_path / "full/checkpoints/step_0000040" / f))
        b = load_file(str(tmp_path / "cut/checkpoints/step_0000040" / f))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (f, k)
    # a fresh run without resume diverges from the resumed one only if it restarted: it must differ from step 20's
    c20 = load_file(str(tmp_path / "cut/checkpoints/step_0000020/model_raw.safetensors"))
    assert any(not torch.equal(c20[k], a[k]) for k in a)
    assert (tmp_path / "cut/loss.csv").read_text() == (tmp_path / "full/loss.csv").read_text()
    assert (tmp_path / "full/loss.png").is_file()


@pytest.fixture(scope="module")
def lift_policy(tmp_path_factory):
    """A small diffusion policy trained briefly on 3 real Lift expert demos."""
    from policy.datasets.collect import CollectConfig, collect

    root = tmp_path_factory.mktemp("lift")
    collect(CollectConfig(task="Lift", source="expert", num_demos=3, out=str(root / "lift.hdf5")))
    train(TrainConfig(dataset=str(root / "lift.hdf5"), out=str(root / "run"), policy="diffusion",
                      policy_cfg=SMALL["diffusion"], steps=20, batch_size=16, checkpoint_every=20), progress=False)
    return root / "run"


def test_evaluation_is_deterministic_per_seed(lift_policy, tmp_path):
    from policy.datasets.collect import RecordingEnv
    from policy.evaluate import EvalConfig, PolicyRunner, evaluate, rollout
    from sim.tasks import make_env

    runner = PolicyRunner(lift_policy)
    env = RecordingEnv(make_env("Lift"))
    try:
        runs = []
        for seed in (5, 5, 6):
            rollout(env, runner, seed, max_steps=12)
            runs.append(np.stack(env.actions))
    finally:
        env.close()
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    ec = EvalConfig(checkpoint=str(lift_policy), seeds=2, seed_offset=1000, videos=1, video_size=(64, 64))
    a = evaluate(ec, tmp_path / "a", progress=False)
    b = evaluate(ec, tmp_path / "b", progress=False)
    assert a["per_seed"] == b["per_seed"] and a["task"] == "Lift" and len(a["per_seed"]) == 2
    assert (tmp_path / "a/rollout_seed1000.mp4").is_file() and (tmp_path / "a/eval.json").is_file()


def test_policy_bench_row(lift_policy, monkeypatch):
    from sim.bench import load_rows
    from sim.tasks import make_env

    rows = load_rows()
    assert "policy" in rows
    monkeypatch.setenv("HOI2ROBOT_POLICY", str(lift_policy))
    env = make_env("Lift", horizon=10)
    try:
        out = rows["policy"](env, "Lift", 3, None)
        assert out["steps"] <= 10 and "success" in out
        with pytest.raises(ValueError, match="trained on 'Lift', not 'Push'"):
            rows["policy"](env, "Push", 3, None)
    finally:
        env.close()
    monkeypatch.setenv("HOI2ROBOT_POLICY", "/nonexistent/{task}")
    with pytest.raises(FileNotFoundError, match="/nonexistent/Lift"):
        rows["policy"](None, "Lift", 0, None)


@pytest.mark.parametrize("attempts", [1, 4])
def test_source_table_counts_a_source_without_successful_demos_as_zero(lift_policy, tmp_path, attempts):
    """A source whose demos all failed (the generated row on a hard task) gives a 0% cell, not a crash after hours
    of collection; the other sources are trained, evaluated and compared as usual. With ``collect.attempts`` the
    generated demos (and runs) live under ``generated_x<K>``, the expert's (one attempt: it draws no noise) do not."""
    import json
    import shutil

    from hydra import compose, initialize_config_module

    from policy.datasets import read_demos
    from policy.datasets.collect import CollectConfig, _parts_key
    from policy.source_table import format_table, run_table

    demos = tmp_path / "root" / "demos"
    demos.mkdir(parents=True)
    lift = lift_policy.parent / "lift.hdf5"
    shutil.copy(lift, demos / "Lift_expert_3.hdf5")
    shutil.copy(lift.with_suffix(".json"), demos / "Lift_expert_3.json")
    failed = read_demos(lift)
    for d in failed:
        d.source, d.success = "generated", False
    with DemoFile(lift) as f:
        env_args = f.env_args
    gen = "generated" if attempts == 1 else f"generated_x{attempts}"
    write_demos(demos / f"Lift_{gen}_3.hdf5", failed, env_args)
    report = json.loads(lift.with_suffix(".json").read_text())
    report["config"]["attempts"] = attempts
    # recorded as the table would collect it (the shipped generator's weights), so the table reuses it
    report["key"] = _parts_key(CollectConfig(task="Lift", source="generated", num_demos=3, render=False,
                                             attempts=attempts, out=str(demos / f"Lift_{gen}_3.hdf5")))
    (demos / f"Lift_{gen}_3.json").write_text(json.dumps({**report, "successful": 0}))
    with initialize_config_module(version_base=None, config_module="hoi2robot.configs"):
        cfg = compose("policy/source_table", overrides=[
            "sources=[expert,generated]", "algos=[bc]", "num_demos=3", "eval_seeds=2", "last_checkpoints=1",
            "videos=0", "train.steps=20", "algo_train.bc.steps=20", "algo_train.bc.checkpoint_every=20",
            f"root={tmp_path / 'root'}", f"results={tmp_path / 'table.json'}", f"collect.attempts={attempts}",
            "collect.render=false", "+algo_overrides.bc.hidden=[32,32]"])  # render: as the expert set was made
    record = run_table(cfg)
    assert sorted(p.name for p in demos.glob("*.hdf5")) == ["Lift_expert_3.hdf5", f"Lift_{gen}_3.hdf5"]
    assert sorted(p.name for p in (tmp_path / "root" / "Lift").iterdir()) == ["expert"]
    expert, generated = record["cells"]
    assert (expert["attempts"], generated["attempts"]) == (1, attempts)
    assert (expert["source"], generated["source"]) == ("expert", "generated")
    assert expert["demos_trained_on"] >= 1 and len(expert["train_seeds"]) == 1
    assert len(expert["train_seeds"][0]["checkpoints"]) == 1
    assert generated["demos_trained_on"] == 0 and generated["mean"] == generated["max"] == 0.0
    assert "no successful demo" in generated["note"]
    assert not (tmp_path / "root" / "Lift" / "generated").exists()  # nothing trained on failures
    assert generated["ratio_to_expert_mean"] in (None, 0.0)
    # the cell names the weights that made its demos; the expert's demos were made by no generator
    assert generated["generator_weights"] == report["key"]["generator_weights"] is not None
    assert "generator_weights" not in expert
    name = "generated" if attempts == 1 else f"generated ≤{attempts} tries"
    assert f"| Lift | {name} | bc | 3 | 0% | 0% |" in format_table(record)
    assert json.loads((tmp_path / "table.json").read_text())["cells"][1]["note"] == generated["note"]
    assert expert["demo_seeds"] == generated["demo_seeds"] == 3


def test_combined_source_tables_later_record_wins_and_plot(tmp_path, bench_script):
    """bench/policy_sources_plot.py: cells keyed by task/source/algo/demo seeds, the later record wins, ratios are
    recomputed against the combined expert cell; records from before ``demo_seeds`` use their ``num_demos``."""
    import json

    from policy.source_table import plot_table, series, series_order

    mod = bench_script("policy_sources_plot")

    def cell(source, mean, demos=200, **kw):
        return {"task": "Lift", "source": source, "algo": "bc", "demos": demos, "demos_successful": 10,
                "max": mean, "mean": mean, **kw}

    old = {"config": {"num_demos": 200}, "cells": [cell("expert", 0.8), cell("generated", 0.4, demos=199)]}
    new = {"config": {"num_demos": 200}, "env": {"HOI2ROBOT_RETARGET": "x"},
           "cells": [cell("generated", 0.6, demo_seeds=200)]}
    retried = {"config": {"num_demos": 200}, "cells": [cell("generated", 0.76, demo_seeds=200, attempts=4),
                                                       cell("generated", 0.8, demo_seeds=200, attempts=12)]}
    for name, rec in (("old.json", old), ("new.json", new), ("retried.json", retried)):
        (tmp_path / name).write_text(json.dumps(rec))
    cells = mod.combine([tmp_path / "old.json", tmp_path / "new.json", tmp_path / "retried.json"])
    by = {series(c): c for c in cells}  # seeds retried up to 4 times: a cell beside the one-attempt cell, not over it
    assert series_order(cells) == ["expert", "generated", "generated ≤4 tries", "generated ≤12 tries"]  # 4 < 12
    assert by["generated"]["mean"] == 0.6 and by["generated"]["record"].endswith("new.json")
    assert by["generated"]["ratio_to_expert_mean"] == pytest.approx(0.75) and by["expert"]["demo_seeds"] == 200
    assert by["generated ≤4 tries"]["ratio_to_expert_mean"] == pytest.approx(0.95)
    assert by["generated"]["env"] == {"HOI2ROBOT_RETARGET": "x"}
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a hoi-policy-sources record"):
        mod.combine([tmp_path / "bad.json"])
    png = plot_table(cells, tmp_path / "plot" / "table.png")
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a record of other generator weights, named LABEL=PATH: its generated cell stands beside the others, not over
    # them, and its expert cell is keyed as any expert cell (the later one wins)
    third = {"config": {"num_demos": 200}, "cells": [cell("expert", 1.0, demo_seeds=200),
                                                     cell("generated", 0.9, demo_seeds=200, attempts=4)]}
    (tmp_path / "third=x.json").write_text(json.dumps(third))
    cells = mod.combine([tmp_path / "old.json", tmp_path / "retried.json", f"third weights={tmp_path / 'third=x.json'}"])
    by = {series(c): c for c in cells}
    assert series_order(cells) == ["expert", "generated", "generated ≤4 tries", "generated ≤4 tries (third weights)",
                                   "generated ≤12 tries"]
    assert by["generated ≤4 tries"]["mean"] == 0.76 and by["generated ≤4 tries (third weights)"]["mean"] == 0.9
    assert by["expert"]["mean"] == 1.0 and by["generated ≤4 tries (third weights)"]["ratio_to_expert_mean"] == 0.9
    assert mod.split_label(tmp_path / "third=x.json") == (None, tmp_path / "third=x.json")  # a file named a=b
    with pytest.raises(ValueError, match="LABEL=PATH"):
        mod.combine(["=nothing.json"])
    assert plot_table(cells, tmp_path / "plot" / "labelled.png").is_file()
    with pytest.raises(ValueError, match="no cells"):
        plot_table([], tmp_path / "empty.png")


def test_image_observations(tmp_path):
    """The image option end to end: demos with camera images -> a CNN-encoded policy -> closed loop in the env."""
    from policy.datasets.collect import CollectConfig, collect
    from policy.evaluate import PolicyRunner, rollout
    from sim.tasks import make_env

    collect(CollectConfig(task="Lift", source="expert", num_demos=1, cameras=("agentview",), image_size=(32, 32),
                          out=str(tmp_path / "img.hdf5")))
    summary = train(TrainConfig(dataset=str(tmp_path / "img.hdf5"), out=str(tmp_path / "run"), policy="bc",
                                policy_cfg=SMALL["bc"], image_keys=["agentview_image"], steps=60, batch_size=16,
                                lr=3e-3, warmup_steps=5, checkpoint_every=60, ema_decay=0.0), progress=False)
    assert summary["final_train_loss"] < summary["initial_loss"]
    policy, _, meta = load_checkpoint(tmp_path / "run")
    assert meta["image_shape"] == [1, 3, 32, 32] and policy.image_encoder is not None
    with pytest.raises(ValueError, match="images must be"):
        policy.predict(torch.zeros(1, 1, policy.obs_dim))
    runner = PolicyRunner(tmp_path / "run")
    env = make_env("Lift", cameras=("agentview",), image_size=(32, 32))
    try:
        out = rollout(env, runner, 0, max_steps=4)
        assert out["steps"] == 4
    finally:
        env.close()
    env = make_env("Lift")
    try:
        with pytest.raises(KeyError, match="cameras=\\['agentview'\\]"):
            rollout(env, runner, 0, max_steps=2)
    finally:
        env.close()


def test_hydra_configs_compose():
    """The shipped YAMLs compose with typical command-line overrides into valid config objects."""
    from hydra import compose, initialize_config_module

    from policy.datasets.collect import CollectConfig
    from policy.evaluate import EvalConfig
    from policy.source_table import algo_config

    with initialize_config_module(version_base=None, config_module="hoi2robot.configs"):
        for name in ("bc", "bc_transformer", "diffusion"):
            tc = TrainConfig.from_cfg(compose("train_policy", overrides=[f"policy={name}", "steps=10"]))
            assert tc.policy == name and tc.steps == 10
            assert policy_config(name, tc.policy_cfg) == policy_config(name, {k: v for k, v in algo_config(name).items()
                                                                               if k != "name"})
        tc = TrainConfig.from_cfg(compose("train_policy", overrides=["policy=diffusion", "policy.down_dims=[16,32]",
                                                                     "policy.n_groups=4"]))
        assert tuple(tc.policy_cfg["down_dims"]) == (16, 32)
        ec = EvalConfig.from_cfg(compose("eval_policy", overrides=["checkpoint=x", "task_name=Push", "seeds=3"]))
        assert ec.task == "Push" and ec.seeds == 3
        cc = CollectConfig.from_cfg(compose("collect", overrides=["task=Stack", "num_demos=7"]))
        assert cc.task == "Stack" and cc.out == "data/demos/Stack_expert_7.hdf5"
        st = compose("policy/source_table", overrides=["sources=[expert,oracle-hand]"])
        assert list(st.sources) == ["expert", "oracle-hand"] and st.algo_train.diffusion.steps >= 1
        with pytest.raises(ValueError, match="unknown config key"):
            TrainConfig.from_cfg(compose("train_policy", overrides=["+policy.widht=3"]))
