from elmo_c.training.checkpointer import AtomicCheckpointer
from elmo_c.training.rng_state import RngStateCallback
from elmo_c.training.throughput import ThroughputCallback
