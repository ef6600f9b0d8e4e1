"""
Runs the whole benchmark suite and regenerates `benchmarks/RESULTS.md` and its plots
(`benchmarks/figures/*.png`):

    .venv/bin/python benchmarks/run_all.py [--quick] [--device cpu|cuda]

1. output layers vs vocabulary size (`output_layers.py`), 2. the whole training
step (`training_step.py`), 3. trainable parameters (`parameters.py`), 4. peak
training memory (`memory.py`), 5. our fused LSTM vs AllenNLP's `ElmoLstm`
(`encoder.py`), 6. downstream embedder throughput (`embedder.py`): the sections of
`registry.py`, run by `suite.py`.  Each prints its tables as it finishes; at the end
come the headline lines (`name = value`, one per line) and the check of each target.
The full run (V up to 2M, three encoder sizes up to the paper's, 64 x 20 batches, 7
repeats) takes roughly an hour on a 2-core CPU, the paper-size model dominating;
`--quick` (the CPU-sized encoder with 32 x 20 batches, 5 repeats, V up to 800K,
parameters also at the paper size) checks everything in under 5 minutes.  Timings
are only comparable within one run: run it on a quiet machine (on a busy one,
`--threads 1` is steadier).  The synthetic tables it builds are cached under
`~/.cache/elmo_c/benchmarks` (about 1 GB for --quick, 3.5 GB for the full run;
`$ELMO_C_BENCH_CACHE` or `--cache-dir` to move them).
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

from typing import Dict, List, Optional, Sequence

from benchmarks import suite
from benchmarks.registry import SECTIONS


def main(argv: Optional[Sequence[str]] = None, only: Optional[List[str]] = None) -> Dict[str, float]:
    """Runs the benchmarks, writes RESULTS.md and the plots, prints the headlines; returns them."""
    return suite.main(SECTIONS, argv, only, description=__doc__)


if __name__ == "__main__":
    main()
