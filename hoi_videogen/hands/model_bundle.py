"""Build MediaPipe's ``hand_landmarker.task`` offline from the models inside the ``mediapipe==0.10.21`` wheel.

``mediapipe>=1.2`` has only the Tasks API and ships no model. A ``hand_landmarker.task`` is an uncompressed zip
holding ``hand_detector.tflite`` (palm detector) and ``hand_landmarks_detector.tflite`` (landmark model); the
``mediapipe==0.10.21`` wheel on PyPI carries both as ``palm_detection_full.tflite`` and ``hand_landmark_full.tflite``.

This is a set-up step (``hoi-build-hand-model``): it fetches the wheel once with ``pip download`` into a temporary
folder, writes ``<cache>/models/hand_landmarker.task`` (``<cache>`` = ``$HOI2ROBOT_CACHE`` or
``~/.cache/hoi2robot``) and discards the wheel. Nothing downloads at run time: the tracker only reads the bundle.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "BUNDLE_MEMBERS",
    "MEDIAPIPE_WHEEL",
    "BundleError",
    "build_hand_landmarker_bundle",
    "cache_dir",
    "default_model_path",
    "download_mediapipe_wheel",
    "main",
    "verify_bundle",
]

MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
# name inside hand_landmarker.task -> path inside the mediapipe 0.10.21 wheel
BUNDLE_MEMBERS: dict[str, str] = {
    "hand_detector.tflite": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
    "hand_landmarks_detector.tflite": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
}
# pip must fetch a binary wheel, never build: the models are platform-independent, any manylinux cp311 wheel has them.
_PIP_TARGET = [
    "--only-binary=:all:",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
    "--platform", "manylinux_2_28_x86_64",
]  # fmt: skip
_TFLITE_ID = b"TFL3"  # FlatBuffer file identifier of a TFLite model, bytes 4..8


class BundleError(ValueError):
    """A wheel or ``.task`` file does not hold what a hand landmarker bundle needs."""


def cache_dir() -> Path:
    """hoi2robot's cache folder: ``$HOI2ROBOT_CACHE`` or ``~/.cache/hoi2robot``."""
    return Path(os.environ.get("HOI2ROBOT_CACHE") or "~/.cache/hoi2robot").expanduser()


def default_model_path() -> Path:
    """Where ``hoi-build-hand-model`` writes the bundle and where the tracker looks by default."""
    return cache_dir() / "models" / "hand_landmarker.task"


def verify_bundle(path: str | Path) -> Path:
    """Check that ``path`` is a MediaPipe hand landmarker bundle; return it or raise :class:`BundleError`.

    Checks: a readable zip whose entries are exactly :data:`BUNDLE_MEMBERS`' keys, stored uncompressed, with intact
    CRCs, each a TFLite FlatBuffer.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted(zf.namelist())
            if names != sorted(BUNDLE_MEMBERS):
                raise BundleError(f"{path}: holds {names}, expected {sorted(BUNDLE_MEMBERS)}")
            packed = [i.filename for i in zf.infolist() if i.compress_type != zipfile.ZIP_STORED]
            if packed:
                raise BundleError(f"{path}: entries {packed} are compressed; MediaPipe needs them stored")
            bad = zf.testzip()
            if bad is not None:
                raise BundleError(f"{path}: entry {bad} is corrupt (CRC mismatch)")
            for name in names:
                with zf.open(name) as f:
                    if f.read(8)[4:] != _TFLITE_ID:
                        raise BundleError(f"{path}: entry {name} is not a TFLite model")
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: not a readable zip ({exc})") from exc
    return path


def download_mediapipe_wheel(dest: str | Path) -> Path:
    """``pip download`` the ``mediapipe==0.10.21`` wheel (no dependencies, binary only) into ``dest``; return it."""
    dest = Path(dest)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
           *_PIP_TARGET, "-d", str(dest), MEDIAPIPE_WHEEL]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("mediapipe-0.10.21-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(
            f"could not download {MEDIAPIPE_WHEEL} from PyPI (needs network once, at set-up).\n"
            f"command: {' '.join(cmd)}\n{proc.stderr.strip()}\n"
            "Download the wheel elsewhere and pass it: hoi-build-hand-model --wheel PATH/TO/mediapipe-0.10.21-*.whl"
        )
    return wheels[0]


def _write_bundle(wheel: Path, out: Path) -> Path:
    """Copy the two models out of ``wheel`` into a stored (uncompressed) zip at ``out``, atomically."""
    try:
        with zipfile.ZipFile(wheel) as whl:
            missing = sorted(set(BUNDLE_MEMBERS.values()) - set(whl.namelist()))
            if missing:
                raise BundleError(f"{wheel} lacks {missing}; pass the {MEDIAPIPE_WHEEL} wheel")
            models = {name: whl.read(src) for name, src in BUNDLE_MEMBERS.items()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{wheel}: not a readable wheel ({exc})") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in models.items():
                zf.writestr(name, data)
        verify_bundle(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the bundle is an ordinary readable cache file
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def build_hand_landmarker_bundle(wheel: Path | None = None, out: Path | None = None, force: bool = False) -> Path:
    """Make sure a valid ``hand_landmarker.task`` exists at ``out`` (default :func:`default_model_path`); return it.

    Idempotent: a valid bundle already at ``out`` is left untouched (unless ``force``), and neither ``wheel`` nor
    the network is used. Otherwise the models are taken from ``wheel`` (a ``mediapipe-0.10.21-*.whl``) or, when it
    is ``None``, from a wheel downloaded into a temporary folder and then discarded. Written atomically.
    """
    out = Path(out) if out is not None else default_model_path()
    if out.is_file() and not force:
        try:
            return verify_bundle(out)
        except BundleError:
            pass  # corrupt or foreign: rebuild below
    if wheel is not None:
        return _write_bundle(Path(wheel), out)
    with tempfile.TemporaryDirectory(prefix="hoi2robot-mediapipe-") as tmp:
        return _write_bundle(download_mediapipe_wheel(tmp), out)


def main(argv: list[str] | None = None) -> int:
    """Console script ``hoi-build-hand-model``: build the offline hand landmarker bundle and print its path."""
    parser = argparse.ArgumentParser(prog="hoi-build-hand-model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {MEDIAPIPE_WHEEL} wheel (default: pip download it)")
    parser.add_argument("--out", type=Path, help=f"output .task file (default: {default_model_path()})")
    parser.add_argument("--force", action="store_true", help="rebuild even if a valid bundle exists")
    args = parser.parse_args(argv)
    try:
        path = build_hand_landmarker_bundle(args.wheel, args.out, force=args.force)
    except (BundleError, RuntimeError) as exc:
        print(f"hoi-build-hand-model: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
