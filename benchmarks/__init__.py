"""
The benchmark suite of elmo_c (not part of the installed package): scripts that
measure ELMo-C against its baselines and print tables and headline ratios.

    .venv/bin/python benchmarks/run_all.py [--quick] [--device cpu|cuda]

regenerates `benchmarks/RESULTS.md` and its plots; see `run_all.py`.

Note: fairscale (an AllenNLP dependency) installs an unrelated top-level package
named `benchmarks` into site-packages.  Run the scripts from the repository root
(`python benchmarks/X.py` or `python -m benchmarks.X`): each script puts the
repository first on `sys.path` (`bootstrap.py`), so this package wins.
"""
