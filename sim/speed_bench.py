"""``hoi-sim-bench``: how fast the simulated tasks step, reset and render on this machine.

Measures, per task: env steps/s without cameras, with one RGB camera at 128² and 256², with RGB + depth at 128²,
and the reset time (soft resets); and raw ``sim.render`` frames/s at each size for our fast render settings and
for each setting robosuite has on by default (4× MSAA, reflections, shadows), with the mean absolute pixel
difference to robosuite's default image. Prints a table and writes JSON (``output``, default
``bench/results/sim_speed.json``). Parameters: ``configs/sim_bench.yaml`` (Hydra; override as ``key=value``).
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import hydra
import numpy as np
from omegaconf import DictConfig

from hoi2robot.config import CONFIG_PATH, machine_info as base_machine_info, to_plain, write_json
from sim.tasks import RenderSettings, make_env

__all__ = ["main", "run", "format_table", "machine_info"]

RENDER_VARIANTS: dict[str, RenderSettings] = {
    "fast (default here)": RenderSettings(),
    "+4x MSAA": RenderSettings(msaa_samples=4),
    "+reflections": RenderSettings(reflections=True),
    "+shadows": RenderSettings(shadows=True),
    "robosuite default": RenderSettings.robosuite_default(),
}
REFERENCE_VARIANT = "robosuite default"


def _rate(fn: Callable[[], Any], n: int, warmup: int) -> float:
    """Calls of ``fn`` per second over ``n`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def _step_rate(task: str, n: int, warmup: int, seed: int, **env_kwargs) -> float:
    env = make_env(task, horizon=n + warmup + 1, **env_kwargs)
    try:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        return _rate(lambda: env.step(env.action_space.sample()), n, warmup)
    finally:
        env.close()


def _reset_time(task: str, n: int, seed: int) -> float:
    env = make_env(task)
    try:
        seeds = iter(range(seed, seed + n + 1))
        return 1.0 / _rate(lambda: env.reset(seed=next(seeds)), n, warmup=1)
    finally:
        env.close()


def bench_task(task: str, cfg: DictConfig) -> dict[str, Any]:
    """Env steps/s (no camera, RGB 128² / 256², RGB-D 128²) and reset seconds of ``task``."""
    cam = (cfg.camera,)
    rates = {"no_camera": _step_rate(task, cfg.steps, cfg.warmup, cfg.seed)}
    for name, size, depth in (("rgb_128", 128, False), ("rgb_256", 256, False), ("rgbd_128", 128, True)):
        rates[name] = _step_rate(
            task, cfg.camera_steps, cfg.warmup, cfg.seed, cameras=cam, image_size=(size, size), depth=depth
        )
    return {"steps_per_s": rates, "reset_s": _reset_time(task, cfg.resets, cfg.seed)}


def bench_render(cfg: DictConfig) -> dict[str, Any]:
    """Raw render frames/s and pixel difference to robosuite's default settings, per size and variant."""
    task = cfg.tasks[0]
    out: dict[str, Any] = {}
    for size in cfg.render_sizes:
        frames, rows = {}, {}
        for name, settings in RENDER_VARIANTS.items():
            env = make_env(task, image_size=(size, size), render_mode="rgb_array", render_settings=settings)
            try:
                env.reset(seed=cfg.seed)
                sim = env.unwrapped.sim
                render = lambda: sim.render(width=size, height=size, camera_name=cfg.camera)  # noqa: E731
                rows[name] = {"frames_per_s": _rate(render, cfg.render_frames, cfg.warmup)}
                frames[name] = env.render().astype(np.int16)
            finally:
                env.close()
        for name, row in rows.items():
            row["mean_abs_diff_to_robosuite_default"] = float(np.abs(frames[name] - frames[REFERENCE_VARIANT]).mean())
        out[str(size)] = rows
    return {"task": task, "camera": cfg.camera, "sizes": out}


def machine_info() -> dict[str, Any]:
    """:func:`hoi2robot.config.machine_info` plus what matters for simulation speed on a shared machine."""
    import robosuite

    return {
        **base_machine_info(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_avg_1m_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "robosuite": robosuite.__version__,
        "MUJOCO_GL": os.environ.get("MUJOCO_GL"),
    }


def run(cfg: DictConfig) -> dict[str, Any]:
    """All measurements as a JSON-serializable dict."""
    info = machine_info()
    start = time.perf_counter()
    tasks = {task: bench_task(task, cfg) for task in cfg.tasks}
    render = bench_render(cfg)
    return {
        "machine": info,
        "config": to_plain(cfg),
        "tasks": tasks,
        "render": render,
        "wall_s": time.perf_counter() - start,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def format_table(results: dict[str, Any]) -> str:
    """Plain-text tables of :func:`run`'s results."""
    lines = [
        "env steps/s (20 Hz control, Panda OSC)   no cam   RGB 128²  RGB 256²  RGB-D 128²   reset ms",
    ]
    for task, r in results["tasks"].items():
        s = r["steps_per_s"]
        lines.append(
            f"  {task:<38}{s['no_camera']:7.1f}  {s['rgb_128']:8.1f}  {s['rgb_256']:8.1f}  {s['rgbd_128']:10.1f}"
            f"  {1000 * r['reset_s']:9.2f}"
        )
    render = results["render"]
    lines.append(f"raw render frames/s ({render['task']}, {render['camera']})  [mean |Δpixel| vs robosuite default]")
    for size, rows in render["sizes"].items():
        cells = "  ".join(
            f"{name}: {row['frames_per_s']:.1f} [{row['mean_abs_diff_to_robosuite_default']:.2f}]"
            for name, row in rows.items()
        )
        lines.append(f"  {size}²  {cells}")
    m = results["machine"]
    lines.append(
        f"machine: {m['cpus_usable']}/{m['cpu_count']} CPUs, python {m['python']}, mujoco {m['mujoco']}, "
        f"robosuite {m['robosuite']}, MUJOCO_GL={m['MUJOCO_GL']}, load {m['load_avg_1m_at_start']}"
    )
    return "\n".join(lines)


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="sim_bench")
def main(cfg: DictConfig) -> None:
    results = run(cfg)
    print(format_table(results))
    print(f"wrote {write_json(cfg.output, results)}")


if __name__ == "__main__":
    main()
