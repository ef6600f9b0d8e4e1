import os
import tempfile
import uuid
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def atomic_output_path(path: str) -> Iterator[str]:
    """
    Yields a temporary path next to `path` to write to.  When the block succeeds the
    file is flushed to disk and renamed over `path`, otherwise it is removed: a
    crash never leaves a half-written `path` for a later run to trust.
    """
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def ensure_writable_directory(directory: str) -> None:
    """Creates `directory` if needed and checks that a file can be created in it; `OSError` if not."""
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory):
        pass
