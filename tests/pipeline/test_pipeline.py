"""
The stages shared by the demo, the studies and the benchmarks (elmo_c.pipeline),
checked without downloads or training: the data preparation on tiny inputs, the
commands the stages build (with `run_allennlp` replaced), and the subprocess wrapper
on a stand-in command.
"""
import ast
import json
import os
import sys
import tarfile
import types

import pytest
from allennlp.common.checks import ConfigurationError

from elmo_c import pipeline
from elmo_c.pipeline import data, downstream, pretraining, runner


def test_root_is_the_repository_with_its_configs():
    assert os.path.isfile(os.path.join(pipeline.ROOT, "training_config", "elmo_c_small.jsonnet"))
    assert os.path.isfile(pipeline.PRETRAIN_CONFIG) and os.path.isfile(pipeline.NER_CONFIG)


def test_no_plugin_module_imports_the_pipeline():
    """Every `allennlp` command imports the plugin: the pipeline must stay out of it."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(pipeline.__file__)))
    offenders = []
    for directory, _, files in os.walk(package):
        if os.path.commonpath([directory, os.path.dirname(pipeline.__file__)]) == os.path.dirname(pipeline.__file__):
            continue
        for file in (f for f in files if f.endswith(".py")):
            path = os.path.join(directory, file)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [f"{node.module or ''}.{alias.name}" for alias in node.names] + [node.module or ""]
                if any(name.split(".")[-1] == "pipeline" or ".pipeline." in f".{name}." for name in names):
                    offenders.append(os.path.relpath(path, package))
    assert offenders == []


def test_read_token_tag_sentences_blank_lines_and_trailing_sentence(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("\n@user\tO\nParis\tB-geo-loc\n\n \t\n\nhi\tO\n\nNew\tB-loc\nYork\tI-loc", encoding="utf-8")
    assert data.read_token_tag_sentences(str(path)) == [
        [("@user", "O"), ("Paris", "B-geo-loc")],
        [("hi", "O")],
        [("New", "B-loc"), ("York", "I-loc")],
    ]


def _conll_sentences(path):
    blocks = open(path, encoding="utf-8").read().split("\n\n")
    assert blocks[0] == "-DOCSTART- -X- -X- O"
    return [[tuple(line.split(" ")) for line in block.strip().split("\n")] for block in blocks[1:] if block.strip()]


def test_prepare_wnut_splits_80_10_10_once_in_conll_columns(tmp_path):
    source = tmp_path / "ner.txt"
    sentences = [[(f"w{i}", "B-person" if i % 3 == 0 else "O"), (f"x{i}", "O")] for i in range(20)]
    source.write_text("\n\n".join("\n".join(f"{t}\t{g}" for t, g in s) for s in sentences) + "\n", encoding="utf-8")
    paths = data.prepare_wnut(str(tmp_path / "run"), source=str(source))
    assert set(paths) == {"train", "dev", "test"}
    split = {name: _conll_sentences(path) for name, path in paths.items()}
    assert [len(split[name]) for name in ("train", "dev", "test")] == [16, 2, 2]
    assert all(len(row) == 4 and row[1:3] == ("-X-", "O") for s in split["train"] for row in s)
    written = sorted(tuple((row[0], row[3]) for row in s) for name in split for s in split[name])
    assert written == sorted(tuple(s) for s in sentences)  # every sentence exactly once
    assert split["train"] != [[(t, "-X-", "O", g) for t, g in s] for s in sentences[:16]]  # shuffled
    # Written once: a rerun (even with another seed) reuses the files.
    with open(paths["test"], "a") as stream:
        stream.write("marker -X- O O\n")
    assert data.prepare_wnut(str(tmp_path / "run"), seed=99, source=str(source)) == paths
    assert "marker" in open(paths["test"]).read()
    # The same seed gives the same split elsewhere.
    again = data.prepare_wnut(str(tmp_path / "again"), source=str(source))
    assert open(again["train"]).read() == open(paths["train"]).read()


def test_prepare_ptb_limits_only_the_training_sentences(tmp_path, monkeypatch):
    penn = {"train": " a b \n\nc d\ne\n", "valid": "f g\n\n", "test": "h\n"}
    monkeypatch.setitem(sys.modules, "treebank", types.SimpleNamespace(penn=penn))
    paths = data.prepare_ptb(str(tmp_path), limit=2)
    assert open(paths["train"]).read() == "a b\nc d\n"
    assert open(paths["valid"]).read() == "f g\n"
    assert open(paths["test"]).read() == "h\n"


def test_elmo_c_dim_reads_the_archive_config(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model": {"encoder": {"projection_dim": 16}}}))
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as stream:
        stream.add(config, arcname="config.json")
    assert pipeline.elmo_c_dim(str(archive)) == 32
    config.write_text(json.dumps({"model": {"type": "crf_tagger", "encoder": {"type": "lstm"}}}))
    with tarfile.open(archive, "w:gz") as stream:
        stream.add(config, arcname="config.json")
    with pytest.raises(ConfigurationError, match='model.tar.gz holds a "crf_tagger" model.*not an ELMo-C'):
        pipeline.elmo_c_dim(str(archive))


def test_stage_returns_the_work_result(capsys):
    assert pipeline.stage("Doing it", lambda: {"x": 1}) == {"x": 1}
    assert "==> Doing it" in capsys.readouterr().out


@pytest.fixture
def fake_allennlp(tmp_path, monkeypatch):
    """`allennlp` replaced by the Python interpreter, so `arguments` are `-c CODE`."""
    monkeypatch.setattr(runner, "ALLENNLP", sys.executable)
    (tmp_path / "logs").mkdir()
    return tmp_path


def test_run_allennlp_logs_and_prints_the_command(fake_allennlp, capsys):
    code = "import os; print('hello', os.environ['ELMO_C_X'], os.getcwd())"
    pipeline.run_allennlp(["-c", code], str(fake_allennlp), "step", {"ELMO_C_X": "1"})
    printed = capsys.readouterr().out
    assert printed.startswith(f"    $ ELMO_C_X=1 allennlp -c {code!r}\n")
    assert open(fake_allennlp / "logs" / "step.log").read() == f"hello 1 {pipeline.ROOT}\n"


def test_run_allennlp_skips_when_the_output_exists(fake_allennlp, capsys):
    done = fake_allennlp / "model.tar.gz"
    done.write_text("")
    pipeline.run_allennlp(["-c", "raise SystemExit(1)"], str(fake_allennlp), "step", skip_if=str(done))
    assert "reusing" in capsys.readouterr().out
    assert not (fake_allennlp / "logs" / "step.log").exists()


def test_an_interrupted_training_run_is_resumed_or_started_over(tmp_path):
    command = ["train", "config.jsonnet", "-s", str(tmp_path / "model"), "--include-package", "elmo_c"]
    assert runner.resume_arguments(command) == command  # nothing there yet
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model_state_e1_b0.th").write_text("")
    assert runner.resume_arguments(command) == command + ["--recover"]
    (tmp_path / "model" / "model_state_e1_b0.th").unlink()
    (tmp_path / "model" / "config.json").write_text("{}")  # died before its first checkpoint
    assert runner.resume_arguments(command) == command and not (tmp_path / "model").exists()
    assert runner.resume_arguments(["evaluate", "-s", str(tmp_path)]) == ["evaluate", "-s", str(tmp_path)]


def test_run_allennlp_exits_with_the_end_of_the_log_on_failure(fake_allennlp):
    with pytest.raises(SystemExit) as failure:
        pipeline.run_allennlp(["-c", "print('boom'); raise SystemExit(3)"], str(fake_allennlp), "step")
    assert "failed (exit 3)" in str(failure.value) and "boom" in str(failure.value)


@pytest.fixture
def calls(monkeypatch):
    """Records the stages' `run_allennlp` calls; `evaluate` writes an empty metrics file."""
    recorded = []

    def fake_run(arguments, run_dir, name, environment=None, skip_if=None):
        recorded.append({"arguments": arguments, "name": name, "environment": environment, "skip_if": skip_if})
        if arguments[0] == "evaluate":
            with open(arguments[arguments.index("--output-file") + 1], "w") as stream:
                json.dump({"f1-measure-overall": 0.5}, stream)

    monkeypatch.setattr(pretraining, "run_allennlp", fake_run)
    monkeypatch.setattr(downstream, "run_allennlp", fake_run)
    return recorded


def test_pretrain_defaults_and_extra_overrides(tmp_path, calls):
    archive = pipeline.pretrain(str(tmp_path), {"ELMO_C_TRAIN": "t"}, 2)
    assert archive == str(tmp_path / "pretrain" / "model.tar.gz")
    arguments = calls[-1]["arguments"]
    assert arguments[:2] == ["train", pipeline.PRETRAIN_CONFIG]
    assert json.loads(arguments[arguments.index("-o") + 1]) == {"trainer.num_epochs": 2}
    assert calls[-1]["skip_if"] == archive

    pipeline.pretrain(str(tmp_path), {}, 1, seed=4, config="training_config/elmo_c.jsonnet",
                      overrides={"trainer.num_epochs": 3, "model.dropout": 0.0})
    arguments = calls[-1]["arguments"]
    assert arguments[1] == os.path.join(pipeline.ROOT, "training_config", "elmo_c.jsonnet")
    assert json.loads(arguments[arguments.index("-o") + 1]) == {
        "trainer.num_epochs": 3, "random_seed": 4, "numpy_seed": 4, "pytorch_seed": 4, "model.dropout": 0.0
    }


def test_tagger_defaults_seed_and_name(tmp_path, calls):
    conll = os.path.join(pipeline.ROOT, "fixtures", "downstream", "conll2003")
    splits = {split: os.path.join(conll, f"{split}.txt") for split in ("train", "dev", "test")}
    assert pipeline.train_and_evaluate_tagger(str(tmp_path), "baseline", splits, "unused") == {
        "f1-measure-overall": 0.5
    }
    train, evaluate = calls
    assert "-o" not in train["arguments"] and train["name"] == "ner-train-baseline"
    assert train["environment"]["ELMO_C_EMBEDDER"] == "false"
    assert train["arguments"][3] == str(tmp_path / "ner" / "baseline")
    assert (tmp_path / "ner_test_metrics_baseline.json").exists()

    pipeline.train_and_evaluate_tagger(str(tmp_path), "baseline", splits, "unused", epochs=2, seed=7, name="b7")
    train = calls[2]
    assert json.loads(train["arguments"][train["arguments"].index("-o") + 1]) == {
        "trainer.num_epochs": 2, "random_seed": 7, "numpy_seed": 7, "pytorch_seed": 7
    }
    assert train["arguments"][3] == str(tmp_path / "ner" / "b7") and train["name"] == "ner-train-b7"
    assert (tmp_path / "ner_test_metrics_b7.json").exists()


def test_demo_and_benchmark_use_the_package_stages():
    import importlib.util

    from benchmarks import compressed_pretraining

    spec = importlib.util.spec_from_file_location("_demo", os.path.join(pipeline.ROOT, "scripts", "demo.py"))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    assert demo.pretrain is pipeline.pretrain and demo.run_ner is pipeline.run_ner
    assert compressed_pretraining.pipeline is pipeline
    assert os.path.join(pipeline.ROOT, "scripts") not in sys.path


@pytest.mark.parametrize("script", ["scripts/demo.py", "benchmarks/compressed_pretraining.py",
                                    "benchmarks/compress_targets.py", "benchmarks/quality.py"])
def test_a_script_runs_this_checkouts_plugin_whichever_the_environment_names(tmp_path, script):
    """Checkouts sharing one cached environment: its editable install names the last one installed."""
    import subprocess

    other = tmp_path / "other_checkout" / "elmo_c"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise ImportError('the other checkout')\n")
    environment = {**os.environ, "PYTHONPATH": str(other.parent)}
    result = subprocess.run([sys.executable, os.path.join(pipeline.ROOT, script), "--help"], cwd=str(tmp_path),
                            env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_conll2003_subsets_are_drawn_from_the_standard_splits(tmp_path):
    source = tmp_path / "en"
    source.mkdir()
    for name, count in (("train.txt", 6), ("valid.txt", 4), ("test.txt", 3)):
        blocks = [f"W{name[0]}{i} NNP B-NP B-PER\nsaid VBD B-VP O" for i in range(count)]
        (source / name).write_text("-DOCSTART- -X- -X- O\n\n" + "\n\n".join(blocks) + "\n")
    paths = pipeline.prepare_conll2003(str(tmp_path / "run"), train_sentences=2, dev_sentences=3, source_dir=str(source))
    sentences = {split: pipeline.data.read_conll_sentences(path) for split, path in paths.items()}
    assert [len(sentences[split]) for split in ("train", "dev", "test")] == [2, 3, 3]
    assert all(sentence[0].startswith("Wt") for sentence in sentences["train"])
    assert all(sentence[0].startswith("Wv") for sentence in sentences["dev"])
    assert sentences["test"][0] == ["Wt0 NNP B-NP B-PER", "said VBD B-VP O"]


def test_rotten_tomatoes_keeps_its_own_sentences_once_and_splits_them(tmp_path):
    rows = ["text,label,source"] + [f"sentence {i} .,{i % 2},rotten_tomatoes" for i in range(20)]
    rows += ["sentence 3 .,1,rotten_tomatoes", "a long imdb review,1,imdb"]
    source = tmp_path / "reviews.csv"
    source.write_text("\n".join(rows) + "\n")
    paths = pipeline.prepare_rotten_tomatoes(str(tmp_path / "run"), train_sentences=10, source=str(source))
    splits = {split: [json.loads(line) for line in open(path)] for split, path in paths.items()}
    assert [len(splits[split]) for split in ("train", "dev", "test")] == [10, 2, 2]
    texts = [example["text"] for split in splits.values() for example in split]
    assert len(set(texts)) == len(texts) and "a long imdb review" not in texts
    labels = {example["text"]: example["label"] for split in splits.values() for example in split}
    assert labels.get("sentence 4 .", "negative") == "negative" and labels.get("sentence 5 .", "positive") == "positive"


def test_running_text_becomes_lowercased_tokenised_sentences():
    text = 'The Congress met. "We agree," they said! Short.\nA new paragraph (with brackets) ends here?'
    assert data._sentences([text]) == [
        "the congress met .",
        '" we agree , " they said !',
        "a new paragraph ( with brackets ) ends here ?",
    ]  # "Short." has fewer than 3 tokens
    assert data._first_words(["a b c", "d e", "f g h"], 4) == ["a b c", "d e"]


def test_the_larger_corpus_mixes_its_sources_in_blocks_of_running_text():
    lines = [f"ptb {i}" for i in range(600)] + [f"sotu {i}" for i in range(400)]
    mixed = data.shuffled_blocks(lines, 100)
    assert sorted(mixed) == sorted(lines) and mixed == data.shuffled_blocks(lines, 100)
    assert any(line.startswith("sotu") for line in mixed[:500])  # not all PTB first
    starts = [index for index in range(0, 1000, 100)]
    assert all(mixed[start:start + 100] == lines[lines.index(mixed[start]):lines.index(mixed[start]) + 100]
               for start in starts)  # each block is running text


@pytest.mark.parametrize(
    "task, text, message",
    [
        ("ner", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects B-VP O\n", "line 4: 3 columns"),
        ("classification", '{"text": "good film", "label": "positive"}\ngood film\tpositive\n', "line 2: not a JSON"),
        ("classification", '{"text": "good film"}\n', 'line 1: a JSON line needs "text" and "label"'),
    ],
)
def test_a_task_file_in_the_wrong_format_is_a_clear_error(tmp_path, task, text, message):
    (tmp_path / "data.txt").write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        downstream.check_task_file(task, str(tmp_path / "data.txt"))
    downstream.check_task_file("ner", os.path.join(pipeline.ROOT, "fixtures", "downstream", "conll2003", "train.txt"))


def _finished_pretraining(directory, overrides, environment):
    """A pretraining directory as `allennlp train` leaves it: its resolved config and an archive."""
    from allennlp.common import Params

    directory.mkdir()
    params = Params.from_file(pipeline.PRETRAIN_CONFIG, json.dumps(overrides), ext_vars=environment)
    (directory / "config.json").write_text(json.dumps(params.as_dict(quiet=True)))
    (directory / "model.tar.gz").write_text("")
    return str(directory)


def test_a_finished_model_of_another_configuration_is_not_reused(tmp_path):
    environment = pretraining.pretraining_environment({"train": "/a/train.txt", "valid": "/a/valid.txt"},
                                                      "/a/targets.bin", 100)
    asked = {"trainer.num_epochs": 1, "model.encoder.layer_norm": False}
    trained = _finished_pretraining(tmp_path / "pretrain", asked, environment)
    moved = {**environment, "ELMO_C_TRAIN": "/elsewhere/train.txt", "ELMO_C_TARGETS": "/elsewhere/targets.bin"}
    pretraining.check_same_training(trained, pipeline.PRETRAIN_CONFIG, asked, moved)
    with pytest.raises(ConfigurationError, match=r"model.encoder.layer_norm: trained False, asked True"):
        pretraining.check_same_training(trained, pipeline.PRETRAIN_CONFIG,
                                        {**asked, "model.encoder.layer_norm": True}, environment)
    with pytest.raises(ConfigurationError, match="trainer.num_epochs"):
        pretraining.check_same_training(trained, pipeline.PRETRAIN_CONFIG, {**asked, "trainer.num_epochs": 2},
                                        environment)


def test_a_part_borrowed_from_another_archive_is_not_compared(tmp_path):
    """The adapt config's `from_archive` encoder is written into the archived config in full."""
    environment = pretraining.pretraining_environment({"train": "/a/train.txt", "valid": "/a/valid.txt"},
                                                      "/a/targets.bin", 100)
    trained = _finished_pretraining(tmp_path / "pretrain", {"trainer.num_epochs": 1}, environment)
    borrowed = {"trainer.num_epochs": 1, "model.encoder": {"type": "from_archive", "archive_file": "/a/m.tar.gz"}}
    pretraining.check_same_training(trained, pipeline.PRETRAIN_CONFIG, borrowed, environment)
    with pytest.raises(ConfigurationError, match="trainer.num_epochs"):
        pretraining.check_same_training(trained, pipeline.PRETRAIN_CONFIG, {**borrowed, "trainer.num_epochs": 2},
                                        environment)
