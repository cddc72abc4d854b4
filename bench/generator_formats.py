"""What the generator's clip format (resolution², frames) buys and costs: one table per format.

    .venv/bin/python bench/generator_formats.py --ceilings PREFIX [--train-logs DIR] [--threads 2]

For each format ``RxF`` (``--formats``, default 128x16 128x32 256x16 256x32) it reports

* **ceiling**: the ``generated`` row's success with the engine's ground-truth demo as a perfect generator of that
  format, read from the hoi-bench records ``<--ceilings>_<R>_<F>.json`` (made with
  ``HOI2ROBOT_GENERATOR='{"name": "engine", "resolution": R, "num_frames": F}' hoi-bench rows=[generated] ...``);
* **CPU sampling**: seconds per generated clip of the ``tiny`` architecture at that format (the shipped weights with
  the format set in their configs: the networks are convolutional and attention-based, so their cost does not depend
  on what they learned), median of ``--repeats`` runs on ``--threads`` threads, ``--steps`` DPM++ steps;
* **GPU training** (optional): seconds per stage-2 training step and peak GPU memory per batch size, read from
  ``<--train-logs>/losses_<R>_<F>_b<B>.csv`` (the trainer's own log) and ``mem_<R>_<F>_b<B>.txt`` (nvidia-smi
  samples) that ``bench/generator_formats_gpu.sh`` writes on a CUDA machine; a batch that ran out of memory has a
  memory file and no loss rows.

Prints the table and writes ``--out`` (default ``bench/results/generator_formats.json``) with a ``.png`` chart.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def parse_format(text: str) -> tuple[int, int]:
    """``"256x32"`` -> (256, 32); a clear error for anything else."""
    try:
        r, f = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"format must look like 256x32 (resolution x frames), got {text!r}") from None
    if r < 16 or r % 8 or f < 2:
        raise argparse.ArgumentTypeError(f"format {text!r}: resolution must be a multiple of 8 >= 16, frames >= 2")
    return r, f


def ceiling(prefix: Path, task: str, res: int, frames: int) -> dict | None:
    """Success of the engine oracle at this format, from its hoi-bench record (None if there is none)."""
    path = prefix.with_name(f"{prefix.name}_{res}_{frames}.json")
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    row = rec["summary"]["generated"][task]
    gen = json.loads((rec.get("env") or {}).get("HOI2ROBOT_GENERATOR") or "{}")
    if gen and (gen.get("resolution"), gen.get("num_frames")) != (res, frames):
        raise ValueError(f"{path}: recorded generator {gen} is not the {res}x{frames} engine oracle")
    seeds = sorted(e["seed"] for e in rec["episodes"] if e["task"] == task)
    return {"success_rate": row["success_rate"], "episodes": row["episodes"], "seeds": [seeds[0], seeds[-1]],
            "record": str(path)}


def train_probe(directory: Path, res: int, frames: int) -> dict[int, dict]:
    """Per batch size: stage-2 seconds per step (after the first logged step) and peak GPU MiB, or ``oom``."""
    out: dict[int, dict] = {}
    for mem in sorted(directory.glob(f"mem_{res}_{frames}_b*.txt")):
        batch = int(mem.stem.rsplit("_b", 1)[1])
        samples = [int(v) for v in mem.read_text().split() if v.strip().isdigit()]
        losses = directory / f"losses_{res}_{frames}_b{batch}.csv"
        rows = [r for r in csv.DictReader(losses.open())] if losses.is_file() else []
        video = [r for r in rows if r["stage"] == "video"]
        entry = {"peak_gpu_mib": max(samples) if samples else None}
        if len(video) > 1:
            steps = int(video[-1]["step"]) - int(video[0]["step"])
            entry["s_per_step"] = (float(video[-1]["seconds"]) - float(video[0]["seconds"])) / steps
            entry["clips_per_s"] = batch / entry["s_per_step"]
        else:
            entry["oom"] = True
        out[batch] = entry
    return out


def sampling_seconds(res: int, frames: int, steps: int, repeats: int) -> float:
    """Median seconds of one ``pipe(image, instruction)`` call of the tiny architecture at this format."""
    import torch

    from hoi_videogen.pipeline import TINY_WEIGHTS, load_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tiny"
        shutil.copytree(TINY_WEIGHTS, folder)
        saved = json.loads((folder / "vae" / "config.json").read_text())["sample_size"]
        for sub, update in (("vae", {"sample_size": res}), ("video_denoiser", {"num_frames": frames})):
            cfg_path = folder / sub / "config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg.update(update)
            if sub == "video_denoiser":  # the latent side scales with the frame side (the VAE's downsampling)
                cfg["latent_size"] = res * cfg["latent_size"] // saved
            cfg_path.write_text(json.dumps(cfg))
        pipe = load_pipeline(folder)
        image = (np.random.default_rng(0).random((res, res, 3)) * 255).astype(np.uint8)
        text = "pick up the can and put it in the bin"
        times = []
        for r in range(repeats + 1):  # the first call warms up (text encoder, allocator)
            t = time.perf_counter()
            with torch.no_grad():
                video = pipe(image, text, num_inference_steps=steps, seed=r)
            times.append(time.perf_counter() - t)
        if video.frames.shape[:3] != (frames, res, res):
            raise RuntimeError(f"{res}x{frames}: the pipeline made frames of shape {video.frames.shape}")
    return statistics.median(times[1:])


def plot(rows: list[dict], task: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["format"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    ceil = [100 * r["ceiling"]["success_rate"] if r.get("ceiling") else 0 for r in rows]
    axes[0].bar(names, ceil, color="tab:green")
    axes[0].set_ylim(0, 100)
    axes[0].set_ylabel("success %")
    axes[0].set_title(f"{task}: engine oracle as generator")
    for i, v in enumerate(ceil):
        axes[0].text(i, v + 2, f"{v:.0f}%", ha="center")
    cpu = [r.get("cpu_s_per_clip") or 0 for r in rows]
    axes[1].bar(names, cpu, color="tab:blue")
    axes[1].set_ylim(0, 1.15 * max(cpu + [1.0]))
    axes[1].set_ylabel("s per clip")
    axes[1].set_title("tiny generator, CPU sampling")
    for i, v in enumerate(cpu):
        axes[1].text(i, v * 1.02, f"{v:.0f}", ha="center")
    for ax in axes:
        ax.set_xlabel("resolution x frames")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--formats", type=parse_format, nargs="+", default=[(128, 16), (128, 32), (256, 16), (256, 32)])
    ap.add_argument("--task", default="PickPlaceCan", help="task of the ceiling records")
    ap.add_argument("--ceilings", type=Path, required=True,
                    help="prefix of the hoi-bench records PREFIX_<R>_<F>.json, e.g. bench/results/engine_format_ppc")
    ap.add_argument("--train-logs", type=Path, default=None, help="folder bench/generator_formats_gpu.sh wrote")
    ap.add_argument("--steps", type=int, default=20, help="DPM++ steps per stage when timing sampling")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-sample", action="store_true", help="skip the CPU sampling timing")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "generator_formats.json")
    args = ap.parse_args(argv)
    if not any(args.ceilings.parent.glob(f"{args.ceilings.name}_*.json")):
        ap.error(f"no hoi-bench records {args.ceilings}_<R>_<F>.json")
    if args.train_logs is not None and not args.train_logs.is_dir():
        ap.error(f"--train-logs {args.train_logs} is not a folder")

    import torch

    from hoi2robot.config import machine_info, write_json

    torch.set_num_threads(args.threads)
    rows = []
    for res, frames in args.formats:
        row = {"format": f"{res}x{frames}", "resolution": res, "num_frames": frames,
               "ceiling": ceiling(args.ceilings, args.task, res, frames)}
        if not args.no_sample:
            row["cpu_s_per_clip"] = sampling_seconds(res, frames, args.steps, args.repeats)
        if args.train_logs is not None:
            row["gpu_train"] = {str(b): v for b, v in train_probe(args.train_logs, res, frames).items()}
        rows.append(row)
        print(f"{row['format']} done", file=sys.stderr, flush=True)

    base = next((r.get("cpu_s_per_clip") for r in rows if r["format"] == "128x16"), None)
    head = f"{args.task} ceiling"
    print(f"\n{'format':>8} | {head:>22} | {'CPU s/clip':>10} | {'x 128x16':>8} | GPU stage-2 training")
    for r in rows:
        c = r["ceiling"]
        ceil = f"{100 * c['success_rate']:.0f}% of {c['episodes']}" if c else "-"
        cpu = r.get("cpu_s_per_clip")
        rel = f"{cpu / base:.1f}" if cpu and base else "-"
        gpu = "; ".join(f"b{b}: OOM ({v['peak_gpu_mib']} MiB)" if v.get("oom") else
                        f"b{b}: {v['s_per_step']:.2f} s/step, {v['clips_per_s']:.0f} clips/s, {v['peak_gpu_mib']} MiB"
                        for b, v in (r.get("gpu_train") or {}).items()) or "-"  # fmt: skip
        cpu_text = f"{cpu:.1f}" if cpu else "-"
        print(f"{r['format']:>8} | {ceil:>22} | {cpu_text:>10} | {rel:>8} | {gpu}")
    result = {"command": " ".join(["python", "bench/generator_formats.py", *(argv or sys.argv[1:])]),
              "task": args.task, "threads": args.threads, "steps": args.steps, "machine": machine_info(),
              "formats": rows}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    plot(rows, args.task, args.out.with_suffix(".png"))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')}")
    return result


if __name__ == "__main__":
    main()
