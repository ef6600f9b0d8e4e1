import logging
import random
from typing import Any, Callable, Iterator, List, Optional

import numpy
import torch
import torch.multiprocessing as mp
from allennlp.common.tqdm import Tqdm
from allennlp.data.data_loaders import DataLoader, MultiProcessDataLoader
from allennlp.data.data_loaders.multiprocess_data_loader import WorkerError
from allennlp.data.dataset_readers.dataset_reader import DatasetReader, DatasetReaderInput
from allennlp.data.instance import Instance
from allennlp.nn import util as nn_util

from elmo_c.common.processes import die_with_parent

logger = logging.getLogger(__name__)


@DataLoader.register("reproducible")
class ReproducibleDataLoader(MultiProcessDataLoader):
    """
    AllenNLP's `multiprocess` data loader, made reproducible: a run is the same run
    however its workers' timing falls, and a run resumed with `--recover` sees the
    batches the uninterrupted run saw.  What differs from the parent class:

    - The loader's shuffling has a random stream of its own, seeded from `seed` and
      the number of times the loader has been iterated.  The parent class shuffles
      with Python's global `random`, which everything else shares: a resumed run
      skips validations and so draws from it differently afterwards.
    - With workers (`num_workers > 0`), each worker seeds `random`, `numpy` and
      `torch` from that seed and its id (the parent class's forked workers all
      inherit the main process's unchanged state, so with workers every epoch was
      shuffled alike), and their batches (or instances) are taken in a fixed
      round-robin order, one from each worker in turn, not in order of arrival.

    Takes the parent's parameters, and:

    seed : `int`, optional (default = drawn from Python's `random` when built, which
        AllenNLP seeds with the config's `random_seed`)

    Registered as a `DataLoader` with name "reproducible".
    """

    def __init__(
        self, reader: DatasetReader, data_path: DatasetReaderInput, seed: Optional[int] = None, **kwargs
    ) -> None:
        super().__init__(reader, data_path, **kwargs)
        self.seed = random.randrange(2**31) if seed is None else seed
        self._iterations = 0

    def _iter_batches(self) -> Iterator[Any]:
        iteration_seed = self.seed * 7919 + self._iterations
        self._iterations += 1
        if self._instances is not None or self.num_workers <= 0:
            yield from _with_own_random(super()._iter_batches(), iteration_seed)
            return
        for batch in self._from_workers(self._batch_worker, iteration_seed, self._max_batch_queue_size):
            if not self._worker_cuda_safe and self.cuda_device is not None:
                batch = nn_util.move_to_device(batch, self.cuda_device)
            yield batch

    def iter_instances(self) -> Iterator[Instance]:
        if self._instances or self.num_workers <= 0:
            yield from super().iter_instances()
            return
        if self.max_instances_in_memory is None:
            self._instances = []
        for instance in self._from_workers(self._instance_worker, self.seed, self._max_instance_queue_size):
            self.reader.apply_token_indexers(instance)
            if self._vocab is not None:
                instance.index_fields(self._vocab)
            if self._instances is not None:
                self._instances.append(instance)
            yield instance

    def _from_workers(self, work: Callable, seed: int, queue_size) -> Iterator[Any]:
        """Starts one process per worker, each with a queue of its own, and yields their items in turn."""
        context = mp.get_context(self.start_method)
        queues = [context.JoinableQueue(maxsize=queue_size or 0) for _ in range(self.num_workers)]
        Tqdm.set_lock(context.RLock())
        workers, senders = [], []
        for worker_id, queue in enumerate(queues):
            receiver, sender = context.Pipe(duplex=False)
            worker = context.Process(
                target=_seeded_worker, args=(work, seed, worker_id, queue, Tqdm.get_lock(), receiver), daemon=True
            )
            worker.start()
            workers.append(worker)
            senders.append(sender)
        try:
            yield from _round_robin(queues)
        finally:
            _stop(workers, queues, senders)


def _with_own_random(items: Iterator[Any], seed: int) -> Iterator[Any]:
    """`items`, each produced with Python's `random` set to a stream of its own (restored in between)."""
    state = random.Random(seed).getstate()
    while True:
        outside = random.getstate()
        random.setstate(state)
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            state = random.getstate()
            random.setstate(outside)
        yield item


def _seeded_worker(work: Callable, seed: int, worker_id: int, queue, lock, receiver) -> None:
    die_with_parent()
    worker_seed = seed * 1009 + worker_id
    random.seed(worker_seed)
    numpy.random.seed(worker_seed % 2**32)
    torch.manual_seed(worker_seed)
    work(worker_id, queue, lock, receiver)


def _round_robin(queues: List) -> Iterator[Any]:
    """One item from each live queue in turn; a worker is done when it sends `(None, None)`."""
    live = list(range(len(queues)))
    while live:
        for worker_id in list(live):
            item, error = queues[worker_id].get()
            queues[worker_id].task_done()
            if error is not None:
                raise WorkerError(*error)
            if item is None:
                live.remove(worker_id)
                continue
            yield item


def _stop(workers: List, queues: List, senders: List) -> None:
    for queue in queues:
        if hasattr(queue, "close"):
            queue.close()
    for sender in senders:
        sender.send("stop")
    for worker_id, worker in enumerate(workers):
        worker.join(1)
        if worker.is_alive():
            logger.warning("terminating data loader worker %s", worker_id)
            worker.terminate()
