"""Gripper command from the hand's aperture: normalization, hysteresis, and dropping too-short closures."""
from __future__ import annotations

import numpy as np

__all__ = ["closed_runs", "hysteresis", "gripper_from_aperture", "drop_short_closures", "require_open_before",
           "pick_place_from_motion", "pick_lift_from_motion"]


def closed_runs(cmd: np.ndarray) -> list[tuple[int, int]]:
    """The closed runs of a gripper command: ``[(i, j), ...]`` with ``cmd[i:j] > 0.5``, in time order."""
    closed = np.concatenate([[False], np.asarray(cmd, float) > 0.5, [False]])
    edges = np.flatnonzero(np.diff(closed.astype(np.int8)))
    return [(int(i), int(j)) for i, j in zip(edges[::2], edges[1::2])]


def hysteresis(a: np.ndarray, close_below: float, open_above: float, start_closed: bool = False) -> np.ndarray:
    """Two-threshold switch over normalized aperture ``a`` (T,): closes (1) when ``a < close_below``, opens (0) when
    ``a > open_above``, otherwise keeps its state. Returns a T float array of 0/1."""
    if open_above < close_below:
        raise ValueError(f"hysteresis needs open_above >= close_below, got {open_above} < {close_below}")
    state, out = bool(start_closed), np.zeros(len(a))
    for i, v in enumerate(np.asarray(a, float)):
        if not np.isfinite(v):  # unknown (hand not seen): keep the state
            pass
        elif state and v > open_above:
            state = False
        elif not state and v < close_below:
            state = True
        out[i] = float(state)
    return out


def drop_short_closures(cmd: np.ndarray, t: np.ndarray, min_closed_s: float, keep_edges: bool = False) -> np.ndarray:
    """Re-open closed runs (1s) that last less than ``min_closed_s`` seconds (a run that reaches the end is kept;
    with ``keep_edges`` also a run that starts at the beginning)."""
    cmd = np.asarray(cmd, float).copy()
    for i, j in closed_runs(cmd):
        end_t = t[j] if j < len(cmd) else np.inf
        if end_t - t[i] < min_closed_s and not (keep_edges and i == 0):
            cmd[i:j] = 0.0
    return cmd


def require_open_before(cmd: np.ndarray, a: np.ndarray, open_above: float, min_frames: int) -> np.ndarray:
    """Re-open closed runs not preceded (since the clip start or the previous closed run) by at least
    ``min_frames`` frames of normalized aperture ``a`` above ``open_above``: a hand reaches for an object with its
    fingers open; one that enters the view already closed (a fist, pushing fingers) has not grasped anything."""
    cmd = np.asarray(cmd, float).copy()
    a = np.asarray(a, float)
    is_open = np.isfinite(a) & (a > open_above)
    open_seen, prev_end = 0, 0
    for i, j in closed_runs(cmd):
        open_seen += int(is_open[prev_end:i].sum())
        if open_seen < min_frames:
            cmd[i:j] = 0.0
            open_seen += int(is_open[i:j].sum())  # a dropped run is open hand time too
        else:
            open_seen = 0
        prev_end = j
    return cmd


def _nan_median_filter(x: np.ndarray, size: int) -> np.ndarray:
    """Median over a centred window of the finite values (NaN stays NaN)."""
    out = x.copy()
    h = size // 2
    for i in np.flatnonzero(np.isfinite(x)):
        w = x[max(0, i - h) : i + h + 1]
        out[i] = np.median(w[np.isfinite(w)])
    return out


def gripper_from_aperture(aperture: np.ndarray, t: np.ndarray, cfg, valid: np.ndarray | None = None) -> tuple[np.ndarray, bool, np.ndarray]:
    """(T gripper command 0/1, whether the track holds a grasp, T normalized aperture) for a :class:`GripperConfig`.

    The aperture (metres, T; NaN or ``valid`` False where the hand was not seen: the state is kept there, starting
    open) is normalized between its low/high percentiles; a range below ``cfg.min_range`` means
    no grasp, and the command is ``cfg.no_grasp_command`` throughout.
    """
    ap = np.asarray(aperture, float).copy()
    if valid is not None:
        ap[~np.asarray(valid, bool)] = np.nan
    if not np.isfinite(ap).any():
        return np.full(len(ap), float(cfg.no_grasp_command)), False, np.full(len(ap), 0.5)
    if cfg.median_frames > 1:
        ap = _nan_median_filter(ap, cfg.median_frames)
    lo, hi = np.nanpercentile(ap, [cfg.low_percentile, cfg.high_percentile])
    if hi - lo < cfg.min_range:
        return np.full(len(ap), float(cfg.no_grasp_command)), False, np.full(len(ap), 0.5)
    a = np.clip((ap - lo) / (hi - lo), 0.0, 1.0)
    cmd = hysteresis(a, cfg.close_below, cfg.open_above)
    if cfg.min_open_frames > 0:
        cmd = require_open_before(cmd, a, cfg.open_above, cfg.min_open_frames)
    cmd = 1.0 - drop_short_closures(1.0 - cmd, t, cfg.min_open_s, keep_edges=True)  # flickers open: stay closed
    cmd = drop_short_closures(cmd, t, cfg.min_closed_s)
    if cmd.max() <= 0.5:  # every closure dropped: no grasp, the same command as a track without aperture change
        return np.full(len(ap), float(cfg.no_grasp_command)), False, a
    return cmd, True, a


def _filled_row(v: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(``v`` interpolated over frames not ``valid`` or not finite, the seen frames' mask), or None with < 5 seen."""
    v = np.asarray(v, float)
    ok = np.asarray(valid, bool) & np.isfinite(v)
    if ok.sum() < 5:
        return None
    idx = np.arange(len(v))
    return np.interp(idx, idx[ok], v[ok]), ok


def _plateau(vf: np.ndarray, k: int, plateau: float) -> tuple[int, int]:
    """First and last frame around the bottom ``k`` of ``vf`` where it stays within ``plateau`` px of that bottom."""
    a = b = k
    while a > 0 and vf[a - 1] >= vf[k] - plateau:
        a -= 1
    while b < len(vf) - 1 and vf[b + 1] >= vf[k] - plateau:
        b += 1
    return a, b


def pick_place_from_motion(v: np.ndarray, valid: np.ndarray, prominence: float, plateau: float = 3.0,
                           fps: float = 0.0, entry_s: float = 0.4, rest_s: float = 0.5) -> tuple[int, int] | None:
    """(close frame, open frame) of a pick and a place read from the grasp point's image row ``v`` (pixels, T; larger
    = lower in the image), or None when the motion shows no pick and place.

    A pick-and-place hand descends to the object, rises, moves, descends to the place and rises again: two bottoms
    (maxima of ``v`` with a ``prominence`` of at least that many pixels; the two most prominent ones). The gripper
    closes at the start of the first bottom's plateau (where ``v`` comes within ``plateau`` px of the bottom) and opens
    after the end of the second's. One bottom (a lift, a push) or none: None. Frames not ``valid`` are interpolated
    over.

    Before the hand is first seen it was out of view, so its descent to a bottom there is not seen: such a bottom
    counts by the rise after it. With ``fps`` > 0, a bottom whose plateau starts within ``entry_s`` seconds of the first
    seen frame is the hand coming into view (from the image's lower edge: the row first grows, then falls), not a
    pick — unless the hand rests there (stays within ``prominence`` of the bottom) for ``rest_s`` seconds at least: it
    came into view at the object. Without
    ``fps`` a bottom needs a seen descent on both sides.
    """
    from scipy.signal import find_peaks

    filled = _filled_row(v, valid)
    if filled is None:
        return None
    vf, ok = filled
    first = int(np.flatnonzero(ok)[0])
    if fps > 0:  # unseen before the first detection: the hand came from out of view, above any bottom
        vf = vf.copy()
        vf[:first] = float(vf.min()) - 10.0 * prominence - 1.0
    vp = np.concatenate([[vf[0]], vf])  # one frame before the clip, as unseen as the first: a bottom at 0 is interior
    peaks, props = find_peaks(vp, prominence=prominence)
    bottoms = []
    for k, prom in zip(peaks - 1, props["prominences"]):
        a, b = _plateau(vf, int(k), plateau)
        if fps > 0 and (a - first) / fps < entry_s:
            ra, rb = _plateau(vf, int(k), prominence)  # resting: staying within the prominence of the bottom
            if (rb - ra + 1) / fps < rest_s:
                continue  # the hand's entry into the view
        bottoms.append((float(prom), a, b))
    if len(bottoms) < 2:
        return None
    (_, a, _), (_, _, b) = sorted(sorted(bottoms)[-2:], key=lambda x: x[1])  # the two clearest, in time order
    if b + 1 >= len(vf):  # the hand never leaves the place: no release seen
        return None
    return a, b + 1


def pick_lift_from_motion(v: np.ndarray, valid: np.ndarray, fps: float, prominence: float, plateau: float = 3.0,
                          rise_s: float = 1.0, hold: float = 5.0, hold_frames: int = 2,
                          max_bottom_s: float = 1.2) -> int | None:
    """Close frame of a pick that is lifted and held up to the end of the clip, read from the grasp point's image row
    ``v`` (pixels, T; larger = lower in the image), or None when the motion shows no such lift.

    A lifting hand descends to the object, stays at the bottom while the fingers close, rises at once and holds the
    object up: the last bottom (interior maximum of ``v`` with a ``prominence`` of at least that many pixels), from
    which the grasp point rises by at least ``prominence`` to the level it ends at (the median of the last
    ``hold_frames`` seen frames, which lie within ``hold`` px of each other) and reaches that level within ``rise_s``
    seconds of leaving the bottom's plateau (where ``v`` is within ``plateau`` px of the bottom), which lasts at most
    ``max_bottom_s`` seconds. A push is not read as a lift: its hand rests at the end of the slide and only then
    leaves — pushed away from the camera, the slide rises in the image as a lift does, but the hand reaches its end
    level seconds after it left the contact point; pushed towards the camera, the rest is a long bottom (engine
    demos, tracked: lift bottoms 0.2-0.7 s, push rests at the bottom 1.6-2.8 s). The gripper closes at the start of
    the bottom's plateau. Frames not ``valid`` are interpolated over (the end level uses seen frames only).
    """
    from scipy.signal import find_peaks

    filled = _filled_row(v, valid)
    if filled is None or fps <= 0:
        return None
    (vf, ok), v, idx = filled, np.asarray(v, float), np.arange(len(v))
    peaks, _ = find_peaks(vf, prominence=prominence)
    if len(peaks) < 1:
        return None
    q = int(peaks[-1])
    seen = idx[ok]
    last = seen[-hold_frames:]
    if len(last) < hold_frames or last[0] <= q:
        return None
    end = float(np.median(v[last]))
    if np.ptp(v[last]) > hold or vf[q] - end < prominence:
        return None
    a, b = _plateau(vf, q, plateau)
    reached = np.flatnonzero((idx > b) & (vf <= end + hold))
    if not len(reached) or (reached[0] - b) / fps > rise_s:
        return None
    if (b - a + 1) / fps > max_bottom_s:
        return None
    return a
