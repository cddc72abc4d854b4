"""``Retargeter``: a :class:`HandTrack` (+ camera, + optional depth) → an :class:`EETrajectory` in the robot base frame.

    cfg = load_config("default")                   # configs/retarget/default.yaml
    ee = Retargeter(cfg).retarget(track, camera, depth=None)
    ee.position, ee.quat_wxyz, ee.gripper          # TCP (Panda grip site) poses, gripper 1 = closed

Stages (each configured by one section of :class:`RetargetConfig`): pick the hand; PnP-lift every detected frame and
fix the depth scale (``lift``); grasp point, grasp type and aperture (``grasp``); gripper command with hysteresis
(``gripper``); outlier rejection, gap filling, smoothing (``filter``); orientation (``orientation``); TCP offset and
workspace clipping (``workspace``); resampling, gripper dwells and time scaling (``timing``). Warnings (clipping,
long gaps, missed frames) are collected in ``Retargeter.last_report`` and logged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hoi2robot.contracts import CameraModel, EETrajectory, HandTrack
from policy.retarget.config import RetargetConfig
from policy.retarget.filters import fill_gaps, gap_lengths, reject_outliers, smooth
from policy.retarget.gripper import closed_runs, gripper_from_aperture, pick_lift_from_motion, pick_place_from_motion
from policy.retarget.lifting import plane_depth, pnp_hand, sample_depth, to_base
from policy.retarget.orientation import closing_yaw, palm_quats, topdown_quat
from policy.retarget.timing import insert_dwells, resample, time_scale

log = logging.getLogger(__name__)

__all__ = ["NO_GRASP_REASONS", "Retargeter", "RetargetError", "RetargetReport", "grasp_points"]

WRIST, THUMB_TIP, INDEX_MCP, INDEX_TIP, MIDDLE_MCP, MIDDLE_TIP = 0, 4, 5, 8, 9, 12
MCPS = [0, 5, 9, 13, 17]
TIPS = [4, 8, 12, 16, 20]
HAND_SURFACE = 0.008  # m: a keypoint (joint centre) lies about this far behind the skin a depth camera sees


NO_CLOSURE = "neither the hand's aperture nor its motion shows a grasp"
NO_OBJECT_CONTACT = "the hand never closes on an object (context depth)"
NO_LIFT = "the hand closes but never lifts"
NO_GRASP_REASONS = (NO_CLOSURE, NO_OBJECT_CONTACT, NO_LIFT)  # RetargetReport.no_grasp: why a track became a push


class RetargetError(ValueError):
    """The track cannot be retargeted (no hand at all, a camera/track mismatch...); the message says why."""


@dataclass
class RetargetReport:
    """What one :meth:`Retargeter.retarget` call found and decided (for logs, plots and the CLI)."""

    hand: int = 1
    grasp_type: str = "pinch"
    has_grasp: bool = False
    scale: float = 1.0
    scale_source: str = "metric"
    valid: np.ndarray | None = None  # T bool: frames used (detected, not an outlier)
    detected: np.ndarray | None = None  # T bool: frames where the hand was found
    lifted_point: np.ndarray | None = None  # T×3 base frame: the lifted grasp point, filled and smoothed
    grasp_point: np.ndarray | None = None  # T×3: the same with the vertical approaches (before the TCP offset)
    keypoints_base: np.ndarray | None = None  # T×21×3 lifted keypoints (NaN where not valid)
    gripper_frames: np.ndarray | None = None  # T gripper command at the video frames
    yaw: float = 0.0
    motion_timed: bool = False  # the gripper was timed by a pick-and-place motion (gripper.timing auto), not the aperture
    no_grasp: str | None = None  # without a grasp: why (one of NO_GRASP_REASONS), the track then being a push
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        det = self.detected if self.detected is not None else np.zeros(0, bool)
        val = self.valid if self.valid is not None else np.zeros(0, bool)
        return {
            "hand": ["left", "right"][self.hand], "grasp_type": self.grasp_type, "has_grasp": self.has_grasp,
            "scale": float(np.median(self.scale)), "scale_source": self.scale_source, "yaw": self.yaw,
            "motion_timed": self.motion_timed, "no_grasp": self.no_grasp,
            "frames": int(len(det)), "detected_frames": int(det.sum()), "used_frames": int(val.sum()),
            "missed_frames": [int(i) for i in np.flatnonzero(~det)], "warnings": list(self.warnings),
        }  # fmt: skip


def grasp_points(kp: np.ndarray, kind: str, power_depth: float = 0.045, pinch_point: str = "pads") -> np.ndarray:
    """...×21×3 keypoints → ...×3 grasp point: ``pinch`` thumb/index midpoint — of the tips (``pinch_point="tips"``)
    or of the finger pads (``"pads"``: the mean of each finger's tip and last joint, where a pinch touches); ``power`` the palm centre (wrist +
    four MCPs) moved ``power_depth`` metres along the palm normal towards the curled fingertips (where a wrapped
    object's centre is); ``push`` the middle fingertip (the centre line of a hand pushing with its fingers together:
    measured on engine Push demos, the pushed cube ends 0.6 cm (sd) to the side of the middle tip's line, 1.5 cm of
    the index/middle midpoint's)."""
    if kind == "pinch":
        if pinch_point == "tips":
            return 0.5 * (kp[..., THUMB_TIP, :] + kp[..., INDEX_TIP, :])
        return kp[..., [3, 4, 7, 8], :].mean(axis=-2)
    if kind == "power":
        palm = kp[..., MCPS, :].mean(axis=-2)
        n = np.cross(kp[..., INDEX_MCP, :] - kp[..., WRIST, :], kp[..., 17, :] - kp[..., WRIST, :])
        n = n / (np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12)
        towards = kp[..., TIPS, :].mean(axis=-2) - palm
        sign = np.sign(np.sum(n * towards, axis=-1, keepdims=True))
        sign = np.where(sign == 0, 1.0, sign)
        return palm + power_depth * sign * n
    if kind == "push":
        return kp[..., MIDDLE_TIP, :]
    raise ValueError(f"grasp kind must be 'pinch', 'power' or 'push', got {kind!r}")


class Retargeter:
    """Hand track → gripper trajectory; see the module docstring. ``cfg``: a :class:`RetargetConfig` or mapping."""

    def __init__(self, cfg: RetargetConfig | dict | None = None) -> None:
        self.cfg = cfg if isinstance(cfg, RetargetConfig) else RetargetConfig.from_dict(cfg)
        self.last_report: RetargetReport | None = None
        self._cloud: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._standing: dict[str, tuple[np.ndarray, Any]] = {}

    # ------------------------------------------------------------------------------------------------ public
    def retarget(self, track: HandTrack, camera: CameraModel, depth: np.ndarray | None = None) -> EETrajectory:
        """Retarget ``track`` seen by ``camera``; ``depth``: None, H×W (context frame) or T×H×W metric z-depth."""
        cfg, rep = self.cfg, RetargetReport()
        self.last_report = rep
        self._cloud = None  # the context depth's point cloud and normals, once per call (_context_cloud)
        if not isinstance(track, HandTrack):
            raise RetargetError(f"expected a HandTrack, got {type(track).__name__}")
        if not isinstance(camera, CameraModel):
            raise RetargetError(f"expected a CameraModel, got {type(camera).__name__}")
        T = track.num_frames
        kp2 = track.keypoints_2d.astype(np.float64)
        if tuple(track.image_size) != (camera.width, camera.height):
            sx, sy = camera.width / track.image_size[0], camera.height / track.image_size[1]
            kp2 = (kp2 + 0.5) * np.array([sx, sy]) - 0.5
            self._warn(rep, f"track is {track.image_size[0]}×{track.image_size[1]} but the camera "
                            f"{camera.width}×{camera.height}: keypoints rescaled")  # fmt: skip
        depth = self._check_depth(depth, T, camera)
        mode = cfg.lift.mode if cfg.lift.mode != "auto" else ("depth" if depth is not None else "plane")
        if mode == "depth" and depth is None:
            raise RetargetError("lift.mode is 'depth' but no depth image was given")

        hand = self._choose_hand(track, kp2)
        rep.hand = hand
        slot = self._associate(track, kp2, hand)  # per frame: the slot holding the acting hand, -1 if none
        detected = slot >= 0
        rep.detected = detected
        if not detected.any():
            raise RetargetError(f"no hand detected in any of the {T} frames: nothing to retarget")
        missed = int((~detected).sum())
        if missed:
            self._warn(rep, f"hand not found in {missed}/{T} frames ({', '.join(map(str, np.flatnonzero(~detected)[:20]))}"
                            f"{'...' if missed > 20 else ''}): filled by interpolation")  # fmt: skip
        t = np.arange(T) / track.fps
        idx = np.maximum(slot, 0)
        world = track.keypoints_world[np.arange(T), idx].astype(np.float64)
        kp2h = kp2[np.arange(T), idx]

        # PnP lift at MediaPipe's scale
        pts = np.full((T, 21, 3), np.nan)
        valid = detected.copy()
        for i in np.flatnonzero(detected):
            p, err = pnp_hand(kp2h[i], world[i], camera.K)
            if not np.isfinite(err) or err > cfg.lift.max_reprojection_px:
                valid[i] = False
            else:
                pts[i] = p
        if not valid.any():
            raise RetargetError("no frame could be lifted to 3D (PnP failed or reprojection error too large)")

        # gripper (from MediaPipe's metric aperture: independent of the depth scale)
        aperture = np.linalg.norm(world[:, THUMB_TIP] - world[:, INDEX_TIP], axis=1)
        grip, has_grasp, _ = gripper_from_aperture(aperture, t, cfg.gripper, valid)
        kind = self._grasp_kind(aperture, valid, grip) if has_grasp else "push"

        # depth: per-frame z of the grasp point, anchored where the hand touches things
        gp_cam = grasp_points(pts, kind, cfg.grasp.power_depth, cfg.grasp.pinch_point)
        motion_timed, lift_grip = False, None
        if cfg.gripper.timing == "auto":
            g = cfg.gripper
            # the finger pads' image row: the hand's up-down motion in the image (the pads are what touch the object;
            # a power grasp point, deeper in the palm, moves less in the image as the hand turns)
            uv = grasp_points(pts, "pinch", pinch_point=cfg.grasp.pinch_point) @ camera.K.T
            row = uv[:, 1] / uv[:, 2]
            pp = pick_place_from_motion(row, valid, g.motion_prominence * camera.height, fps=track.fps,
                                        entry_s=g.entry_s, rest_s=g.rest_s)
            if pp is not None:  # a clear pick and place: the hand's motion times the gripper, not its aperture (a
                # hand wrapping a can may not change its thumb-index distance at all)
                grip = np.zeros(T)
                grip[pp[0] : pp[1]] = 1.0
                motion_timed, has_grasp = True, True
                kind = self._grasp_kind(aperture, valid, grip)
                gp_cam = grasp_points(pts, kind, cfg.grasp.power_depth, cfg.grasp.pinch_point)
            # a single pick lifted and held to the end: the timing to fall back on when the first one is rejected
            a = pick_lift_from_motion(row, valid, track.fps, g.motion_prominence * camera.height,
                                      rise_s=g.lift_rise_s, hold=g.lift_hold * camera.height,
                                      max_bottom_s=g.lift_max_bottom_s) if has_grasp else None  # fmt: skip
            if a is not None:
                lift_grip = np.zeros(T)
                lift_grip[a:] = 1.0

        def checked(grip, kind, gp_cam, motion_timed):
            """The grasp after the contact snapping and the object-contact and lift checks:
            (grip, has_grasp, kind, gp_cam, z, source, why the grasp was dropped or None)."""
            why = None
            if cfg.gripper.snap_s > 0 and not motion_timed:
                uv = gp_cam @ camera.K.T
                grip = self._snap_to_contact(grip, uv[:, 1] / uv[:, 2], valid, t, cfg.gripper.snap_s)
            if mode == "depth" and depth.ndim == 2 and cfg.gripper.contact_height > 0:
                grip = self._keep_object_contacts(grip, gp_cam, valid, camera, depth)
                if grip.max() < 0.5:
                    why = NO_OBJECT_CONTACT
            if why is None:
                z, source = self._depth(mode, depth, camera, pts, gp_cam, valid, grip, True, t)
                if cfg.gripper.min_lift > 0:
                    # a closure is a grasp only if the hand then carries something up: drop closed runs without a lift
                    zb = to_base(camera, gp_cam * np.where(valid, z / np.where(valid, gp_cam[:, 2], 1.0), np.nan)[:, None])[:, 2]
                    grip = self._keep_lifted_runs(grip, zb, valid, cfg.gripper.min_lift)
                    if grip.max() < 0.5:
                        why = NO_LIFT
                    else:
                        z, source = self._depth(mode, depth, camera, pts, gp_cam, valid, grip, True, t)
            if why is not None:
                grip = np.full(T, float(cfg.gripper.no_grasp_command))
                kind = "push"
                gp_cam = grasp_points(pts, kind)
                z, source = self._depth(mode, depth, camera, pts, gp_cam, valid, grip, False, t)
            return grip, why is None, kind, gp_cam, z, source, why

        if has_grasp:
            res = checked(grip, kind, gp_cam, motion_timed)
            if res[6] is not None and lift_grip is not None:
                # the aperture's closures are rejected (too short to see the lift, started too early, merged with the
                # hand's entry) but the hand's motion is a clear lift: close at its bottom instead
                k2 = self._grasp_kind(aperture, valid, lift_grip)
                res2 = checked(lift_grip, k2, grasp_points(pts, k2, cfg.grasp.power_depth, cfg.grasp.pinch_point), True)
                if res2[6] is None:
                    self._warn(rep, f"{res[6]} with the aperture's timing: the gripper is timed by the hand's lift")
                    res, motion_timed = res2, True
            grip, has_grasp, kind, gp_cam, z, source, why = res
            if why is not None:
                self._warn(rep, f"{why}: treated as a push (no grasp)")
                rep.no_grasp = why
        else:
            rep.no_grasp = NO_CLOSURE
            z, source = self._depth(mode, depth, camera, pts, gp_cam, valid, grip, has_grasp, t)
        rep.motion_timed = motion_timed
        rep.has_grasp, rep.gripper_frames, rep.grasp_type = has_grasp, grip, kind
        rep.scale_source = source
        scale = np.where(valid, z / np.where(valid, gp_cam[:, 2], 1.0), np.nan)
        rep.scale = np.where(np.isfinite(scale), scale, np.nanmedian(scale))
        kp_base = to_base(camera, pts * rep.scale[:, None, None])
        rep.keypoints_base = kp_base

        # grasp point track: outliers, gaps, smoothing
        gp = grasp_points(kp_base, kind, cfg.grasp.power_depth, cfg.grasp.pinch_point)
        valid = reject_outliers(gp, valid, cfg.filter.outlier_m, cfg.filter.outlier_window)
        n_out = int((detected & ~valid).sum())
        if n_out:
            self._warn(rep, f"{n_out} frame(s) rejected as outliers (PnP reprojection or grasp-point jump)")
        for start, length in gap_lengths(valid):
            if length / track.fps > cfg.filter.max_gap_s:
                self._warn(rep, f"gap of {length} frames ({length / track.fps:.2f} s) from frame {start} filled "
                                f"by interpolation; longer than filter.max_gap_s={cfg.filter.max_gap_s}")  # fmt: skip
        rep.valid = valid
        gp = smooth(fill_gaps(gp, valid), cfg.filter.smoother, cfg.filter.window, cfg.filter.order)
        rep.lifted_point = gp
        if has_grasp and mode == "depth" and depth.ndim == 2 and cfg.approach.carry_clearance > 0:
            gp = self._clear_carries(gp, grip, camera, depth, rep)
        if has_grasp:
            gp = self._vertical_approaches(gp, grip, t)
        rep.grasp_point = gp

        # orientation
        if cfg.orientation.mode == "palm6d":
            kp_f = fill_gaps(kp_base.reshape(T, -1), valid).reshape(T, 21, 3)
            quat = palm_quats(kp_f)
            rep.yaw = float("nan")
        else:
            yaw = cfg.orientation.fixed_yaw
            if has_grasp:
                closed = np.flatnonzero(grip > 0.5)
                at = [i for i in closed[: max(3, len(closed) // 3)] if valid[i]] or list(np.flatnonzero(valid))
                # the closing axis from the pixels (thumb pad → index pad), both lifted to the grasp point's depth:
                # the PnP depth of single fingertips is much less certain than their image positions
                axes = []
                for i in at:
                    th, ix = kp2h[i, [3, 4]].mean(axis=0), kp2h[i, [7, 8]].mean(axis=0)
                    zz = np.full(2, z[i])
                    a3 = camera.unproject(np.array([ix, th]), zz)
                    axes.append(a3[0] - a3[1])
                axis = np.median(np.array(axes), axis=0)
                if np.linalg.norm(axis[:2]) > 1e-6:
                    yaw = closing_yaw(axis[:2])
            rep.yaw = float(yaw)
            quat = np.repeat(topdown_quat(yaw)[None], T, axis=0)

        # TCP offset and workspace
        offset = np.array(cfg.grasp.tcp_offset if has_grasp else cfg.grasp.push_tcp_offset)
        pos = gp + offset
        lo, hi = np.array(cfg.workspace.low), np.array(cfg.workspace.high)
        clipped = np.clip(pos, lo, hi)
        r = np.linalg.norm(clipped[:, :2], axis=1)
        far = r > cfg.workspace.max_reach
        clipped[far, :2] *= (cfg.workspace.max_reach / r[far])[:, None]
        worst = float(np.max(np.linalg.norm(clipped - pos, axis=1)))
        if worst > cfg.workspace.warn_m:
            n = int((np.linalg.norm(clipped - pos, axis=1) > cfg.workspace.warn_m).sum())
            self._warn(rep, f"{n} frame(s) clipped into the workspace box (up to {worst * 100:.1f} cm)")  # fmt: skip
        pos = clipped

        # trim: keep from approach.lead_s before the first grasp to approach.tail_s after the last release (the
        # hand's entry and exit are far from anything and their depth is the least certain)
        keep = np.ones(T, bool)
        if has_grasp:
            closed = grip > 0.5
            first = int(np.argmax(closed))
            keep &= t >= t[first] - cfg.approach.lead_s
            releases = [i for i in range(T - 1) if closed[i] and not closed[i + 1]]
            if releases:
                keep &= t <= t[releases[-1]] + cfg.approach.tail_s
        t_k, pos, quat, grip = t[keep], pos[keep], quat[keep], grip[keep]

        # timing
        tm = cfg.timing
        tr, pr, qr, gr = resample(t_k - t_k[0], pos, quat, grip, tm.dt)
        tr, pr, qr, gr = insert_dwells(tr, pr, qr, gr, tm.close_dwell_s, tm.open_dwell_s)
        tr = time_scale(tr, pr, qr, gr, tm.max_speed, tm.max_angular_speed, tm.max_accel, tm.speed_scale)
        tr = tr - tr[0]
        return EETrajectory(t=tr, position=pr, quat_wxyz=qr, gripper=np.clip(gr, 0, 1), frame_id=cfg.frame_id,
                            source=f"retarget:{track.source}")  # fmt: skip

    # ------------------------------------------------------------------------------------------------ stages
    @staticmethod
    def _warn(rep: RetargetReport, msg: str) -> None:
        rep.warnings.append(msg)
        log.warning(msg)

    @staticmethod
    def _check_depth(depth: np.ndarray | None, T: int, camera: CameraModel) -> np.ndarray | None:
        if depth is None:
            return None
        d = np.asarray(depth, np.float64)
        if d.ndim >= 3 and d.shape[-1] == 1:
            d = d[..., 0]
        hw = (camera.height, camera.width)
        if d.shape == hw or (d.ndim == 3 and d.shape[1:] == hw and d.shape[0] == T):
            return d
        raise RetargetError(f"depth must be H×W or T×H×W metres matching the camera ({hw[0]}×{hw[1]}, T={T}), "
                            f"got shape {np.shape(depth)}")  # fmt: skip

    def _choose_hand(self, track: HandTrack, kp2: np.ndarray) -> int:
        """Forced slot, or: the slot seen in more frames; when both are seen in similar numbers of frames (within
        20%), the one whose wrist moves most in the image (the acting hand; the other one rests)."""
        choice = self.cfg.grasp.hand
        if choice != "auto":
            return 0 if choice == "left" else 1
        n = track.valid.sum(axis=0)
        if min(n) < 0.8 * max(n) or min(n) < 2:
            return int(np.argmax(n))
        path = []
        for s in (0, 1):
            w = kp2[track.valid[:, s], s, WRIST]
            path.append(float(np.linalg.norm(np.diff(w, axis=0), axis=1).sum()))
        return int(np.argmax(path))

    @staticmethod
    def _snap_to_contact(grip: np.ndarray, v: np.ndarray, valid: np.ndarray, t: np.ndarray, window: float) -> np.ndarray:
        """Move every close and open switch back to the moment of contact. A hand's aperture lags its contact (the
        fingers close on the object after the hand arrived; they open wide only once it moves away); its arrival at
        the bottom does not. From the switch, walk back in time (at most ``window`` seconds) while the grasp point's
        image row stays within 3 px of the lowest seen so far or gets lower (the bottom plateau), and stop where
        it was clearly higher (still descending): the switch moves to the start of that plateau."""
        T = len(grip)
        runs = closed_runs(grip)

        def plateau_start(k: int, floor: int) -> int:
            """Earliest frame >= floor of the bottom plateau that contains (or precedes) frame k."""
            idx = [m for m in range(floor, k + 1) if valid[m] and np.isfinite(v[m])]
            if not idx:
                return k
            best, start = -np.inf, idx[-1]
            for m in reversed(idx):
                if t[k] - t[m] > window:
                    break
                if v[m] >= best - 3.0:
                    best, start = max(best, v[m]), m
                else:
                    break
            return start

        out = np.zeros(T)
        prev_end = 0
        for a, b in runs:
            a2 = plateau_start(a, prev_end)
            b2 = b
            if b < T:  # a release: back to the bottom where the hand let go
                b2 = max(plateau_start(b - 1, a2 + 1), a2 + 1) + 1
                b2 = min(b2, b)
            out[a2:b2] = 1.0
            prev_end = b2
        return out

    def _keep_object_contacts(self, grip, gp_cam, valid, camera: CameraModel, depth: np.ndarray) -> np.ndarray:
        """Re-open closed runs whose grasp point's pixel ray, in the run's first valid frame (the contact, after
        snapping), passes farther than ``gripper.contact_radius`` from every surface point of the context frame that
        is ``gripper.contact_height`` above the table plane (an object; see :class:`GripperConfig`)."""
        g = self.cfg.gripper
        _, tree = self._standing_points(camera, depth)
        out = grip.copy()
        for i, j in closed_runs(grip):
            first = np.flatnonzero(valid[i:j])
            found = False
            if len(first) and tree is not None:
                uv = gp_cam[i + first[0]] @ camera.K.T
                _, ray = self._pixel_ray(camera, uv[:2] / uv[2], 0.005)
                found = float(tree.query(ray)[0].min()) <= g.contact_radius
            if not found:
                out[i:j] = 0.0
        return out

    def _context_cloud(self, camera: CameraModel, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Base-frame points (N×3) of the context depth's valid pixels, their (row, col) (N×2) and whether their
        surface faces up (N bool: normal within 45 degrees of vertical, from the depth's neighbouring pixels),
        computed once per :meth:`retarget` call (the object-contact check and every release's support search share
        it)."""
        if self._cloud is None:
            lc = self.cfg.lift
            d = np.asarray(depth, np.float64)
            d = d[..., 0] if d.ndim == 3 else d
            rr, cc = np.mgrid[0 : d.shape[0], 0 : d.shape[1]]
            xyz = camera.unproject(np.column_stack([cc.ravel(), rr.ravel()]).astype(np.float64), d.ravel())
            xyz = xyz.reshape(d.shape[0], d.shape[1], 3)
            nrm = np.cross(np.gradient(xyz, axis=1), np.gradient(xyz, axis=0))
            with np.errstate(invalid="ignore", divide="ignore"):
                up = np.abs(nrm[..., 2]) > np.cos(np.pi / 4) * np.linalg.norm(nrm, axis=-1)
            ok = (d >= lc.min_depth) & (d <= lc.max_depth)
            self._cloud = (xyz[ok], np.argwhere(ok), up[ok])
            self._standing = {}  # derived from the cloud: rebuilt with it (_standing_points)
        return self._cloud

    def _standing_points(self, camera: CameraModel, depth: np.ndarray, tops: bool = False) -> tuple[np.ndarray, Any]:
        """The context cloud's points standing on the table (``gripper.contact_height`` above ``lift.table_z``) and a
        KD-tree of them (None when there are none), once per :meth:`retarget` call: every other pixel's (dense
        enough for the object-contact check and the carries), or with ``tops`` every up-facing one (object axes)."""
        key = "tops" if tops else "sub"
        pts, pix, up = self._context_cloud(camera, depth)  # a new context frame clears self._standing
        if key not in self._standing:
            from scipy.spatial import cKDTree

            keep = up if tops else (pix[:, 0] % 2 == 0) & (pix[:, 1] % 2 == 0)
            pts = pts[keep & (pts[:, 2] >= self.cfg.lift.table_z + self.cfg.gripper.contact_height)]
            self._standing[key] = (pts, cKDTree(pts) if len(pts) else None)
        return self._standing[key]

    def _pixel_ray(self, camera: CameraModel, uv: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
        """(camera z-depths from ``lift.min_depth`` to ``lift.max_depth`` (at most 3 m) every ``step`` metres,
        base-frame points of pixel ``uv``'s ray at those depths)."""
        lc = self.cfg.lift
        s = np.arange(lc.min_depth, min(lc.max_depth, 3.0), step)
        return s, camera.unproject(np.repeat(np.asarray(uv, np.float64)[None], len(s), axis=0), s)

    @staticmethod
    def _keep_lifted_runs(grip: np.ndarray, z: np.ndarray, valid: np.ndarray, min_lift: float) -> np.ndarray:
        """Re-open closed runs during which the grasp point never rises ``min_lift`` above where it closed."""
        out = grip.copy()
        for i, j in closed_runs(grip):
            zs = z[i:j][valid[i:j] & np.isfinite(z[i:j])]
            if len(zs) < 2 or zs.max() - zs[: max(1, min(2, len(zs)))].mean() < min_lift:
                out[i:j] = 0.0
        return out

    def _clear_carries(self, gp: np.ndarray, grip: np.ndarray, camera: CameraModel, depth: np.ndarray,
                       rep: RetargetReport) -> np.ndarray:
        """Raise each carry (closed run) where the held object would not clear what stands on the table in the context
        frame (surfaces ``gripper.contact_height`` above ``lift.table_z``) by ``approach.carry_clearance`` (see
        :class:`ApproachConfig`); the raise is spread over the neighbouring frames so the path climbs before the
        obstacle rather than at it."""
        from scipy.ndimage import maximum_filter1d
        from scipy.spatial import cKDTree

        a, lc = self.cfg.approach, self.cfg.lift
        pts, _ = self._standing_points(camera, depth)
        gp = gp.copy()
        for i, j in closed_runs(grip):
            pick = gp[i]
            hang = max(float(pick[2]) - lc.table_z, 0.0)  # the object's bottom this far below the grasp point
            own = np.linalg.norm(pts[:, :2] - pick[:2], axis=1) < 2 * a.carry_radius  # the picked object itself
            obst = pts[~own]
            if not len(obst) or j - i < 3:
                continue
            tree = cKDTree(obst[:, :2])
            need = np.zeros(j - i)
            for k in range(i + 1, j - 1):  # the grasp and release points themselves stay
                near = tree.query_ball_point(gp[k, :2], a.carry_radius)
                if near:
                    top = float(obst[near, 2].max())
                    need[k - i] = max(top + a.carry_clearance + hang - gp[k, 2], 0.0)
            need[1:-1] = maximum_filter1d(need, size=3, mode="nearest")[1:-1]
            if need.max() <= 0:
                continue
            gp[i:j, 2] += need
            self._warn(rep, f"carry from frame {i} raised by up to {need.max() * 100:.1f} cm to clear the scene")
        return gp

    def _vertical_approaches(self, gp: np.ndarray, grip: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Straight vertical moves around contacts: for ``approach.time`` seconds before every grasp and release the
        grasp point descends from ``approach.height`` above the contact point, and after every release it rises
        straight up (the gripper meets the object from above, not from the side)."""
        a = self.cfg.approach
        if a.height <= 0 or a.time <= 0:
            return gp
        gp = gp.copy()
        T = len(gp)
        closed = grip > 0.5
        starts = [i for i in range(T) if closed[i] and (i == 0 or not closed[i - 1])]
        ends = [i for i in range(T - 1) if closed[i] and not closed[i + 1]]
        for c in starts + ends:
            target = gp[c].copy()
            pre = [k for k in range(c) if t[c] - t[k] <= a.time]
            for k in pre:
                f = (t[c] - t[k]) / a.time
                gp[k] = target + (0.0, 0.0, a.height * f)
        for b in ends:
            target = gp[b].copy()
            for k in range(b + 1, T):
                if t[k] - t[b] > a.time:
                    break
                gp[k] = target + (0.0, 0.0, a.height * (t[k] - t[b]) / a.time)
        return gp

    @staticmethod
    def _associate(track: HandTrack, kp2: np.ndarray, primary: int) -> np.ndarray:
        """Per frame, the slot holding the acting hand (-1: not seen). MediaPipe's handedness can flip between
        frames and a second, spurious hand can appear: a detection continues the track when it is the primary slot
        and the nearest to the last accepted position, or, in the other slot, when it is within a quarter image
        width of it (a handedness flip)."""
        T = track.num_frames
        out = np.full(T, -1)
        last = None
        reach = 0.25 * track.image_size[0]
        for i in range(T):
            cands = [s for s in (0, 1) if track.valid[i, s]]
            if not cands:
                continue
            c = {s: kp2[i, s].mean(axis=0) for s in cands}
            if last is None:
                if primary in cands:
                    out[i], last = primary, c[primary]
                continue
            best = min(cands, key=lambda s: np.linalg.norm(c[s] - last))
            if best == primary or np.linalg.norm(c[best] - last) < reach:
                out[i], last = best, c[best]
        return out

    def _grasp_kind(self, aperture: np.ndarray, valid: np.ndarray, grip: np.ndarray | None = None) -> str:
        """``grasp.type``, or for ``auto``: ``power`` when the thumb–index aperture opens wide before closing (its
        range exceeds ``power_aperture_range``: the hand opens around a large object) *and* stays open while holding
        (its median over the closed frames exceeds ``power_hold_aperture``: thumb and index lie apart around an
        object held in the palm; a pinch brings their pads onto the object), else ``pinch``."""
        kind = self.cfg.grasp.type
        if kind != "auto":
            return kind
        ap = aperture[valid]
        lo, hi = np.percentile(ap, [self.cfg.gripper.low_percentile, self.cfg.gripper.high_percentile])
        if hi - lo <= self.cfg.grasp.power_aperture_range:
            return "pinch"
        if grip is not None:
            held = valid & (np.asarray(grip) > 0.5) & np.isfinite(aperture)
            if held.any() and float(np.median(aperture[held])) <= self.cfg.grasp.power_hold_aperture:
                return "pinch"
        return "power"

    def _depth(self, mode, depth, camera, pts, gp_cam, valid, grip, has_grasp, t) -> tuple[np.ndarray, str]:
        """T camera z-depths of the grasp point (NaN where not valid) and where they came from.

        ``metric``: the PnP depth. Per-frame depth images: the median scale of the depth under the keypoints.
        Otherwise the PnP depth (noisy: a hand's apparent size in pixels) is median-filtered and smoothed over time,
        and corrected by the ratio at *anchor* frames — the first frames of every grasp and, with a depth image, the
        last frame before every release (the grasp point is on the object / the place) — interpolated between
        anchors; without a grasp, the lowest fifth of the frames anchor to the push plane."""
        cfg = self.cfg.lift
        T = len(pts)
        z_pnp = np.where(valid, gp_cam[:, 2], np.nan)
        if mode == "metric":
            return z_pnp, "metric"
        if mode == "depth" and depth.ndim == 3:
            s = np.full(T, np.nan)
            for i in np.flatnonzero(valid):
                uv = camera.project(to_base(camera, pts[i]))[0]
                zz = sample_depth(depth[i], uv, cfg.depth_window, cfg.min_depth, cfg.max_depth) + HAND_SURFACE
                ratio = zz / pts[i, :, 2]
                if np.isfinite(ratio).sum() >= 3:
                    s[i] = float(np.nanmedian(ratio))
            if not np.isfinite(s).any():
                raise RetargetError("the per-frame depth has no valid values under the hand keypoints")
            s = np.where(np.isfinite(s), s, np.nanmedian(s))
            return z_pnp * s, "depth:per-frame"
        # smoothed PnP depth
        from scipy.ndimage import median_filter

        zf = fill_gaps(np.nan_to_num(z_pnp), valid)
        zs = smooth(median_filter(zf, size=5, mode="nearest"), "savgol", 7, 2)
        # anchors
        anchors: list[tuple[int, float]] = []
        closed = grip > 0.5
        events = []
        releases = self._release_frames(grip, valid, t) if has_grasp else []
        if has_grasp:
            starts = np.flatnonzero(closed & ~np.concatenate([[False], closed[:-1]]))
            for a in starts:
                events += [("grasp", i) for i in range(a, min(a + 3, T)) if closed[i] and valid[i]][:2]
            if mode == "depth":
                events += [("release", i) for i in releases]
        else:
            zb = to_base(camera, gp_cam)[:, 2]
            order = [i for i in np.argsort(np.where(valid, zb, np.inf)) if valid[i]]
            events = [("push", i) for i in order[: max(1, len(order) // 5)]]
        picks: list[tuple[int, np.ndarray]] = []  # (frame, base-frame point) of each grasp anchor, in time order
        for what, i in events:
            uv = camera.project(to_base(camera, gp_cam[i][None]))[0][0]
            za = float("nan")
            if mode == "depth" and what == "release" and cfg.release_support and picks:
                # the grasp point at a release sits as high above the support under it as it sat above the table
                # at the pick (the held object is put down on it): walk the pixel's ray out from the camera until
                # the object's bottom meets the context frame's surface there
                _, pick_p = max((pk for pk in picks if pk[0] < i), key=lambda pk: pk[0], default=picks[0])
                za = self._support_depth(camera, depth, uv, pick_p)
            if mode == "depth" and what == "grasp" and cfg.grasp_anchor == "axis":
                za = self._object_axis_depth(camera, depth, uv)
            if mode == "depth" and not np.isfinite(za):
                # the nearest surface around the grasp point's pixel: the object, not the table behind it
                za = sample_depth(depth, uv[None], cfg.anchor_window, cfg.min_depth, cfg.max_depth, 10.0)[0]
                za = za + cfg.object_depth_offset
            elif mode != "depth":
                za = plane_depth(camera, uv, cfg.table_z + (cfg.push_plane_height if what == "push" else cfg.plane_height))
            if np.isfinite(za) and zs[i] > 0:
                anchors.append((i, za / zs[i]))
                if what == "grasp":
                    picks.append((i, camera.unproject(uv[None], np.array([za]))[0]))
        if not anchors:
            self._warn(self.last_report, f"no {mode} anchor for the depth: using MediaPipe's metric hand size")
            return np.where(valid, zs, np.nan), "metric (fallback)"
        anchors.sort()
        ti = np.array([a for a, _ in anchors], float)
        ri = np.array([r for _, r in anchors])
        ratio = np.interp(np.arange(T), ti, ri)
        z_anch = zs * ratio
        src = "depth:context" if mode == "depth" else "plane"
        if not self.cfg.lift.geometric_prior:
            return np.where(valid, z_anch, np.nan), src
        # geometric prior: between contacts the grasp point moves in the vertical plane through them (a carry),
        # around a single contact along the vertical line through it (approach, lift, retreat); only the pixel
        # position of each frame is used, not its (noisy) apparent hand size
        uvh = gp_cam @ camera.K.T
        uv = uvh[:, :2] / uvh[:, 2:3]
        R, o = camera.base_T_cam[:3, :3], camera.base_T_cam[:3, 3]
        rays = (np.linalg.solve(camera.K, np.column_stack([uv, np.ones(T)]).T).T) @ R.T  # base frame, camera z = 1
        pts_b = o + z_anch[:, None] * rays
        if has_grasp:
            key = []  # (frame, 3D point) of each contact, in time order
            for a in np.flatnonzero(closed & ~np.concatenate([[False], closed[:-1]])):
                key.append((int(a), pts_b[a]))
            for b in releases:
                if mode == "depth":
                    key.append((int(b), pts_b[b]))
                else:  # no depth: the place is assumed at the pick's height
                    last = [p for f, p in key if f <= b]
                    h = last[-1][2] if last else cfg.table_z + cfg.plane_height
                    zz = plane_depth(camera, uv[b], h)
                    key.append((int(b), o + (zz if np.isfinite(zz) else z_anch[b]) * rays[b]))
            key.sort(key=lambda x: x[0])
        else:  # push: the low frames are on the push plane; the others above the nearest of them
            zb = pts_b[:, 2]
            h = cfg.table_z + cfg.push_plane_height
            if cfg.push_contact == "interval":
                low = self._push_contact(camera, uv, rays, zs, valid, h)
            else:
                low = valid & (zb < np.nanmin(np.where(valid, zb, np.inf)) + 0.04)
            key = []
            for i in np.flatnonzero(low):
                zz = plane_depth(camera, uv[i], h)
                if np.isfinite(zz):
                    key.append((int(i), o + zz * rays[i]))
        if not key:
            return np.where(valid, z_anch, np.nan), src
        frames = np.array([f for f, _ in key])
        out = np.empty(T)
        for i in range(T):
            k = int(np.searchsorted(frames, i, side="right")) - 1  # last contact at or before i
            if has_grasp and 0 <= k < len(key) - 1 and i > frames[k]:
                A, B = key[k][1], key[k + 1][1]
                out[i] = self._ray_plane(o, rays[i], A, B)
            else:
                P = key[min(max(k, 0), len(key) - 1)][1] if has_grasp else key[int(np.argmin(np.abs(frames - i)))][1]
                if not has_grasp and i in set(frames.tolist()):
                    out[i] = float((P - o) @ rays[i] / (rays[i] @ rays[i]))  # on the plane (exact: P is on the ray)
                else:
                    out[i] = self._ray_vertical_line(o, rays[i], P)
        bad = ~np.isfinite(out) | (out <= 0)
        out[bad] = z_anch[bad]
        return np.where(valid, out, np.nan), src + "+geometric"

    def _object_axis_depth(self, camera: CameraModel, depth: np.ndarray, uv: np.ndarray) -> float:
        """Camera z-depth along pixel ``uv``'s ray of a grasp on the object the ray passes (within
        ``gripper.contact_radius`` of its top): where the ray comes nearest to the vertical axis through the middle of
        that object's top face (the context frame's up-facing surface points at the height of the one nearest the
        ray, within ``lift.axis_radius`` of it). A hand closing on an object brings its pads to opposite sides of it:
        their midpoint lies on the object's axis, wherever the visible surface is. NaN when no object is near."""
        lc, g = self.cfg.lift, self.cfg.gripper
        top, tree = self._standing_points(camera, depth, tops=True)
        if tree is None:
            return float("nan")
        s, ray = self._pixel_ray(camera, uv, 0.005)
        dist, idx = tree.query(ray)
        k = int(np.argmin(dist))
        if dist[k] > g.contact_radius:
            return float("nan")
        p = top[idx[k]]
        face = top[(np.abs(top[:, 2] - p[2]) < 0.01) & (np.linalg.norm(top[:, :2] - p[:2], axis=1) < lc.axis_radius)]
        d = (ray[1] - ray[0]) / (s[1] - s[0])  # base-frame ray direction per metre of camera depth
        z = self._ray_vertical_line(camera.base_T_cam[:3, 3], d, face.mean(axis=0))
        return float(z) if np.isfinite(z) and z > 0 else float("nan")

    def _push_contact(self, camera: CameraModel, uv: np.ndarray, rays: np.ndarray, zs: np.ndarray,
                      valid: np.ndarray, h: float) -> np.ndarray:
        """The frames of a push's contact: the interval of seen frames on the push plane z = ``h`` (before it the hand
        descends along the vertical line to its first point, after it rises along the vertical line from its last)
        whose camera depths best match the hand's apparent size ``zs`` (its PnP depth, up to one scale): least mean
        absolute deviation of log(zs / depth) from its median; a frame whose ray cannot meet its vertical line
        above the plane costs 0.5. A fingertip sliding away from the camera and one rising above the table move alike
        in the image; only the hand's size tells them apart."""
        o = camera.base_T_cam[:3, 3]
        V = np.flatnonzero(valid & np.isfinite(zs) & (zs > 0))
        out = valid.copy()
        if len(V) < 3:
            return out
        dp = np.array([plane_depth(camera, uv[i], h) for i in V])
        P = o + dp[:, None] * rays[V]  # each frame's point on the plane
        # vl[n, m]: depth of frame V[n] on the vertical line through frame V[m]'s plane point (NaN: below the plane)
        dxy = rays[V, :2]
        vl = ((P[None, :, :2] - o[:2]) * dxy[:, None, :]).sum(-1) / np.maximum((dxy**2).sum(-1), 1e-12)[:, None]
        height = o[2] + vl * rays[V, 2][:, None]
        vl = np.where((vl > 0) & (height >= h - 0.01), vl, np.nan)
        logz = np.log(zs[V])
        n = np.arange(len(V))
        best = np.inf
        for a in range(len(V)):
            if not np.isfinite(dp[a]):
                continue
            for b in range(a + 2, len(V)):
                if not np.isfinite(dp[b]):
                    continue
                d = np.where(n < a, vl[:, a], np.where(n > b, vl[:, b], dp))
                ok = np.isfinite(d) & (d > 0)
                e = logz[ok] - np.log(d[ok])
                score = (np.abs(e - np.median(e)).sum() + 0.5 * (~ok).sum()) / len(V)
                if score < best:
                    best, out = score, np.zeros(len(valid), bool)
                    out[V[a : b + 1]] = True
        return out

    def _release_frames(self, grip: np.ndarray, valid: np.ndarray, t: np.ndarray) -> list[int]:
        """Per release (a closed run that ends before the clip does), the last frame of the run in which the hand was
        seen, at most ``filter.max_gap_s`` before the gripper opens (the hand is often lost while it lets go inside a
        container: the last sight of it near the place is the best estimate of the place); none when it was not seen
        in that time."""
        out = []
        for i, j in closed_runs(grip):
            if j >= len(grip):
                continue  # closed to the end of the clip: no release
            seen = [k for k in range(j - 1, i - 1, -1) if valid[k] and t[j - 1] - t[k] <= self.cfg.filter.max_gap_s]
            if seen:
                out.append(seen[0])
        return out

    def _support_depth(self, camera: CameraModel, depth: np.ndarray, uv: np.ndarray, pick: np.ndarray) -> float:
        """Camera z-depth along pixel ``uv``'s ray of a release point: the first point out from the camera whose
        height above the support under it is at most the pick point's height above the table plane (``pick``: base
        frame; the held object is put down on the support as it was picked up from the table) plus
        ``lift.release_clearance``. NaN when the ray meets no support.

        The support is the context frame's up-facing surface (normal within 45 degrees of vertical), seen as a height
        map near the ray (5 mm cells, the highest point of each; one-cell holes between the depth pixels filled from
        their neighbours): only surfaces at least ``lift.support_min_width`` wide hold an object — a grey opening
        (erosion, then dilation) with a disc of that diameter lowers narrower ones (a container's thin rim or
        divider) to what lies around them and keeps wider ones (a box top, a container's floor). Cells the camera does
        not see (the shadow behind a wall) are no support: a thin wall with a wide shadow behind it is still thin.
        Under the release point, the highest such surface within ``lift.support_radius`` (horizontally) counts: a
        release near a box's edge is on the box. Surfaces within ``support_radius`` + 1 cm of the pick point (the
        picked object itself, still there in the context frame) count as the table and take no part in the erosion
        (a box top next to the picked object stays as wide as it is). Where two thin walls cross, a disc up to about
        1.4 times their width fits on the crossing: ``support_min_width`` must be larger than that."""
        from scipy.ndimage import maximum_filter, minimum_filter

        lc = self.cfg.lift
        cell = 0.005
        pts, _, up = self._context_cloud(camera, depth)
        # only surfaces facing up can hold something: the sides of walls and boxes, seen from an angle, would widen
        # them in the height map
        pts = pts[up]
        if not len(pts):
            return float("nan")
        h = max(float(pick[2]) - lc.table_z, 0.0)
        s, ray = self._pixel_ray(camera, uv, 0.002)
        # only the surface near the ray matters: crop the cloud to its horizontal corridor where the lowered ray
        # is within the cloud's height range
        zlo, zhi = float(pts[:, 2].min()), max(float(pts[:, 2].max()), lc.table_z)
        on = np.flatnonzero((ray[:, 2] - h >= zlo - 0.01) & (ray[:, 2] - h <= zhi + 0.01))
        if not len(on):
            return float("nan")
        a, b = ray[on[0], :2], ray[on[-1], :2]
        ab = b - a
        f = np.clip((pts[:, :2] - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
        reach = lc.support_radius + lc.support_min_width + 0.03
        pts = pts[np.linalg.norm(pts[:, :2] - (a + f[:, None] * ab), axis=1) <= reach].copy()
        if not len(pts):
            pts = np.array([[a[0], a[1], lc.table_z]])
        lo = pts[:, :2].min(axis=0) - 2 * cell
        ij = np.floor((pts[:, :2] - lo) / cell).astype(int)
        hmap = np.full(ij.max(axis=0) + 3, -np.inf)
        np.maximum.at(hmap, (ij[:, 0], ij[:, 1]), pts[:, 2])
        hole = ~np.isfinite(hmap)
        hmap[hole] = maximum_filter(hmap, size=3, mode="constant", cval=-np.inf)[hole]
        seen = np.isfinite(hmap)
        # the picked object's cells: gone at the release (the table), neither holding nor eroding a support next to it
        centres = lo + (np.indices(hmap.shape).reshape(2, -1).T + 0.5) * cell
        gone = (np.linalg.norm(centres - pick[:2], axis=1) < lc.support_radius + 0.01).reshape(hmap.shape)

        def disc(radius: float) -> np.ndarray:
            n = int(round(radius / cell))
            return np.hypot(*np.mgrid[-n : n + 1, -n : n + 1]) <= n + 1e-9

        if lc.support_min_width > 0:  # grey opening; unseen cells (-inf) are no support
            # the disc's cells: every cell it overlaps (not only those whose centre it covers: that one fits on
            # the crossing of two walls as wide as its radius)
            n = int(np.ceil(lc.support_min_width / 2 / cell))
            i, j = np.abs(np.mgrid[-n : n + 1, -n : n + 1]) - 0.5
            foot = np.hypot(np.maximum(i, 0), np.maximum(j, 0)) * cell < lc.support_min_width / 2 - 1e-9
            eroded = minimum_filter(np.where(gone, np.inf, hmap), footprint=foot, mode="constant", cval=-np.inf)
            eroded[np.isposinf(eroded)] = -np.inf
            hmap = np.where(seen, maximum_filter(eroded, footprint=foot, mode="constant", cval=-np.inf), -np.inf)
        hmap[gone & seen] = lc.table_z
        hmap = maximum_filter(hmap, footprint=disc(lc.support_radius), mode="constant", cval=-np.inf)
        k = np.floor((ray[:, :2] - lo) / cell).astype(int)
        inside = np.all((k >= 0) & (k < np.array(hmap.shape)), axis=1)
        support = np.full(len(s), lc.table_z)
        support[inside] = np.maximum(hmap[k[inside, 0], k[inside, 1]], lc.table_z)
        hit = np.flatnonzero(ray[:, 2] - h - lc.release_clearance <= support)
        if len(hit):
            return float(s[hit[0]])
        return float("nan")

    @staticmethod
    def _ray_vertical_line(o: np.ndarray, d: np.ndarray, P: np.ndarray) -> float:
        """Camera depth (ray parameter, camera z = 1 per unit) of the point of the ray o + s·d nearest (horizontally)
        to the vertical line through P."""
        dxy = d[:2]
        n = float(dxy @ dxy)
        if n < 1e-12:
            return float("nan")
        return float((P[:2] - o[:2]) @ dxy / n)

    @classmethod
    def _ray_plane(cls, o: np.ndarray, d: np.ndarray, A: np.ndarray, B: np.ndarray) -> float:
        """Ray parameter where o + s·d meets the vertical plane through A and B (the vertical line through A when
        they are closer than 2 cm horizontally or the ray runs nearly parallel to the plane). A carry seen nearly
        edge-on (the ray within 15 degrees of the plane: carried towards or away from the camera) or a meeting point
        far outside the segment (more than half its length beyond A or B horizontally) is ill-conditioned — a pixel
        of error moves it by decimetres — so the point of the ray nearest the segment AB is taken instead."""
        ab = (B - A)[:2]
        if np.linalg.norm(ab) < 0.02:
            return cls._ray_vertical_line(o, d, A)
        n = np.array([-ab[1], ab[0], 0.0]) / np.linalg.norm(ab)
        den = float(n @ d)
        if abs(den) < np.sin(np.radians(15.0)) * np.linalg.norm(d):
            return cls._ray_segment(o, d, A, B)
        s = float(n @ (A - o) / den)
        u = float(((o + s * d)[:2] - A[:2]) @ ab / (ab @ ab))
        if not -0.5 <= u <= 1.5:
            return cls._ray_segment(o, d, A, B)
        return s

    @staticmethod
    def _ray_segment(o: np.ndarray, d: np.ndarray, A: np.ndarray, B: np.ndarray) -> float:
        """Ray parameter of the point of o + s·d nearest the segment AB (3D)."""
        u = np.linspace(0.0, 1.0, 101)
        P = A + u[:, None] * (B - A)
        s = (P - o) @ d / float(d @ d)  # for each point of the segment, the nearest ray parameter
        dist = np.linalg.norm(o + s[:, None] * d - P, axis=1)
        return float(s[int(np.argmin(dist))])
