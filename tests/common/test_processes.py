"""Background processes: their result arrives on the pipe, and they die with the trainer."""
import os
import signal
import subprocess
import sys
import time

from elmo_c.common.processes import start_in_background

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_result_or_the_os_error_arrives_on_the_pipe(tmp_path):
    child, receiver = start_in_background(sum, [1, 2, 3])
    assert receiver.recv() == 6
    child.join(10)
    assert child.exitcode == 0
    child, receiver = start_in_background(open, str(tmp_path / "absent.txt"))
    assert isinstance(receiver.recv(), FileNotFoundError)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stream:  # a zombie is dead
        return stream.read().split(")")[-1].split()[0] != "Z"


def test_a_background_process_dies_with_a_killed_parent():
    parent = subprocess.Popen(
        [sys.executable, "-c", "import time; from elmo_c.common.processes import start_in_background; "
         "child, _ = start_in_background(time.sleep, 120); print(child.pid, flush=True); time.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
