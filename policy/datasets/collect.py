"""``hoi-collect-demos``: run a demonstration source in the simulated task for many seeds and save the demos.

A *source* is any ``hoi-bench`` row (``sim.bench.ROWS``: ``expert``, and the hand-video rows ``oracle-hand``,
``tracked-hand``, ``generated`` once their modules are installed). The row drives the env as it does in the
benchmark; :class:`RecordingEnv` wraps the env and records what actually happened: the observation before each
step, the action the env received (clipped to the action space, as the env applies it), the reward (success 0/1
after the step) and the done flag. Each demo is labelled with its source, seed and success.

A source that draws randomness beyond its seed (a video generator's noise: rows that take ``attempt``,
:func:`sim.bench.takes_attempt`) can be retried: with ``attempts=K`` each seed runs up to K times, with another draw
each time, and keeps the first attempt that succeeds (else the last one, labelled failed). This is success filtering
as in automated demo-generation pipelines: the dataset still holds one demo per seed, so ``num_demos`` seeds give at
most ``num_demos`` demos, and every seed's result records the attempts it took (``generation rate`` = successful /
attempts in the report).

Attempt ``k`` of a seed draws the same noise in every run, so a collection with more attempts can *extend* a finished
one with fewer (``extend=<its .hdf5>``, same task, source and settings): the seeds that succeeded there are kept
as they are (the same demo a fresh run would make), the seeds that failed continue from the attempt where it stopped,
and only those new attempts are run. The report counts all attempts, old and new.

Collection is resumable: every finished seed is saved at once to ``<out>.parts/`` (its result, and its demo as a
one-demo HDF5 file), so an interrupted run (Ctrl-C, a crash, a killed job: a ``generated`` demo costs about a minute)
loses at most the seeds in flight. A rerun with the same settings collects only the missing seeds; the folder is
removed once ``out`` is written. Seeds that raised are not saved, so a rerun tries them again.

    hoi-collect-demos task=Lift source=expert num_demos=50 out=data/demos/Lift_expert_50.hdf5
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gymnasium
import hydra
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from hoi2robot.config import CONFIG_PATH, ROW_ENV, share_cores, to_plain, worker_pool, write_json
from policy.datasets.hdf5 import Demo, DemoFile, read_demos, write_demos

log = logging.getLogger(__name__)

__all__ = ["CollectConfig", "RecordingEnv", "collect", "collect_episode", "extend_problem", "lowdim_keys", "main",
           "parts_dir", "plan_counts"]


@dataclass
class CollectConfig:
    """Validated ``configs/collect.yaml``."""

    task: str = "Lift"
    source: str = "expert"
    num_demos: int = 50
    seed_offset: int = 0
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] = (84, 84)
    render: bool = False  # make the env with render_mode="rgb_array" (hand rows that render their own views need it)
    workers: int = 1
    attempts: int = 1  # runs per seed until one succeeds (sources that take ``attempt``, e.g. ``generated``)
    chunk: int = 5
    valid_fraction: float = 0.1
    keep_failed: bool = True
    resume: bool = True  # reuse the seeds an interrupted run saved in <out>.parts/ (false: start over)
    extend: str | None = None  # a finished collection with fewer attempts (its .hdf5): keep its successes, go on
    out: str = "data/demos/demos.hdf5"

    def __post_init__(self) -> None:
        from sim.bench import load_rows, takes_attempt
        from sim.tasks import CAMERAS, TASKS

        if self.task not in TASKS:
            raise ValueError(f"collect.task: unknown task {self.task!r}; valid: {sorted(TASKS)}")
        rows = load_rows()
        if self.source not in rows:
            raise ValueError(f"collect.source: unknown source {self.source!r}; registered rows: {sorted(rows)}")
        self.cameras = tuple(self.cameras)
        bad = [c for c in self.cameras if c not in CAMERAS]
        if bad:
            raise ValueError(f"collect.cameras: unknown camera(s) {bad}; valid: {list(CAMERAS)}")
        self.image_size = tuple(int(s) for s in self.image_size)
        if self.num_demos < 1 or self.workers < 1 or self.chunk < 1 or self.attempts < 1:
            raise ValueError("collect.num_demos, workers, chunk and attempts must be >= 1")
        if self.attempts > 1 and not takes_attempt(rows[self.source]):
            raise ValueError(f"collect.attempts={self.attempts}: source {self.source!r} draws nothing beyond its seed "
                             "(its row takes no 'attempt'), so another attempt would repeat the first")

    @classmethod
    def from_cfg(cls, cfg: DictConfig | dict) -> "CollectConfig":
        d = to_plain(cfg) if not isinstance(cfg, dict) else dict(cfg)
        d.pop("hydra", None)
        if isinstance(d.get("task"), dict):  # the configs/task/ group: {name, horizon, instruction}
            d["task"] = d["task"]["name"]
        return cls(**d)


class RecordingEnv(gymnasium.Wrapper):
    """Records (obs before step, applied action, reward, done) of the latest episode (restarted on every reset)."""

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        self.obs: list[dict[str, np.ndarray]] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.seed: int | None = None
        self._last_obs: dict[str, np.ndarray] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.obs, self.actions, self.rewards, self.seed = [], [], [], seed
        self._last_obs = obs
        return obs, info

    def step(self, action):
        if self._last_obs is None:
            raise RuntimeError("RecordingEnv.step() before reset()")
        a = np.clip(np.asarray(action, dtype=np.float64), self.action_space.low, self.action_space.high)
        self.obs.append({k: np.array(v, copy=True) for k, v in self._last_obs.items()})
        self.actions.append(a)
        out = self.env.step(action)
        self.rewards.append(float(out[1]))
        self._last_obs = out[0]
        return out

    def demo(self, source: str, success: bool, task: str) -> Demo | None:
        """The recorded episode as a :class:`Demo` (None if no step was taken)."""
        if not self.actions:
            return None
        T = len(self.actions)
        keys = self.obs[0].keys()
        dones = np.zeros(T, np.uint8)
        dones[-1] = 1
        return Demo(
            obs={k: np.stack([o[k] for o in self.obs]) for k in keys},
            actions=np.stack(self.actions),
            rewards=np.asarray(self.rewards),
            dones=dones,
            source=source,
            success=bool(success),
            seed=-1 if self.seed is None else int(self.seed),
            task=task,
        )


def lowdim_keys(env: gymnasium.Env) -> list[str]:
    """The env's low-dim observation keys (everything but camera images / depth), in observation-space order."""
    return [k for k in env.observation_space.spaces if not k.endswith(("_image", "_depth"))]


def _make_env(cfg: CollectConfig):
    from sim.tasks import make_env

    return make_env(
        cfg.task,
        cameras=cfg.cameras,
        image_size=cfg.image_size,
        render_mode="rgb_array" if cfg.render else None,
    )


def parts_dir(cfg: CollectConfig) -> Path:
    """Where :func:`collect` keeps the seeds it has finished until ``cfg.out`` is written."""
    out = Path(cfg.out)
    return out.with_name(out.name + ".parts")


def _parts_key(cfg: CollectConfig) -> dict[str, Any]:
    """What a saved seed depends on; a rerun reuses saved seeds only if all of it is the same. For the ``generated``
    source that includes the generator's weights (their fingerprint), not only their name or path, and the tracker
    the row used (its default has changed, so the environment alone does not say)."""
    key = {"task": cfg.task, "source": cfg.source, "cameras": list(cfg.cameras), "image_size": list(cfg.image_size),
           "render": cfg.render, "attempts": cfg.attempts, "env": {k: os.environ.get(k) for k in ROW_ENV}}
    if cfg.source == "generated":
        from hoi_videogen.generators import weights_fingerprint
        from hoi_videogen.rows import GeneratedRowConfig

        row = GeneratedRowConfig.from_env(cfg.task)
        key["generator_weights"] = weights_fingerprint(row.generator)
        key["tracker"] = row.tracker
    return key


def _with_tracker(key: dict[str, Any] | None) -> dict[str, Any] | None:
    """A saved key as :func:`_parts_key` writes it now: keys of ``generated`` collections made before keys named the
    tracker get the one they ran, their ``HOI2ROBOT_TRACKER`` or the default of then, ``mediapipe``."""
    if not isinstance(key, dict) or key.get("source") != "generated" or "tracker" in key:
        return key
    return {**key, "tracker": (key.get("env") or {}).get("HOI2ROBOT_TRACKER") or "mediapipe"}


def _report_path(out: str | Path) -> Path:
    return Path(out).with_suffix(".json")


def _settings_diff(saved: dict[str, Any], want: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """The recorded settings (:func:`_parts_key`) that differ between two collections."""
    saved, want = _with_tracker(saved), _with_tracker(want)
    return sorted(k for k in set(saved) | set(want) if k not in ignore and saved.get(k) != want.get(k))


def reuse_problem(cfg: CollectConfig, path: str | Path) -> str | None:
    """Why the finished collection ``path`` is not what ``cfg`` would collect, or None if its report records the same
    settings (or records none: made before reports had them)."""
    report = _report_path(path)
    saved = json.loads(report.read_text()).get("key") if report.is_file() else None
    diff = _settings_diff(saved, _parts_key(cfg)) if saved is not None else []
    return f"was collected with other settings (differ: {diff}), e.g. another generator's weights" if diff else None


def _base_report(cfg: CollectConfig, base: str | Path) -> tuple[dict | None, str | None]:
    """(the report of the finished collection ``base``, None) if ``cfg`` can extend it, else (None, why not)."""
    path = _report_path(base)
    if not Path(base).is_file() or not path.is_file():
        return None, f"{base} or its report {path.name} is missing"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"its report {path} is unreadable ({exc})"
    saved = report.get("key")
    if not isinstance(saved, dict):
        return None, f"its report {path} does not record the settings it was collected with (no 'key')"
    diff = _settings_diff(saved, _parts_key(cfg), ignore=("attempts",))
    if diff:
        return None, f"it was collected with other settings (differ: {diff})"
    ran = int(saved.get("attempts", 1))
    if ran >= cfg.attempts:
        return None, f"it already ran {ran} attempts per seed (this collection runs {cfg.attempts})"
    return report, None


def extend_problem(cfg: CollectConfig, base: str | Path) -> str | None:
    """Why ``cfg`` cannot extend the finished collection ``base`` (an .hdf5 with its .json report), or None if it can:
    the report must record the same settings (:func:`_parts_key`) with fewer attempts."""
    return _base_report(cfg, base)[1]


def _load_base(cfg: CollectConfig, seeds: Sequence[int]) -> tuple[list[tuple[int, Demo | None, dict]], dict[int, int]]:
    """From ``cfg.extend``: the seeds it finished for good (successes, kept as they are) and, for the seeds it ran to
    the end of its attempts without success, the attempt to go on from."""
    if cfg.extend is None:
        return [], {}
    report, problem = _base_report(cfg, cfg.extend)
    if problem:
        raise ValueError(f"collect.extend={cfg.extend}: cannot extend it: {problem}")
    base_attempts = int(report["key"]["attempts"])
    with DemoFile(cfg.extend) as f:  # only the successful demos are kept: read only those
        demos = {d.seed: d for d in (f.demo(name) for name in f.successful())}
    per_seed = {int(r["seed"]): r for r in report["per_seed"]}
    kept, start = [], {}
    for seed in seeds:
        r = per_seed.get(seed)
        if r is None or "error" in r:
            continue  # not in the base, or it raised there: run from the first attempt
        if r["success"] and seed in demos:
            kept.append((seed, demos[seed], {k: v for k, v in r.items() if k != "seed"}))
        elif not r["success"] and int(r.get("attempts", 1)) == base_attempts:
            start[seed] = base_attempts
    log.info("extending %s: %d successful seeds kept, %d failed seeds go on from attempt %d",
             cfg.extend, len(kept), len(start), base_attempts)
    return kept, start


def _open_parts(cfg: CollectConfig) -> Path:
    """Create (or check, when resuming) the parts folder of ``cfg``; returns it."""
    parts, key = parts_dir(cfg), _parts_key(cfg)
    if parts.is_dir() and not cfg.resume:
        log.info("resume=false: removing %s", parts)
        shutil.rmtree(parts)
    if parts.is_dir():
        try:
            saved = json.loads((parts / "key.json").read_text())
        except (OSError, ValueError):
            saved = None
        diff = sorted(key) if not isinstance(saved, dict) else _settings_diff(saved, key)
        if diff:
            raise ValueError(
                f"{parts} holds seeds of an interrupted collection with other settings (differ: {diff}); "
                "rerun with the same settings to finish it, or with resume=false to start over"
            )
    else:
        parts.mkdir(parents=True)
        write_json(parts / "key.json", key)
    return parts


def _save_seed(parts: Path, seed: int, demo: Demo | None, result: dict) -> None:
    """Save one finished seed: its demo first, then its result (the marker that the seed is done)."""
    if demo is not None:
        write_demos(parts / f"seed_{seed}.hdf5", [demo], {"partial": True}, valid_fraction=0.0)
    write_json(parts / f"seed_{seed}.json", {"seed": seed, "has_demo": demo is not None, "result": result})


def _load_seeds(parts: Path, seeds: Sequence[int]) -> list[tuple[int, Demo | None, dict]]:
    """The saved seeds among ``seeds`` (unreadable ones are left out, so they run again)."""
    out = []
    for seed in seeds:
        marker = parts / f"seed_{seed}.json"
        if not marker.is_file():
            continue
        try:
            rec = json.loads(marker.read_text())
            demo = read_demos(parts / f"seed_{seed}.hdf5")[0] if rec["has_demo"] else None
        except (OSError, ValueError, KeyError, IndexError) as exc:  # DatasetError is a ValueError
            log.warning("saved seed %d in %s is unreadable (%s); collecting it again", seed, parts, exc)
            continue
        out.append((seed, demo, rec["result"]))
    return out


def plan_counts(results: Sequence[dict]) -> dict[str, dict[str, int]]:
    """What the sources that plan from a video (``generated``) made of it in each seed's last attempt, counted apart
    for failed and successful seeds: ``grasp``, ``push: <why no grasp>`` or ``no plan: <retarget error>``. Empty when
    no result carries a plan (expert and other sources)."""
    out: dict[str, dict[str, int]] = {"failed": {}, "successful": {}}
    for r in results:
        if "plan_grasp" in r:  # hoi_videogen.rows.plan_summary
            label = "grasp" if r["plan_grasp"] else f"push: {r.get('plan_no_grasp') or 'no grasp'}"
        elif r.get("error") and not r.get("steps"):
            label = f"no plan: {r['error']}"
        else:
            continue
        group = out["successful" if r["success"] else "failed"]
        group[label] = group.get(label, 0) + 1
    return out if out["failed"] or out["successful"] else {}


def collect_episode(env: RecordingEnv, source: str, task: str, seed: int, attempts: int = 1, first_attempt: int = 0
                    ) -> tuple[Demo | None, dict]:
    """Run source row ``source`` on ``env`` (a :class:`RecordingEnv`) for ``seed``; return (demo, row result).

    With ``attempts`` > 1 the row is run with ``attempt=first_attempt, ...`` until one succeeds (attempts before
    ``first_attempt`` failed in an earlier collection); the demo and result are those of the last attempt run, and the
    result's ``attempts`` says how many there were in all."""
    from sim.bench import load_rows

    row = load_rows()[source]
    if not 0 <= first_attempt < attempts:
        raise ValueError(f"first_attempt={first_attempt} must be in [0, attempts={attempts})")
    for attempt in range(first_attempt, attempts):
        result = row(env, task, seed, None, attempt=attempt) if attempts > 1 else row(env, task, seed, None)
        if result["success"]:
            break
    result = {**result, "attempts": attempt + 1}
    demo = env.demo(source, bool(result["success"]), task)
    if demo is None and int(result.get("steps", 0)) > 0:
        raise RuntimeError(
            f"source {source!r} reported {result['steps']} steps but none went through env.step(): it must drive "
            "the env it is given (not env.unwrapped) for its actions to be recorded"
        )
    if demo is not None and env.seed != seed:
        raise RuntimeError(f"source {source!r} reset the env with seed {env.seed}, expected {seed}")
    return demo, result


def _collect_chunk(cfg: CollectConfig, seeds: Sequence[int], parts: Path | None = None,
                   start: dict[int, int] | None = None) -> list[tuple[int, Demo | None, dict]]:
    env = RecordingEnv(_make_env(cfg))
    out, start = [], start or {}
    try:
        for seed in seeds:
            try:
                demo, result = collect_episode(env, cfg.source, cfg.task, seed, cfg.attempts, start.get(seed, 0))
            except Exception as exc:  # one bad seed must not lose the others; reported, and fatal if all fail
                log.warning("source %s failed on %s seed %d: %s: %s", cfg.source, cfg.task, seed, type(exc).__name__, exc)
                demo, result = None, {"success": False, "steps": 0, "error": f"{type(exc).__name__}: {exc}"}
            result = {k: v for k, v in result.items() if isinstance(v, (bool, int, float, str))}
            if parts is not None and "error" not in result:
                _save_seed(parts, seed, demo, result)
            out.append((seed, demo, result))
    finally:
        env.close()
    return out


def collect(cfg: CollectConfig) -> dict[str, Any]:
    """Collect ``cfg.num_demos`` episodes (seeds seed_offset ..), write the HDF5 file and a JSON report next to it.

    Resumable (see the module doc): seeds saved in ``<out>.parts/`` by an interrupted run are not collected again.
    With ``cfg.extend``, the seeds that collection finished are not collected again either."""
    seeds = list(range(cfg.seed_offset, cfg.seed_offset + cfg.num_demos))
    kept, start = _load_base(cfg, seeds)
    parts = _open_parts(cfg)
    results = _load_seeds(parts, seeds)
    if results:
        log.info("resuming: %d of %d seeds already collected in %s", len(results), len(seeds), parts)
    resumed = len(results)
    have = {r[0] for r in results}
    results += [k for k in kept if k[0] not in have]
    have |= {k[0] for k in kept}
    todo = [s for s in seeds if s not in have]
    chunks = [todo[i : i + cfg.chunk] for i in range(0, len(todo), cfg.chunk)]
    t0 = time.perf_counter()
    with tqdm(total=len(seeds), initial=len(results), desc=f"collect {cfg.task}/{cfg.source}", unit="demo") as bar:
        def done(chunk_out):
            results.extend(chunk_out)
            bar.update(len(chunk_out))
            bar.set_postfix(success=f"{np.mean([r[2]['success'] for r in results]):.0%}")

        if cfg.workers == 1:
            for c in chunks:
                done(_collect_chunk(cfg, c, parts, start))
        elif chunks:
            with worker_pool(cfg.workers, initializer=share_cores, initargs=(cfg.workers,)) as pool:
                for fut in as_completed([pool.submit(_collect_chunk, cfg, c, parts, start) for c in chunks]):
                    done(fut.result())
    results.sort(key=lambda r: r[0])
    demos = [d for _, d, _ in results if d is not None and (cfg.keep_failed or d.success)]
    errors = [(s, r["error"]) for s, _, r in results if "error" in r]
    if not demos:
        if not any(parts.glob("seed_*.json")):  # nothing worth keeping for a rerun
            shutil.rmtree(parts, ignore_errors=True)
        first = f"; first error (seed {errors[0][0]}): {errors[0][1]}" if errors else ""
        raise RuntimeError(f"source {cfg.source!r} produced no demos for {cfg.task} seeds {seeds[0]}..{seeds[-1]}{first}")
    probe = _make_env(cfg)
    try:
        env_args = {
            "env_name": cfg.task,
            "type": "hoi2robot",  # robomimic EnvType is an int for its own backends; ours is named
            "env_kwargs": {"task": cfg.task, "cameras": list(cfg.cameras), "image_size": list(cfg.image_size),
                           "horizon": probe.horizon, "control_freq": 20, "controller": "OSC_POSE delta"},
            "task": cfg.task,
            "instruction": probe.instruction,
            "sources": sorted({d.source for d in demos}),
            "lowdim_keys": lowdim_keys(probe),
        }
    finally:
        probe.close()
    path = write_demos(cfg.out, demos, env_args, valid_fraction=cfg.valid_fraction)
    n_success = sum(bool(r[2]["success"]) for r in results)
    n_attempts = sum(int(r[2].get("attempts", 1)) for r in results)
    report = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
        "file": str(path),
        "episodes": len(results),
        "successful": n_success,
        "attempts_run": n_attempts,
        "generation_rate": n_success / max(n_attempts, 1),  # successful demos per attempt run
        "demos_written": len(demos),
        "steps": int(sum(len(d) for d in demos)),
        "errors": len(errors),
        "resumed_seeds": resumed,
        "extended_from": cfg.extend,
        "kept_seeds": len(have) - resumed,  # finished in ``extend`` and taken as they are
        "key": _parts_key(cfg),  # the settings, so that a collection with more attempts can extend this one
        "wall_seconds": time.perf_counter() - t0,
        "per_seed": [{"seed": s, **r} for s, _, r in results],
    }
    if plans := plan_counts([r for _, _, r in results]):
        report["plans"] = plans
    write_json(_report_path(path), report)
    shutil.rmtree(parts, ignore_errors=True)  # everything is in ``out`` now
    return report


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="collect")
def main(cfg: DictConfig) -> None:
    report = collect(CollectConfig.from_cfg(cfg))
    tries = f", {report['attempts_run']} attempts" if report["attempts_run"] != report["episodes"] else ""
    if report["kept_seeds"]:
        tries += f"; {report['kept_seeds']} seeds kept from {report['extended_from']}"
    print(
        f"{report['demos_written']} demos ({report['successful']}/{report['episodes']} successful{tries}, "
        f"{report['steps']} steps) in {report['wall_seconds']:.1f} s -> {report['file']}"
    )


if __name__ == "__main__":
    main()
