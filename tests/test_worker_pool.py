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
