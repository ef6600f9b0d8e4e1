"""
Makes this repository's `benchmarks` package importable when a script is run by
path (`python benchmarks/run_all.py`): Python then puts `benchmarks/` itself first
on `sys.path`, and the `benchmarks` package that fairscale installs into
site-packages would shadow ours.  Each script does, before importing anything else
of the suite:

    import bootstrap  # noqa: F401  (or `from benchmarks import bootstrap` under -m)
"""
import os
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if sys.path[:1] != [REPOSITORY]:
    sys.path.insert(0, REPOSITORY)
loaded = sys.modules.get("benchmarks")
if loaded is not None and os.path.dirname(os.path.dirname(os.path.abspath(loaded.__file__ or ""))) != REPOSITORY:
    del sys.modules["benchmarks"]
