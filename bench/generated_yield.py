"""Success of two demo collections within their first K attempts, on the seeds they share, paired per seed.

Two collections of the ``generated`` source on the same task and seeds (e.g. two generator weights) differ only in
the generator, so a per-seed pairing is fairer than comparing two rates: ``both``, ``only_a``, ``only_b`` count the
seeds where both, only the first or only the second succeeded within ``--attempts`` K (default 1: the first
generation; attempt k draws the same noise in both collections), and ``p_exact`` is the two-sided exact binomial
(McNemar) test on the discordant seeds (with several tasks, also pooled over all of them). Detection rate is
MediaPipe's share of frames with a hand in each seed's last attempt.

    python bench/generated_yield.py --pair Push runs/policy_sources_least_turn/demos/Push_generated_200.json \\
        runs/gen_g2/Push_generated_100.json --pair Lift ... --labels second third \\
        --out bench/results/generated_yield_gpu.json
"""
from __future__ import annotations

import argparse
import json
import sys
from math import comb
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoi2robot.config import write_json  # noqa: E402


def successes_within(report: dict, within: int = 1) -> dict[int, dict]:
    """seed -> {success, detection_rate}: did the seed succeed within its first ``within`` attempts (a seed stops at
    its first success, so a success needing more attempts failed those)."""
    allowed = int(report.get("key", {}).get("attempts", 1))
    if within > allowed:
        raise ValueError(f"{report.get('file', 'the report')} ran at most {allowed} attempt(s) per seed, "
                         f"fewer than the {within} asked for")
    out = {}
    for row in report["per_seed"]:
        ok = bool(row.get("success")) and int(row.get("attempts", 1)) <= within
        out[int(row["seed"])] = {"success": ok, "detection_rate": row.get("detection_rate")}
    return out


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact binomial test of only_a vs only_b under p = 1/2."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def compare(a: dict, b: dict, within: int = 1) -> dict:
    ra, rb = successes_within(a, within), successes_within(b, within)
    seeds = sorted(set(ra) & set(rb))
    if not seeds:
        raise ValueError("the two collections share no seeds")
    sa = [ra[s]["success"] for s in seeds]
    sb = [rb[s]["success"] for s in seeds]
    only_a = sum(x and not y for x, y in zip(sa, sb))
    only_b = sum(y and not x for x, y in zip(sa, sb))

    def det(r):
        vals = [r[s]["detection_rate"] for s in seeds if r[s]["detection_rate"] is not None]
        return round(float(sum(vals) / len(vals)), 4) if vals else None

    return {"seeds": len(seeds), "first_seed": seeds[0], "last_seed": seeds[-1],
            "success_a": sum(sa), "success_b": sum(sb), "both": sum(x and y for x, y in zip(sa, sb)),
            "only_a": only_a, "only_b": only_b, "p_exact": round(mcnemar_p(only_a, only_b), 4),
            "detection_a": det(ra), "detection_b": det(rb)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", nargs=3, action="append", metavar=("TASK", "REPORT_A", "REPORT_B"), required=True,
                    help="a task and the two collection reports (.json beside the .hdf5)")
    ap.add_argument("--labels", nargs=2, default=["a", "b"], help="names of the two collections")
    ap.add_argument("--attempts", type=int, default=1, help="a seed succeeds if one of its first K attempts did")
    ap.add_argument("--out", default=None, help="write the record here")
    args = ap.parse_args(argv)
    rows = {}
    for task, pa, pb in args.pair:
        rows[task] = {"a": pa, "b": pb, **compare(json.loads(Path(pa).read_text()), json.loads(Path(pb).read_text()),
                                                    args.attempts)}
    record = {"labels": {"a": args.labels[0], "b": args.labels[1]}, "attempts": args.attempts, "tasks": rows}
    if len(rows) > 1:  # every task's seeds pooled: the discordant seeds summed, one exact test over all of them
        pooled = {k: sum(r[k] for r in rows.values()) for k in ("seeds", "success_a", "success_b", "both", "only_a", "only_b")}
        pooled["p_exact"] = round(mcnemar_p(pooled["only_a"], pooled["only_b"]), 4)
        record["pooled"] = pooled
    la, lb = args.labels
    print(f"{'task':8} {'seeds':>5} {la + ' ok':>10} {lb + ' ok':>10} {'only ' + la:>10} {'only ' + lb:>10} "
          f"{'p':>6} {'det ' + la:>9} {'det ' + lb:>9}")
    for task, r in rows.items():
        print(f"{task:8} {r['seeds']:5d} {r['success_a']:10d} {r['success_b']:10d} {r['only_a']:10d} {r['only_b']:10d} "
              f"{r['p_exact']:6.3f} {r['detection_a']!s:>9} {r['detection_b']!s:>9}")
    if "pooled" in record:
        r = record["pooled"]
        print(f"{'pooled':8} {r['seeds']:5d} {r['success_a']:10d} {r['success_b']:10d} {r['only_a']:10d} "
              f"{r['only_b']:10d} {r['p_exact']:6.3f}")
    if args.out:
        write_json(args.out, record)
    return record


if __name__ == "__main__":
    main()
