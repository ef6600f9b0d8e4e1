import glob
import json
import logging
import os
import time
from multiprocessing.connection import Connection
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.nn.util import get_text_field_mask
from allennlp.training.callbacks import TrainerCallback

from elmo_c.common.atomic import atomic_output_path
from elmo_c.common.processes import result_or_os_error, start_in_background

logger = logging.getLogger(__name__)


@TrainerCallback.register("throughput")
class ThroughputCallback(TrainerCallback):
    """
    Tokens per second in the progress bar (`tokens_per_s`) and in the log, and,
    once the training corpus's size is known, the minutes left in the epoch
    (`epoch_minutes_left`).  The corpus is counted once, in a background process
    (training does not wait for it; a process, not a thread, because the data
    loader forks its workers meanwhile), and the count is cached beside each file as
    `FILE.tokens.json` (or in the serialization directory where that folder is
    read-only), so later runs know it at once.  Tokens are counted as the reader
    sees them with whitespace splitting: words plus `<S>` and `</S>` per line.

    The counters are read from the device every `refresh_seconds`, not every
    batch, so that the callback does not make the training step wait on the GPU.

    Registered as a `TrainerCallback` with name "throughput".

    # Parameters

    serialization_dir : `str`
    corpus : `str`, optional (default = the trainer's training data path)
        A file or a glob of shards, one sentence per line.
    corpus_tokens : `int`, optional (default = `None`)
        The epoch's size in tokens, given instead of counted.
    log_every_seconds : `float`, optional (default = `60`)
    refresh_seconds : `float`, optional (default = `2`)
    """

    def __init__(
        self,
        serialization_dir: str,
        corpus: Optional[str] = None,
        corpus_tokens: Optional[int] = None,
        log_every_seconds: float = 60.0,
        refresh_seconds: float = 2.0,
    ) -> None:
        super().__init__(serialization_dir)
        self._corpus = corpus
        self.corpus_tokens = corpus_tokens
        self._log_every_seconds = log_every_seconds
        self._refresh_seconds = refresh_seconds
        self._shown: Dict[str, float] = {}
        self._counting: Optional[Tuple[Any, Connection]] = None
        self._start_epoch()

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary, **kwargs)
        self._start_epoch()
        corpus = self._corpus or getattr(getattr(trainer, "data_loader", None), "data_path", None)
        if self.corpus_tokens is None and corpus and is_primary:
            self._corpus = str(corpus)
            self._counting = start_in_background(count_corpus, self._corpus, self.serialization_dir)
            if self._counting is None:
                self._take_count(result_or_os_error(count_corpus, self._corpus, self.serialization_dir))

    def on_batch(self, trainer, batch_inputs: List[Dict[str, Any]], batch_outputs, batch_metrics: Dict[str, Any],
                 epoch: int, batch_number: int, is_training: bool, is_primary: bool = True, **kwargs) -> None:
        if not is_training:
            return
        for batch in batch_inputs:
            if "source" in batch:
                self._tokens = self._tokens + get_text_field_mask(batch["source"]).sum()
        now = time.monotonic()
        if now - self._refreshed >= self._refresh_seconds:
            self._refresh(now, epoch)
        batch_metrics.update(self._shown)

    def on_epoch(self, trainer, metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs) -> None:
        self._start_epoch()

    def _start_epoch(self) -> None:
        self._started = self._refreshed = self._logged = time.monotonic()
        self._tokens: Any = torch.zeros((), dtype=torch.long)
        self._shown = {}

    def _refresh(self, now: float, epoch: int) -> None:
        self._refreshed = now
        self._check_count()
        tokens = int(self._tokens)
        rate = tokens / max(now - self._started, 1e-9)
        self._shown = {"tokens_per_s": rate}
        left = None
        if self.corpus_tokens and rate > 0:
            left = max(self.corpus_tokens - tokens, 0) / rate
            self._shown["epoch_minutes_left"] = left / 60
        if now - self._logged >= self._log_every_seconds:
            self._logged = now
            logger.info("Epoch %d: %s", epoch, self.describe(tokens, rate, left))

    def describe(self, tokens: int, rate: float, seconds_left: Optional[float]) -> str:
        text = f"{tokens:,} tokens, {rate:,.0f} tokens/s"
        if seconds_left is not None and self.corpus_tokens:
            text += f", {min(tokens / self.corpus_tokens, 1.0):.0%} of the epoch, about {_duration(seconds_left)} left"
        return text

    def _check_count(self) -> None:
        """Takes the corpus count from the counting process once it has arrived."""
        if self._counting is None or not self._counting[1].poll():
            return
        child, receiver = self._counting
        self._counting = None
        try:
            result = receiver.recv()
        except EOFError:  # the process died without an answer
            result = OSError(f"the counting process ended with exit code {child.exitcode}")
        receiver.close()
        child.join(1)
        self._take_count(result)

    def _take_count(self, result: Any) -> None:
        if isinstance(result, int):
            self.corpus_tokens = result
            logger.info("The training corpus has %s tokens (%s)", f"{result:,}", self._corpus)
        else:
            logger.warning("Could not count the tokens of %s (%s): no time-left estimate", self._corpus, result)


def count_corpus(corpus: str, cache_directory: Optional[str] = None) -> int:
    """The tokens of a file or a glob of shards: `count_tokens` of each."""
    return sum(count_tokens(path, cache_directory) for path in sorted(glob.glob(corpus)) or [corpus])


def count_tokens(path: str, fallback_directory: Optional[str] = None) -> int:
    """
    Words plus 2 boundaries per non-empty line of `path`, read from its cache
    (`PATH.tokens.json`, valid while the file's size and time stamp are unchanged)
    or counted and cached.
    """
    stat = os.stat(path)
    key = {"bytes": stat.st_size, "mtime": stat.st_mtime}
    caches = [path + ".tokens.json"]
    if fallback_directory:
        caches.append(os.path.join(fallback_directory, os.path.basename(path) + ".tokens.json"))
    for cache in caches:
        try:
            with open(cache) as stream:
                cached = json.load(stream)
            if {name: cached.get(name) for name in key} == key:
                return int(cached["tokens"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    tokens = 0
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            words = len(line.split())
            tokens += words + 2 if words else 0
    for cache in caches:
        try:
            with atomic_output_path(cache) as temporary, open(temporary, "w") as stream:
                json.dump({**key, "tokens": tokens}, stream)
            break
        except OSError:
            continue
    return tokens


def _duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
