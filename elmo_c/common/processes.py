"""Child processes that cannot outlive, or deadlock, the training process."""
import ctypes
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from typing import Any, Callable, Optional, Tuple

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Optional[Callable[..., int]]:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up once, at import, in the parent: a child forked while another thread of
# the parent held the dynamic loader's lock would wait for it forever in dlopen/dlsym.
_PRCTL = _load_prctl()


def die_with_parent() -> None:
    """
    Asks Linux to kill the calling process when its parent dies: after a `kill -9` of
    the trainer, a child that waits on it (or keeps counting) would otherwise live on
    and keep the trainer's output pipes open.  A no-op elsewhere.
    """
    if _PRCTL is None:
        return
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the request was made
        os._exit(1)


def start_in_background(work: Callable[..., Any], *args: Any) -> Optional[Tuple[multiprocessing.Process, Connection]]:
    """
    Runs `work(*args)` in a forked child process and returns it with the end of a
    pipe on which its result (or the `OSError` it raised) arrives; `None` where
    processes cannot be forked (the caller then works in the foreground).

    A child process, not a thread: the data loader forks its workers while training
    runs, and a worker forked while a thread of the trainer holds a lock (the
    dynamic loader's as the thread exits, a logging stream's) waits for it forever.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_send_result, args=(work, args, sender), daemon=True)
    child.start()
    sender.close()
    return child, receiver


def result_or_os_error(work: Callable[..., Any], *args: Any) -> Any:
    """
    `work(*args)`, or the `OSError` it raised: what `start_in_background`'s child
    sends, and what a caller that cannot fork computes in the foreground.
    """
    try:
        return work(*args)
    except OSError as error:
        return error


def _send_result(work: Callable[..., Any], args: Tuple, sender: Connection) -> None:
    die_with_parent()
    result = result_or_os_error(work, *args)
    try:
        sender.send(result)
    except OSError:  # the parent stopped listening
        pass
