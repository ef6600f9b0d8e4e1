"""
The benchmark harness, without models: the schedule of `timing.measure_rounds`
(random order every round, the same calls per round for every step), the intervals
and verdicts of `intervals.py` on synthetic per-round samples (deterministic, so
the machine's load cannot change them), the target table, the machine state, and
how the training-step section reads its timings.
"""
import time

import numpy
import pytest
import torch

from benchmarks import intervals, suite, timing
from benchmarks.intervals import Interval, impossible_ordering, ratio_interval, timing_ratio, verdict
from benchmarks.machine_state import MachineState, Snapshot
from benchmarks.report import HEADLINE_PATTERN, Benchmark, Section, headline_lines
from benchmarks.timing import Timing, measure_rounds

CPU = torch.device("cpu")
ROUNDS = 10


def recording_steps(names, calls):
    """Steps that only append their name to `calls`."""
    return {name: (lambda name=name: calls.append(name)) for name in names}


def is_rotation(order, names):
    return any(order == names[shift:] + names[:shift] for shift in range(len(names)))


def per_round(values):
    """One call per round, as `Timing.rounds` holds them."""
    return [[value] for value in values]


def shared_load(rounds=ROUNDS, seed=0):
    """Per-round slowdowns of a shared machine: every variant of a round feels the same one."""
    return numpy.random.default_rng(seed).lognormal(0.0, 0.3, rounds)


def noise(sigma, rounds=ROUNDS, seed=1):
    """Independent per-call noise, multiplicative."""
    return numpy.random.default_rng(seed).lognormal(0.0, sigma, rounds)


# -- the schedule ----------------------------------------------------------------------------


def test_every_round_has_a_fresh_random_order_and_it_is_recorded():
    names = ["a", "b", "c", "d"]
    calls = []
    measurement = measure_rounds(recording_steps(names, calls), warmup=0, repeats=12, device=CPU, seed=3)
    assert calls == [name for order in measurement.orders for name in order]
    assert all(sorted(order) == names for order in measurement.orders)
    assert not all(is_rotation(order, names) for order in measurement.orders)
    assert len({tuple(order) for order in measurement.orders}) > len(names)  # a rotation has at most 4
    again = measure_rounds(recording_steps(names, []), warmup=0, repeats=12, device=CPU, seed=3)
    other = measure_rounds(recording_steps(names, []), warmup=0, repeats=12, device=CPU, seed=4)
    assert again.orders == measurement.orders and other.orders != measurement.orders
    assert "seed 3" in measurement.describe()


def test_every_step_gets_the_same_calls_per_round_chosen_from_the_slowest(monkeypatch):
    monkeypatch.setattr(timing, "ROUND_SECONDS", 0.02)
    calls = []
    fast, slow = recording_steps(["fast"], calls)["fast"], recording_steps(["slow"], calls)["slow"]

    def slow_step():
        slow()
        time.sleep(0.005)

    measurement = measure_rounds({"fast": fast, "slow": slow_step}, warmup=1, repeats=3, device=CPU)
    per_call = measurement.calls_per_round
    assert 1 <= per_call <= 4  # 0.02 s / at least 0.005 s; the fast step alone would get 10
    for result in measurement.timings.values():
        assert [len(calls_of_round) for calls_of_round in result.rounds] == [per_call] * 3
    timed = calls[2:]  # after one warm-up call each
    for index, order in enumerate(measurement.orders):
        block = timed[index * 2 * per_call:(index + 1) * 2 * per_call]
        assert block == [name for name in order for _ in range(per_call)]  # each step's calls back to back


def test_timings_of_one_measurement_are_paired_and_others_not():
    first = measure_rounds(recording_steps(["a", "b"], []), warmup=0, repeats=2, device=CPU).timings
    second = measure_rounds(recording_steps(["a"], []), warmup=0, repeats=2, device=CPU).timings
    assert first["a"].paired_with(first["b"]) and not first["a"].paired_with(second["a"])
    assert len(timing.measure_one(lambda: None, warmup=0, repeats=3, device=CPU).samples) == 3


# -- intervals and verdicts ------------------------------------------------------------------


def test_a_variant_20_percent_slower_misses_a_target_of_5_percent():
    load = shared_load()
    slower = ratio_interval(1.2 * load * noise(0.05), load * noise(0.05, seed=2))
    assert 1.05 < slower.low < slower.estimate < slower.high
    assert verdict(slower, "<=", 1.05, at_least=1.0).status == intervals.MISSED
    assert verdict(slower, ">=", 1.1).status == intervals.MET


def test_two_identical_variants_give_an_interval_containing_1():
    load = shared_load()
    same = ratio_interval(load * noise(0.05), load * noise(0.05, seed=2))
    assert same.low < 1.0 < same.high
    assert not impossible_ordering(same)


def test_a_very_noisy_pair_is_unresolved_with_a_finite_rounds_estimate():
    load = shared_load()
    noisy = ratio_interval(0.9 * load * noise(0.3), load * noise(0.3, seed=2))
    assert noisy.low < 1.05 < noisy.high
    result = verdict(noisy, "<=", 1.05)
    assert result.status == intervals.UNRESOLVED
    assert ROUNDS < result.rounds_needed <= intervals.MAX_USEFUL_ROUNDS
    assert f"about {result.rounds_needed} rounds" in str(result)


def test_rounds_needed_scale_the_half_width_facing_the_threshold():
    # Half-width 0.12 towards a threshold 0.05 away: 7 * (0.12 / 0.05) ** 2 = 40.3 rounds.
    assert intervals.rounds_to_resolve(Interval(1.0, 0.97, 1.12, 7), 1.05) == 41
    assert intervals.rounds_to_resolve(Interval(1.1, 1.02, 1.13, 7), 1.05) == 18  # 7 * (0.08 / 0.05) ** 2
    on_threshold = verdict(Interval(1.05, 1.0, 1.1, 7), "<=", 1.05)
    assert on_threshold.status == intervals.UNRESOLVED and on_threshold.rounds_needed is None
    assert "not resolvable" in str(on_threshold)
    assert intervals.rounds_to_resolve(Interval(1.04, 0.9, 1.2, 7), 1.05) is None  # over 100 rounds


def test_a_step_faster_than_a_strict_part_of_its_work_is_a_measurement_error():
    load = shared_load()
    impossible = ratio_interval(0.86 * load * noise(0.03), load * noise(0.03, seed=2))
    assert impossible.high < 1.0 and impossible_ordering(impossible)
    result = verdict(impossible, "<=", 1.05, at_least=1.0)
    assert result.status == intervals.MEASUREMENT_ERROR  # never "met"
    assert verdict(impossible, "<=", 1.05).status == intervals.MET  # what the old check said


def test_a_negative_cost_is_an_error_only_when_its_whole_interval_is_below_0():
    load = shared_load()
    below = intervals.difference_interval(load * noise(0.01) - 0.2, load * noise(0.01, seed=2))
    around = intervals.difference_interval(load * noise(0.2), load * noise(0.2, seed=2))
    assert below.high < 0 and impossible_ordering(below, at_least=0.0)
    assert around.low < 0 < around.high and not impossible_ordering(around, at_least=0.0)


def test_pairing_by_round_removes_the_load_that_both_steps_share():
    load = 2.0 * shared_load()  # large swings from round to round
    slower, base = 1.1 * load * noise(0.01), load * noise(0.01, seed=2)
    paired = timing_ratio(Timing(per_round(slower), measurement=1), Timing(per_round(base), measurement=1))
    unpaired = timing_ratio(Timing(per_round(slower), measurement=1), Timing(per_round(base), measurement=2))
    assert paired.low > 1.05  # the shared load cancels round by round
    assert unpaired.low < 1.05 < unpaired.high  # compared as independent samples it does not
    assert paired.estimate == pytest.approx(unpaired.estimate)


def test_few_rounds_are_unresolved_and_intervals_are_deterministic():
    load = shared_load(rounds=3)
    few = ratio_interval(2.0 * load, load)
    assert verdict(few, "<=", 1.05).status == intervals.UNRESOLVED
    assert verdict(few, "<=", 1.05).rounds_needed == intervals.MIN_ROUNDS
    assert ratio_interval(load * noise(0.1, 3), load) == ratio_interval(load * noise(0.1, 3), load)


def test_a_headline_comes_with_its_interval_bounds():
    section = Section("s", "S", "d")
    intervals.add_headline(section, "elmo_c_step_vs_encoder_only_small", Interval(1.02, 0.99, 1.04, 7))
    assert section.headlines == {
        "elmo_c_step_vs_encoder_only_small": 1.02,
        "elmo_c_step_vs_encoder_only_small_ci_low": 0.99,
        "elmo_c_step_vs_encoder_only_small_ci_high": 1.04,
    }
    assert all(HEADLINE_PATTERN.match(line) for line in headline_lines(section.headlines))


# -- the target table ------------------------------------------------------------------------


def test_targets_say_met_missed_unresolved_or_measurement_error():
    measured = {
        "elmo_c_step_vs_encoder_only_small": Interval(0.86, 0.80, 0.93, 7),
        "continuous_vs_sampled_output_speedup_V800000": Interval(40.0, 33.0, 47.0, 7),
        "continuous_output_share_of_elmo_c_step": Interval(0.06, 0.055, 0.065, 7),
        "elmo_c_vs_allennlp_elmo_step_speedup_small": Interval(4.0, 3.5, 4.4, 7),
        "allennlp_elmo_step_vs_encoder_only_small": Interval(4.5, 4.0, 5.0, 7),
    }
    section = Section("s", "S", "d")
    for name, interval in measured.items():
        intervals.add_headline(section, name, interval)
    checks = suite.check_targets(section.headlines, section.intervals)
    status = {what: result for what, _, result in checks}
    text = {what: measured_text for what, measured_text, _ in checks}
    step = "ELMo-C step <= 1.05x the encoder-only step, at every size"
    assert status[step].startswith("MEASUREMENT ERROR")  # 0.86: the old check called it met
    assert "_ci_" not in text[step] and "95% CI [0.8, 0.93]" in text[step]
    assert status["continuous output layer >= 30x faster than the sampled softmax at V=800K"] == "met"
    assert status["continuous output layer <= 5% of the ELMo-C step (largest share over the sizes)"] == "MISSED"
    recipe = "ELMo-C >= 4.2x AllenNLP's ELMo recipe on the small CPU-sized encoder"
    assert status[recipe].startswith("unresolved (about ")
    assert "with no output layer at all: `allennlp_elmo_step_vs_encoder_only_small = 4.5` (95% CI" in text[recipe]


def test_a_target_over_sizes_takes_the_worst_status():
    def status(small: Interval, paper: Interval) -> str:
        names = ("elmo_c_step_vs_encoder_only_small", "elmo_c_step_vs_encoder_only_paper")
        measured = dict(zip(names, (small, paper)))
        checks = suite.check_targets({name: interval.estimate for name, interval in measured.items()}, measured)
        return {what: result for what, _, result in checks}["ELMo-C step <= 1.05x the encoder-only step, at every size"]

    met, missed = Interval(1.01, 1.0, 1.02, 7), Interval(1.1, 1.07, 1.13, 7)
    few_rounds, noisy = Interval(1.04, 1.02, 1.06, 3), Interval(1.0, 0.97, 1.12, 7)
    assert status(met, missed) == "MISSED"
    assert status(met, few_rounds) == f"unresolved (3 round(s): an interval needs at least {intervals.MIN_ROUNDS})"
    assert status(noisy, few_rounds) == "unresolved (about 41 rounds would resolve it)"  # the most rounds needed


# -- the machine's state ---------------------------------------------------------------------


def test_machine_state_subtracts_its_own_cores_and_reads_steal():
    start = Snapshot(wall_seconds=0.0, own_cpu_seconds=0.0, load=(0.3, 0.2, 0.1), steal_and_total_ticks=(0, 1000))
    ours = Snapshot(wall_seconds=100.0, own_cpu_seconds=200.0, load=(2.1, 1.5, 0.8), steal_and_total_ticks=(5, 2000))
    quiet = MachineState.between(start, ours, cores=2)
    assert quiet.own_cores == pytest.approx(2.0) and quiet.steal == pytest.approx(0.005)
    assert quiet.busy_reasons() == []  # a load of 2.1, 2.0 of it ours
    assert "quiet" in quiet.describe()
    others = Snapshot(wall_seconds=100.0, own_cpu_seconds=100.0, load=(2.1, 1.9, 1.5), steal_and_total_ticks=(5, 2000))
    assert "load from other processes about 1.1 on 2 cores" in MachineState.between(start, others, 2).busy_reasons()[0]
    stolen = Snapshot(wall_seconds=100.0, own_cpu_seconds=200.0, load=None, steal_and_total_ticks=(100, 2000))
    assert MachineState.between(start, stolen, 2).busy_reasons() == ["10% of the CPU time stolen by the hypervisor"]


def test_the_cpu_time_of_finished_child_processes_counts_as_its_own():
    import subprocess
    import sys

    from benchmarks.machine_state import snapshot

    before = snapshot()
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"],
                   check=True)
    assert snapshot().own_cpu_seconds - before.own_cpu_seconds >= 0.45


def test_each_section_records_the_machine_state_and_a_busy_one_is_warned_about(monkeypatch):
    section = suite._run_section(Benchmark("dummy", "Dummy", lambda config: Section("dummy", "Dummy", "d")), None)
    assert isinstance(section.machine_state, MachineState)
    assert "_Machine during this benchmark: load average (1, 5, 15 min)" in section.to_markdown()
    monkeypatch.setattr(suite.os, "cpu_count", lambda: 2)
    section.machine_state = MachineState((0.1, 0.1, 0.1), (3.0, 2.0, 1.0), own_cores=1.0, steal=0.0, cores=2)
    warning = suite.busy_machine_warning({}, [section])
    assert "during dummy: load from other processes about 2.0 on 2 cores" in warning[0]


# -- the training-step section on synthetic timings ------------------------------------------


def test_training_step_flags_what_the_work_done_rules_out():
    from benchmarks import training_step

    load = shared_load()
    measured = {
        "encoder_only": 0.100 * load * noise(0.01, seed=2),
        "elmo_c": 0.086 * load * noise(0.01, seed=3),  # faster than the encoder alone: impossible
        "elmo": 0.180 * load * noise(0.01, seed=4),
        "elmo_a": 0.150 * load * noise(0.01, seed=5),
        "elmo_sub": 0.140 * load * noise(0.01, seed=6),
        "allennlp_elmo": 0.600 * load * noise(0.01, seed=7),
        training_step.OUTPUT_ONLY: 0.004 * load * noise(0.01, seed=8),
    }
    timings = training_step.GroupedTimings(
        [{name: Timing(per_round(values), measurement=7) for name, values in measured.items()}]
    )
    errors = training_step._impossible_orderings("small", timings)
    assert len(errors) == 1 and errors[0].startswith("**Measurement error** (small): ELMo-C (continuous) took 0.8")
    text, part_errors = training_step._composition("small", timings)
    assert "ELMo-C's output layer -1" in text and "(a measurement error, see above)" in text
    assert len(part_errors) == 1 and "ELMo-C's output layer measured at -1" in part_errors[0]
    section = Section("s", "S", "d")
    training_step._size_headlines(section, "small", timings, timings.ratio(training_step.OUTPUT_ONLY, "elmo_c"))
    assert section.intervals["elmo_c_step_vs_encoder_only_small"].high < 1.0
    assert {"elmo_c_vs_allennlp_elmo_step_speedup_small_ci_low",
            "allennlp_elmo_step_vs_encoder_only_small_ci_high"} <= set(section.headlines)


def test_every_memory_group_holds_the_references(monkeypatch):
    from benchmarks import training_step

    sizes = {"encoder_only": 1, "elmo_c": 1, "elmo": 6, "elmo_a": 3, "elmo_sub": 1, "allennlp_elmo": 6}
    monkeypatch.setattr(training_step, "estimated_training_bytes", lambda variant, *_: sizes[variant])
    config = type("Config", (), {"memory_budget_bytes": 11})()
    groups = training_step._groups(None, None, config)
    assert [group[:2] for group in groups] == [list(training_step.REFERENCES)] * len(groups) and len(groups) == 2
    assert all(sum(sizes[variant] for variant in group) <= 11 for group in groups)
    assert sorted(variant for group in groups for variant in group[2:]) == sorted(set(sizes) - {"encoder_only", "elmo_c"})


def test_a_ratio_is_taken_from_the_group_that_timed_both_sides():
    from benchmarks import training_step

    load = shared_load()
    # A second group on a machine twice as busy: only paired rounds cancel the load.
    first = {"encoder_only": 0.10 * load, "elmo_c": 0.101 * load, "elmo": 0.2 * load}
    second = {"encoder_only": 0.2 * load[::-1], "elmo_c": 0.202 * load[::-1], "allennlp_elmo": 1.0 * load[::-1]}
    timings = training_step.GroupedTimings([
        {name: Timing(per_round(values), measurement=1) for name, values in first.items()},
        {name: Timing(per_round(values), measurement=2) for name, values in second.items()},
    ])
    speedup = timings.ratio("allennlp_elmo", "elmo_c")
    assert speedup.estimate == pytest.approx(1.0 / 0.202) and speedup.high - speedup.low < 1e-6
    assert timings.paired("allennlp_elmo", "encoder_only") and not timings.paired("allennlp_elmo", "elmo")
    assert timings.of("elmo_c") is timings.groups[0]["elmo_c"]
    unpaired = timings.ratio("allennlp_elmo", "elmo")
    assert unpaired.high - unpaired.low > 0.1
    (note,) = training_step._rebuilds("paper", timings)
    assert note.count("1.01 [1.01, 1.01]") == 2
