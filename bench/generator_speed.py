"""Benchmark of the ``tiny`` HANDI generator: sampling speed, MA IoU on held-out clips, instruction sensitivity.

    .venv/bin/python bench/generator_speed.py --data data/hoiclips_128_eval [--weights DIR] [--threads 2]

Prints a table and writes ``bench/results/generator_speed.json``:

* seconds per 16-frame clip (text encode + stage 1 + stage 2 + VAE decode + paste), median of ``--repeats`` runs, for
  each ``--steps`` value, with the per-stage split;
* MA IoU of stage 1 vs the clips' ground-truth MA (canonical instruction), next to the IoU of the model's own prior
  mask alone (a model that ignores the frame and the text scores about that);
* instruction sensitivity on the same frames and seeds: IoU of the MA sampled with the right instruction vs with
  the other tasks' instructions (1.0 = the text changes nothing), GT IoU with right vs wrong instruction, and the mean
  absolute pixel difference of stage-2 videos (given the GT MA) between instructions vs between seeds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 0.5, b >= 0.5
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=None, help="pipeline folder (default: the shipped hoi_videogen/weights/tiny)")
    ap.add_argument("--data", default="data/hoiclips_128_eval", help="HOIClip dataset with held-out seeds")
    ap.add_argument("--clips", type=int, default=8, help="clips used for the MA / instruction metrics")
    ap.add_argument("--steps", type=int, nargs="+", default=[20, 10], help="DPM++ steps to time")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "generator_speed.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from hoi2robot.config import machine_info, write_json
    from hoi_videogen.data import HOIClipDataset, paraphrases
    from hoi_videogen.pipeline import TINY_WEIGHTS, load_pipeline, paste_background

    weights = Path(args.weights) if args.weights else TINY_WEIGHTS
    t0 = time.perf_counter()
    pipe = load_pipeline(weights)
    load_s = time.perf_counter() - t0
    ds = HOIClipDataset(args.data)
    n = min(args.clips, len(ds))
    picks = np.linspace(0, len(ds) - 1, n).round().astype(int)
    clips = [ds[int(i)] for i in picks]
    tasks = sorted({r["task"] for r in ds.records})
    canon = {t: paraphrases(t)[0] for t in tasks}
    pipe.encode_text(list(canon.values()))  # load the text encoder once (not part of the per-clip time)

    # ---------------------------------------------------------------- speed: whole generate, and the stage split
    speed = {}
    image, text = clips[0].context, clips[0].instruction
    for steps in args.steps:
        totals, split = [], {"text": [], "stage1": [], "stage2": [], "decode": []}
        for r in range(args.repeats + 1):
            g = torch.Generator().manual_seed(r)
            with torch.no_grad():
                t = [time.perf_counter()]
                frame = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1)
                ctx = pipe.encode_frames(frame)
                tok, pooled = pipe.encode_text([text + f" #{r}"])  # uncached text: a fresh encode every run
                t.append(time.perf_counter())
                mask = pipe.mask_to_image(pipe.sample_mask(ctx, tok, pooled, steps, g))
                t.append(time.perf_counter())
                lat = pipe.sample_video_latents(ctx, torch.from_numpy(mask)[None, None], tok, pooled, steps, g)[0]
                t.append(time.perf_counter())
                paste_background(pipe.decode_region(lat, mask), image, mask)
                t.append(time.perf_counter())
            if r == 0:
                continue  # warm-up
            totals.append(t[-1] - t[0])
            for k, a, b in zip(split, t, t[1:]):
                split[k].append(b - a)
        speed[steps] = {"seconds": statistics.median(totals), "min": min(totals),
                        **{k: round(statistics.median(v), 3) for k, v in split.items()}}
    # the public call, end to end (includes validation and the GeneratedVideo)
    t = time.perf_counter()
    video = pipe(image, text, num_inference_steps=args.steps[0], seed=0)
    call_s = time.perf_counter() - t

    # -------------------------------------------------------------------------------- MA IoU and text sensitivity
    prior = pipe.mask_to_image(pipe.ma_denoiser.prior.float())
    rows = []
    for clip in clips:
        with torch.no_grad():
            frame = torch.from_numpy(clip.context).permute(2, 0, 1)[None].float().div(127.5).sub(1)
            ctx = pipe.encode_frames(frame)
            masks = {}
            for task in tasks:
                tok, pooled = pipe.encode_text([canon[task]])
                masks[task] = pipe.mask_to_image(pipe.sample_mask(ctx, tok, pooled, args.steps[0],
                                                                  torch.Generator().manual_seed(0)))
            gt = clip.ma_mask
            right = masks[clip.task]
            wrong = [t for t in tasks if t != clip.task]
            # stage 2 with the GT MA: instruction vs seed differences inside the MA
            inside = gt >= 0.5
            vids = {}
            for key, (task, seed) in {"right": (clip.task, 0), "right_seed1": (clip.task, 1),
                                      "wrong": (wrong[0], 0)}.items():
                vids[key] = pipe(clip.context, canon[task], num_inference_steps=args.steps[-1], seed=seed,
                                 ma_mask=gt).frames.astype(np.float32)
            diff = lambda a, b: float(np.abs(vids[a] - vids[b])[:, inside].mean()) if inside.any() else 0.0  # noqa
        rows.append({
            "clip": f"{clip.task}_{clip.seed}",
            "ma_iou": _iou(right, gt),
            "prior_iou": _iou(prior, gt),
            "ma_iou_wrong_text": float(np.mean([_iou(masks[t], gt) for t in wrong])),
            "ma_agreement_right_vs_wrong_text": float(np.mean([_iou(masks[t], right) for t in wrong])),
            "ma_area": float(right.mean()),
            "gt_area": float(gt.mean()),
            "video_diff_text": diff("right", "wrong"),
            "video_diff_seed": diff("right", "right_seed1"),
        })
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "clip"}

    payload = {
        "what": "tiny HANDI generator: seconds per 16-frame clip, MA IoU on held-out seeds, instruction sensitivity",
        "command": "python bench/generator_speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "weights": str(weights),
        "data": str(args.data),
        "frames": int(video.num_frames),
        "resolution": int(video.frames.shape[1]),
        "threads": args.threads,
        "load_s": round(load_s, 2),
        "speed": {str(k): v for k, v in speed.items()},
        "call_s": round(call_s, 3),
        "metrics_mean": mean,
        "per_clip": rows,
        "machine": machine_info(),
    }
    print(f"\nweights {weights}   data {args.data} ({n} held-out clips)   threads {args.threads}   "
          f"load avg {payload['machine']['loadavg'][0]:.1f}")
    print(f"{'steps':>5} | {'s/clip':>7} | {'text+enc':>8} | {'stage1':>7} | {'stage2':>7} | {'decode':>7}")
    for k, v in speed.items():
        print(f"{k:>5} | {v['seconds']:7.2f} | {v['text']:8.3f} | {v['stage1']:7.3f} | {v['stage2']:7.3f} | "
              f"{v['decode']:7.3f}")
    print(f"pipe() end to end, {args.steps[0]} steps: {call_s:.2f} s")
    print(f"\n{'metric':<36} | value")
    for k, v in mean.items():
        print(f"{k:<36} | {v:.4f}")
    write_json(args.out, payload)
    print(f"\nwrote {args.out}")
    return payload


if __name__ == "__main__":
    main()
