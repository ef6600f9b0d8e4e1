"""
The sections of `run_all.py`, in the order they run and appear in `RESULTS.md`:
each section module describes itself (its `SECTION`, a `report.Benchmark`) and
imports only the shared code (`common`, `report`, `timing`, `variants`, `plots`,
`suite`); this is the one place that lists them.
"""
from typing import Dict

from benchmarks import embedder, encoder, memory, output_layers, parameters, training_step
from benchmarks.report import Benchmark

SECTIONS: Dict[str, Benchmark] = {
    section.name: section
    for section in (
        output_layers.SECTION,
        training_step.SECTION,
        parameters.SECTION,
        memory.SECTION,
        encoder.SECTION,
        embedder.SECTION,
    )
}
