"""hoi2robot.config.worker_pool: spawned workers do not outlive the run that made them."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PARENT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    from hoi2robot.config import worker_pool

    def pid(_):
        time.sleep(0.3)
        return os.getpid()

    if __name__ == "__main__":
        pool = worker_pool(2)
        print(" ".join(map(str, sorted(set(pool.map(pid, range(6)))))), flush=True)
        time.sleep(120)  # killed here, its pool never shut down
""")


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except OSError:
        return False


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(REPO)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert pids and all(_alive(p) for p in pids)
    finally:
        parent.kill()  # SIGKILL: no handler, no atexit, no pool shutdown
        parent.wait()
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids), f"workers {pids} outlived their parent"


EXIT = textwrap.dedent("""
    import atexit, gc, sys
    sys.path.insert(0, sys.argv[1])
    from hoi2robot.config import close_at_exit

    class Handle:
        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail
        def close(self):
            print("closed", self.name, flush=True)
            if self.fail:
                raise RuntimeError("native library already gone")

    kept = close_at_exit(Handle("kept"))
    atexit.register(print, "library teardown", flush=True)  # e.g. MuJoCo's eglTerminate, registered on first use
    broken = close_at_exit(Handle("broken", fail=True))
    gone = close_at_exit(Handle("gone"))
    del gone
    gc.collect()
    print("main done", flush=True)
""")


def test_close_at_exit_closes_live_handles_before_library_teardown(tmp_path):
    """Native handles in process-wide caches are closed at exit before the exit handlers of the libraries they need
    (registered before the latest handle), one failing close does not stop the others, and a handle collected earlier
    is neither kept alive nor closed again."""
    script = tmp_path / "exit.py"
    script.write_text(EXIT)
    out = subprocess.run([sys.executable, str(script), str(REPO)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == "main done" and "library teardown" in lines
    closed = [line for line in lines if line.startswith("closed")]
    assert sorted(closed) == ["closed broken", "closed kept"]
    assert lines.index("library teardown") > max(lines.index(c) for c in closed)
    assert "Exception ignored" not in out.stderr


def test_scene_renderers_and_landmarkers_are_closed_at_exit():
    """The handles that printed EGLError / TypeError tracebacks as bench workers exited are registered."""
    from hoi2robot.config import _OPEN_AT_EXIT
    from hoi_videogen.hands import HandTracker
    from sim.handsim.engine import get_scene

    assert get_scene("Lift").renderer(32) in _OPEN_AT_EXIT
    tracker = HandTracker()
    landmarker = tracker._create("IMAGE")
    assert landmarker in _OPEN_AT_EXIT
    landmarker.close()
    tracker.close()
