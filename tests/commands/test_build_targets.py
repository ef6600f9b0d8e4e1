import os
import subprocess
import sys

import fasttext
import pytest
from allennlp.common.checks import ConfigurationError

from elmo_c.commands.build_targets import train_fasttext_targets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "fixtures", "lm", "train.txt")
VALID = os.path.join(ROOT, "fixtures", "lm", "valid.txt")
TINY = dict(dim=8, bucket=1000, epochs=1, threads=1, verbose=0)


def corpus_tokens(*paths):
    tokens = set()
    for path in paths:
        with open(path, encoding="utf-8") as corpus:
            tokens.update(corpus.read().split())
    return tokens


def read_vec(path):
    with open(path, encoding="utf-8") as vec_file:
        header = vec_file.readline().split()
        rows = [line.rstrip("\n").split(" ") for line in vec_file]
    return header, rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny model, with its .vec, shared by the tests that only read it."""
    output = str(tmp_path_factory.mktemp("targets") / "targets.bin")
    returned = train_fasttext_targets([TRAIN], output, save_vec=True, **TINY)
    return returned, output


def test_model_loads_with_the_requested_dimension(trained):
    returned, output = trained
    assert returned == output
    model = fasttext.load_model(output)
    assert model.get_dimension() == 8
    assert model.get_word_vector("cat").shape == (8,)
    assert sorted(os.listdir(os.path.dirname(output))) == ["targets.bin", "targets.vec"]


def test_every_corpus_word_is_in_the_dictionary(trained):
    model = fasttext.load_model(trained[1])
    missing = corpus_tokens(TRAIN) - set(model.words)
    assert not missing
    assert "giraffe" not in model.words  # valid-only word: not in the training corpus


def test_save_vec_writes_a_header_with_the_right_counts(trained):
    model = fasttext.load_model(trained[1])
    header, rows = read_vec(trained[1][: -len(".bin")] + ".vec")
    assert header == [str(len(model.words)), "8"]
    assert len(rows) == len(model.words)
    assert all(len(row) == 9 for row in rows)
    assert [row[0] for row in rows] == model.words
    cat = next(row for row in rows if row[0] == "cat")
    assert [float(v) for v in cat[1:]] == pytest.approx(model.get_word_vector("cat"), abs=1e-5)


def test_several_corpus_files_and_globs_are_concatenated(tmp_path):
    output = str(tmp_path / "both.bin")
    valid_glob = os.path.join(ROOT, "fixtures", "lm", "val*.txt")
    train_fasttext_targets([TRAIN, valid_glob], output, **TINY)
    assert corpus_tokens(TRAIN, VALID) <= set(fasttext.load_model(output).words)
    assert os.listdir(tmp_path) == ["both.bin"]  # the concatenated corpus was removed


def test_same_seed_with_one_thread_is_reproducible(tmp_path):
    first, second = str(tmp_path / "first.bin"), str(tmp_path / "second.bin")
    train_fasttext_targets([TRAIN], first, seed=3, **TINY)
    train_fasttext_targets([TRAIN], second, seed=3, **TINY)
    with open(first, "rb") as one, open(second, "rb") as other:
        assert one.read() == other.read()


def test_cli(tmp_path):
    output = str(tmp_path / "cli.bin")
    allennlp = os.path.join(os.path.dirname(sys.executable), "allennlp")
    command = [allennlp, "build-targets", TRAIN, output, "--dim", "4", "--bucket", "1000"]
    command += ["--epochs", "1", "--threads", "1", "--save-vec", "--include-package", "elmo_c"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert fasttext.load_model(output).get_dimension() == 4
    header, _ = read_vec(str(tmp_path / "cli.vec"))
    assert header[1] == "4"
    assert "vocabulary" in result.stderr


def test_missing_corpus_names_the_file(tmp_path):
    missing = str(tmp_path / "no-such-corpus.txt")
    with pytest.raises(ConfigurationError, match="no-such-corpus.txt"):
        train_fasttext_targets([missing], str(tmp_path / "out.bin"), **TINY)
    with pytest.raises(ConfigurationError, match="no-such-\\*.txt"):
        train_fasttext_targets([str(tmp_path / "no-such-*.txt")], str(tmp_path / "out.bin"), **TINY)
    assert not os.path.exists(tmp_path / "out.bin")


def test_empty_corpus_names_the_file(tmp_path):
    empty = tmp_path / "empty-corpus.txt"
    empty.write_text("\n  \n\t\n")
    with pytest.raises(ConfigurationError, match="empty-corpus.txt.*no tokens"):
        train_fasttext_targets([str(empty)], str(tmp_path / "out.bin"), **TINY)
    assert sorted(os.listdir(tmp_path)) == ["empty-corpus.txt"]


@pytest.mark.parametrize(
    "flags, flag_name",
    [({"dim": 0}, "--dim"), ({"minn": 4, "maxn": 3}, "--minn"), ({"epochs": -1}, "--epochs")],
)
def test_invalid_flags_are_rejected(tmp_path, flags, flag_name):
    settings = dict(TINY, **flags)
    with pytest.raises(ConfigurationError, match=flag_name):
        train_fasttext_targets([TRAIN], str(tmp_path / "out.bin"), **settings)
    assert not os.path.exists(tmp_path / "out.bin")


def test_min_count_leaving_no_word_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="train.txt.*min-count"):
        train_fasttext_targets([TRAIN], str(tmp_path / "out.bin"), min_count=10**6, **TINY)
    assert os.listdir(tmp_path) == []  # no temporary .bin left behind


def test_unwritable_output_directory_names_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigurationError, match="a-file.*not writable"):
        train_fasttext_targets([TRAIN], str(blocker / "out.bin"), **TINY)
