"""Shared pytest fixtures.

Fixtures that need data from outside the repo fetch it once into hoi2robot's cache (``$HOI2ROBOT_CACHE`` or
``~/.cache/hoi2robot``) and reuse it on later runs. Without network they fail with a clear message; set
``HOI2ROBOT_OFFLINE=1`` to skip the tests that need them instead.
"""
from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

import sim  # noqa: F401  (headless GL defaults, set before any test module imports mujoco)
from hoi_videogen.hands.model_bundle import build_hand_landmarker_bundle, cache_dir, default_model_path, verify_bundle

# Real hand photos (all detected by MediaPipe; all four show a left hand) in Debian's opencv-doc package.
OPENCV_DOC_HAND_PHOTOS = (
    "handSrc.jpg",
    "handDst.jpg",
    "Back_Projection_Theory0.jpg",
    "Back_Projection1_Source_Image.jpg",
)


@pytest.fixture
def bench_script():
    """``bench_script(name)`` -> the module of ``bench/<name>.py`` (bench scripts are files, not a package)."""
    import importlib.util

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load


def _offline() -> bool:
    return os.environ.get("HOI2ROBOT_OFFLINE") == "1"


def _fetch_or_fail(what: str, fetch):
    """Run ``fetch()``; on failure fail the test (or skip it when ``HOI2ROBOT_OFFLINE=1``) saying what is missing."""
    if _offline():
        pytest.skip(f"HOI2ROBOT_OFFLINE=1 and {what} is not cached yet")
    try:
        return fetch()
    except Exception as exc:
        pytest.fail(
            f"could not fetch {what} ({type(exc).__name__}: {exc}). This needs network once (PyPI / Debian apt); "
            "set HOI2ROBOT_OFFLINE=1 to skip these tests.",
            pytrace=False,
        )


def _extract_from_deb(deb: Path, names: tuple[str, ...], dest: Path) -> None:
    """Copy the files whose base names are ``names`` out of the Debian package ``deb`` into ``dest``."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
        for member in tar:
            base = os.path.basename(member.name)
            if member.isfile() and base in names and base not in found:
                found[base] = tar.extractfile(member).read()
    proc.stdout.close()
    if proc.wait() != 0 or set(found) != set(names):
        raise RuntimeError(f"{deb.name} lacks {sorted(set(names) - set(found))}")
    for base, data in found.items():
        tmp = dest / f".{base}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, dest / base)  # atomic: parallel test workers may fetch at the same time


def _fetch_opencv_doc_photos(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".deb-") as tmp:
        run = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, capture_output=True, text=True)
        debs = sorted(Path(tmp).glob("opencv-doc_*.deb"))
        if run.returncode != 0 or not debs:
            raise RuntimeError(f"`apt-get download opencv-doc` failed: {run.stderr.strip()}")
        _extract_from_deb(debs[0], OPENCV_DOC_HAND_PHOTOS, dest)


@pytest.fixture(scope="session")
def hand_photos() -> dict[str, Path]:
    """The four real hand photos from Debian's ``opencv-doc``, name -> path (cached in ``<cache>/opencv-doc``)."""
    dest = cache_dir() / "opencv-doc"
    paths = {name: dest / name for name in OPENCV_DOC_HAND_PHOTOS}
    if not all(p.is_file() for p in paths.values()):
        _fetch_or_fail("the opencv-doc hand photos", lambda: _fetch_opencv_doc_photos(dest))
    return paths


@pytest.fixture(scope="session")
def hand_model_path() -> Path:
    """A built ``hand_landmarker.task`` at the default path (built once from the mediapipe 0.10.21 wheel)."""
    path = default_model_path()
    try:
        return verify_bundle(path)
    except ValueError:
        return _fetch_or_fail("the MediaPipe hand model", build_hand_landmarker_bundle)


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module (tests run two at a time on two cores), restored afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
