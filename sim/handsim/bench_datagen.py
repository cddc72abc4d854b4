"""Benchmark of ``hoi-datagen`` with the engine source: clips/min and the projected time of a 2,000-clip dataset.

Usage (one command, rerunnable; writes ``bench/results/datagen.json`` and prints a table)::

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python -m sim.handsim.bench_datagen [--clips-per-task 12] [--workers 2]

It runs :func:`sim.handsim.datagen.generate` (the same code path as ``hoi-datagen``) into a fresh temporary dataset
(16 frames, 128², egoview, the four tasks) and records the run's own numbers: wall time, clips/min (including the
workers' start-up and scene building, which a 2,000-clip run pays once), per-clip produce and write times, the
steady-state rate (clips/min from the mean produce time per worker), the engine's demo success rate, the load
average of the machine during the run (other jobs on the machine slow it down: compare runs only at similar load),
and the CPU seconds spent per clip (workers + main process, from ``getrusage``) with the rate two otherwise idle
cores would give (``clips_per_min_on_2_idle_cores``: load-independent, ignores the serial start-up).
Target (issue 3): >= 30 clips/min on 2 cores, a 2,000-clip dataset in under an hour.
"""
from __future__ import annotations

import argparse
import os
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

from hoi2robot.config import compose_config, write_json

TARGET_CLIPS_PER_MIN = 30.0
DATASET_CLIPS = 2000
OUT = Path("bench/results/datagen.json")
COMMAND = "MUJOCO_GL=egl OMP_NUM_THREADS=1 python -m sim.handsim.bench_datagen"


def run(clips_per_task: int, workers: int, resolution: int, num_frames: int, out: Path) -> dict:
    from sim.handsim.datagen import format_table, generate

    load0 = os.getloadavg()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory(prefix="bench_datagen_") as tmp:
        cfg = compose_config("datagen", [f"clips_per_task={clips_per_task}", f"workers={workers}",
                                         f"resolution={resolution}", f"num_frames={num_frames}", f"out={tmp}/ds"])
        report = generate(cfg)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(ru0, ru1))
    load1 = os.getloadavg()
    print(format_table(report))
    r = report["run"]
    steady = 60.0 * workers / r["produce_s_mean"] if r["produce_s_mean"] else None
    per_task = {t: {k: v for k, v in s.items()} for t, s in report["per_task"].items()}
    result = {
        "command": " ".join([COMMAND, *(shlex.quote(a) for a in sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": dict(report["machine"], loadavg_1_5_15_before=load0, loadavg_1_5_15_after=load1),
        "config": {"clips_per_task": clips_per_task, "tasks": list(cfg.tasks), "workers": workers,
                   "resolution": resolution, "num_frames": num_frames, "camera": cfg.camera, "source": cfg.source},
        "clips": r["written"],
        "failed": r["failed"],
        "wall_s": r["wall_s"],
        "clips_per_min": r["clips_per_min"],
        "steady_clips_per_min": steady,
        "produce_s_mean": r["produce_s_mean"],
        "write_s_mean": r["write_s_mean"],
        "projected_2000_clips_min": DATASET_CLIPS / r["clips_per_min"] if r["clips_per_min"] else None,
        # load-independent: CPU seconds (workers + main process) per clip, and the rate two idle cores would give
        "cpu_s_per_clip": cpu_s / max(r["written"], 1),
        "clips_per_min_on_2_idle_cores": 60.0 * 2 / (cpu_s / r["written"]) if r["written"] and cpu_s else None,
        "target_clips_per_min": TARGET_CLIPS_PER_MIN,
        "pass": r["clips_per_min"] >= TARGET_CLIPS_PER_MIN,
        "per_task": per_task,
    }  # fmt: skip
    write_json(out, result)
    print("| clips | wall s | clips/min | steady clips/min | 2,000 clips (min) | target | result |\n"
          "|---|---|---|---|---|---|---|\n"
          f"| {result['clips']} | {result['wall_s']:.1f} | {result['clips_per_min']:.1f} | "
          f"{steady or float('nan'):.1f} | {result['projected_2000_clips_min'] or float('nan'):.1f} | "
          f">= {TARGET_CLIPS_PER_MIN:.0f} clips/min | {'PASS' if result['pass'] else 'FAIL'} |")  # fmt: skip
    print(f"CPU {result['cpu_s_per_clip']:.2f} s/clip -> {result['clips_per_min_on_2_idle_cores'] or float('nan'):.1f}"
          f" clips/min on 2 idle cores; load average before/after: {load0} / {load1}; wrote {out}")
    return result


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips-per-task", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--num-frames", type=int, default=16)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    if a.clips_per_task < 1 or a.workers < 1:
        ap.error("--clips-per-task and --workers must be >= 1")
    run(a.clips_per_task, a.workers, a.resolution, a.num_frames, a.out)


if __name__ == "__main__":
    main()
