import json
import os
import sys

import fasttext
import numpy
import pytest
from allennlp.common.checks import ConfigurationError

from elmo_c.commands.compress_targets import compress_targets, read_input_vectors
from elmo_c.compression.ctt_format import CompressedTargetFile
from elmo_c.compression.fidelity import neighbour_agreement

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = os.path.join(ROOT, "fixtures", "targets")
DIM = 32
FAST = dict(threads=1, neighbour_sample=200)
AUTOENCODER = dict(method="autoencoder", hidden=32, epochs=10, batch_size=256, **FAST)

fasttext.FastText.eprint = lambda *args, **kwargs: None  # a deprecation notice on every load


def structured_table(rows=2000, dim=DIM, clusters=40, latent=6, seed=0):
    """Clusters on a curved 6-d manifold of a 32-d space, with noise and varied norms."""
    generator = numpy.random.default_rng(seed)
    basis = generator.normal(size=(latent, dim))
    centres = generator.normal(size=(clusters, latent))
    points = centres[generator.integers(0, clusters, rows)] + 0.35 * generator.normal(size=(rows, latent))
    table = numpy.tanh(points @ basis / 2) + 0.05 * generator.normal(size=(rows, dim))
    return (table * generator.lognormal(0.0, 0.5, size=(rows, 1))).astype(numpy.float32)


def write_npy(directory, matrix, words=None):
    words = words or [f"w{i}" for i in range(len(matrix))]
    numpy.save(directory / "table.npy", matrix)
    (directory / "table.words.txt").write_text("".join(f"{word}\n" for word in words), encoding="utf-8")
    return str(directory / "table.npy"), words


def decoded_table(path):
    source = CompressedTargetFile(path)
    return numpy.concatenate([rows for _, rows in source.decode_all(chunk_rows=300)])


def cosines(one, other):
    return (one * other).sum(axis=1) / numpy.linalg.norm(one, axis=1) / numpy.linalg.norm(other, axis=1)


@pytest.fixture(scope="module")
def table():
    return structured_table()


@pytest.fixture(scope="module")
def table_file(tmp_path_factory, table):
    return write_npy(tmp_path_factory.mktemp("input"), table)


# -- each method round-trips with good fidelity -------------------------------------------


@pytest.mark.parametrize(
    "options, min_ratio, min_mean, min_p5, min_agreement",
    [
        (dict(method="subspace", groups=8, centroids=64), 9.0, 0.90, 0.75, 0.35),
        (dict(method="subspace", groups=4, centroids=64, stages=2, beam=4, normalize=True, rotate=True,
              centroid_dtype="float16"), 9.0, 0.98, 0.95, 0.7),
        (dict(method="svd", code_dim=8), 7.0, 0.95, 0.90, 0.55),
        (dict(code_dim=8, **AUTOENCODER), 6.0, 0.95, 0.90, 0.55),
    ],
)
def test_round_trip_fidelity(table, table_file, tmp_path, options, min_ratio, min_mean, min_p5, min_agreement):
    options = dict(FAST, **options)
    output = str(tmp_path / "table.ctt")
    report = compress_targets(table_file[0], output, **options)
    with open(output + ".report.json", encoding="utf-8") as stream:
        assert json.load(stream) == report
    decoded = decoded_table(output)
    assert decoded.shape == table.shape and decoded.dtype == numpy.float32
    measured = cosines(table, decoded)
    assert report["cosine_mean"] == pytest.approx(measured.mean(), abs=1e-4)
    assert report["cosine_p5"] == pytest.approx(numpy.percentile(measured, 5), abs=1e-4)
    encoded = table / numpy.linalg.norm(table, axis=1, keepdims=True) if options.get("normalize") else table
    mean = encoded.mean(axis=0)
    assert report["centred_cosine_mean"] == pytest.approx(cosines(encoded - mean, decoded - mean).mean(), abs=1e-4)
    assert report["cosine_mean"] >= min_mean and report["cosine_p5"] >= min_p5
    assert report["neighbour_agreement"] >= min_agreement and report["neighbour_sample"] == 200
    assert report["bytes_before"] == table.size * 4
    assert report["bytes_after"] == CompressedTargetFile(output).payload_bytes < os.path.getsize(output)
    assert report["compression_ratio"] >= min_ratio
    assert report["size_reduction"] == pytest.approx(1 - 1 / report["compression_ratio"], abs=1e-3)
    assert CompressedTargetFile(output).words() == table_file[1]
    assert sorted(os.listdir(tmp_path)) == ["table.ctt", "table.ctt.report.json"]  # no temporary file left


def test_subspace_codes_are_bytes_and_their_centroids(table, table_file, tmp_path):
    output = str(tmp_path / "pq.ctt")
    compress_targets(table_file[0], output, method="subspace", groups=4, centroids=256, **FAST)
    source = CompressedTargetFile(output)
    assert source.codes.dtype == numpy.uint8 and source.codes.shape == (len(table), 4)
    centroids = source._decoder["centroids"][0]  # one stage
    assert source._decoder["centroids"].shape == (1, 4, 256, DIM // 4) and "rotation" not in source._decoder
    row = 17
    expected = numpy.concatenate([centroids[group, source.codes[row, group]] for group in range(4)])
    numpy.testing.assert_array_equal(source.decode([row])[0], expected)
    # Each group's code is its nearest centroid.
    for group in range(4):
        piece = table[row, group * 8 : (group + 1) * 8]
        assert source.codes[row, group] == numpy.argmin(((centroids[group] - piece) ** 2).sum(axis=1))


def squared_error(table, path):
    return float(((table - decoded_table(path)) ** 2).sum(axis=1).mean())


def test_residual_stages_reduce_the_error(tmp_path):
    table = numpy.random.default_rng(1).normal(size=(1500, 16)).astype(numpy.float32)
    path = write_npy(tmp_path, table)[0]
    errors = []
    for stages in (1, 2, 3):
        output = str(tmp_path / f"s{stages}.ctt")
        compress_targets(path, output, groups=4, centroids=16, stages=stages, **FAST)
        source = CompressedTargetFile(output)
        assert source.codes.shape == (1500, 4 * stages) and source._decoder["centroids"].shape == (stages, 4, 16, 4)
        errors.append(squared_error(table, output))
    assert errors[2] < 0.9 * errors[1] < 0.9 * 0.9 * errors[0]
    # The first stage is the one-stage table: later stages only refine it.
    first = CompressedTargetFile(str(tmp_path / "s2.ctt"))
    numpy.testing.assert_array_equal(first.codes[:, :4], CompressedTargetFile(str(tmp_path / "s1.ctt")).codes)


def test_a_beam_search_finds_better_codes_than_stage_by_stage(tmp_path):
    table = numpy.random.default_rng(2).normal(size=(1500, 16)).astype(numpy.float32)
    path = write_npy(tmp_path, table)[0]
    errors = {}
    for beam in (1, 8):
        compress_targets(path, str(tmp_path / f"b{beam}.ctt"), groups=2, centroids=16, stages=3, beam=beam, **FAST)
        errors[beam] = squared_error(table, str(tmp_path / f"b{beam}.ctt"))
    greedy, searched = (CompressedTargetFile(str(tmp_path / f"b{beam}.ctt")) for beam in (1, 8))
    numpy.testing.assert_array_equal(greedy._decoder["centroids"], searched._decoder["centroids"])  # same codebooks
    assert errors[8] < 0.97 * errors[1]


def test_normalize_quantises_the_directions(table, table_file, tmp_path):
    options = dict(groups=8, centroids=64, **FAST)
    report = compress_targets(table_file[0], str(tmp_path / "n.ctt"), normalize=True, **options)
    unit = table / numpy.linalg.norm(table, axis=1, keepdims=True)
    unit_file = write_npy(tmp_path, unit)[0]
    compress_targets(unit_file, str(tmp_path / "unit.ctt"), **options)
    decoded = decoded_table(str(tmp_path / "n.ctt"))
    numpy.testing.assert_array_equal(decoded, decoded_table(str(tmp_path / "unit.ctt")))  # the same table
    assert numpy.median(numpy.linalg.norm(decoded, axis=1)) == pytest.approx(1.0, abs=0.05)
    assert report["norm_ratio_median"] == pytest.approx(1.0, abs=0.05)  # compared with the unit rows
    assert report["centred_cosine_mean"] == pytest.approx(cosines(unit - unit.mean(0), decoded - unit.mean(0)).mean(),
                                                          abs=1e-4)
    assert report["cosine_mean"] == pytest.approx(cosines(table, decoded).mean(), abs=1e-4)
    assert report["cosine_mean"] > 0.95
    assert report["options"]["normalize"] is True


def test_rotate_stores_a_rotation_and_helps_correlated_dimensions(table, table_file, tmp_path):
    options = dict(groups=8, centroids=64, **FAST)
    plain = compress_targets(table_file[0], str(tmp_path / "plain.ctt"), **options)
    rotated = compress_targets(table_file[0], str(tmp_path / "rotated.ctt"), rotate=True, **options)
    source = CompressedTargetFile(str(tmp_path / "rotated.ctt"))
    rotation = source._decoder["rotation"]
    numpy.testing.assert_allclose(rotation.T @ rotation, numpy.eye(DIM), atol=1e-5)
    assert rotated["bytes_after"] == plain["bytes_after"] + DIM * DIM * 4
    assert rotated["cosine_mean"] > plain["cosine_mean"] + 0.02


def test_float16_halves_the_rotation_too(table_file, tmp_path):
    options = dict(groups=8, centroids=64, rotate=True, **FAST)
    full = compress_targets(table_file[0], str(tmp_path / "f32.ctt"), **options)
    half = compress_targets(table_file[0], str(tmp_path / "f16.ctt"), centroid_dtype="float16", **options)
    rotation = CompressedTargetFile(str(tmp_path / "f16.ctt"))._decoder["rotation"]
    assert rotation.dtype == numpy.float16
    assert half["bytes_after"] == full["bytes_after"] - DIM * DIM * 2 - 8 * 64 * (DIM // 8) * 2
    assert half["cosine_mean"] == pytest.approx(full["cosine_mean"], abs=2e-3)


@pytest.mark.parametrize("options", [dict(method="subspace", groups=8, centroids=64, normalize=True),
                                     dict(method="svd", code_dim=4)])
def test_exact_rows_are_kept_and_the_others_compressed_alone(table, tmp_path, options):
    head = 100
    exact = compress_targets(write_npy(tmp_path, table)[0], str(tmp_path / "exact.ctt"), exact_rows=head,
                             **options, **FAST)
    (tmp_path / "tail").mkdir()
    tail_file = write_npy(tmp_path / "tail", table[head:])[0]
    tail = compress_targets(tail_file, str(tmp_path / "tail.ctt"), **options, **FAST)
    decoded = decoded_table(str(tmp_path / "exact.ctt"))
    kept = table[:head]
    if "normalize" in options:
        kept = kept / numpy.linalg.norm(kept, axis=1, keepdims=True)
    numpy.testing.assert_array_equal(decoded[:head], kept.astype(numpy.float16))
    numpy.testing.assert_array_equal(decoded[head:], decoded_table(str(tmp_path / "tail.ctt")))
    assert exact["bytes_after"] == tail["bytes_after"] + head * DIM * 2
    assert exact["options"]["exact_rows"] == head and exact["cosine_mean"] > tail["cosine_mean"]


def test_float16_centroids_halve_the_codebooks(table_file, tmp_path):
    options = dict(groups=8, centroids=64, stages=2, **FAST)
    full = compress_targets(table_file[0], str(tmp_path / "f32.ctt"), **options)
    half = compress_targets(table_file[0], str(tmp_path / "f16.ctt"), centroid_dtype="float16", **options)
    centroids = CompressedTargetFile(str(tmp_path / "f16.ctt"))._decoder["centroids"]
    assert centroids.dtype == numpy.float16 and centroids.nbytes == 2 * 8 * 64 * (DIM // 8) * 2
    assert half["bytes_after"] == full["bytes_after"] - centroids.nbytes
    assert half["cosine_mean"] == pytest.approx(full["cosine_mean"], abs=2e-3)


def test_more_than_256_centroids_use_uint16_codes(table_file, tmp_path):
    output = str(tmp_path / "wide.ctt")
    report = compress_targets(table_file[0], output, method="subspace", groups=4, centroids=300, iterations=2, **FAST)
    source = CompressedTargetFile(output)
    assert source.codes.dtype == numpy.uint16 and int(source.codes.max()) >= 256
    assert report["cosine_mean"] > 0.9


def test_subspace_is_reproducible_with_a_seed(table_file, tmp_path):
    for name in ("one", "two"):
        compress_targets(table_file[0], str(tmp_path / f"{name}.ctt"), groups=8, centroids=16, seed=3, **FAST)
    assert (tmp_path / "one.ctt").read_bytes() == (tmp_path / "two.ctt").read_bytes()


def test_svd_is_the_best_rank_k_approximation(table, table_file, tmp_path):
    output = str(tmp_path / "svd.ctt")
    compress_targets(table_file[0], output, method="svd", code_dim=5, **FAST)
    mean = table.astype(numpy.float64).mean(axis=0)
    _, _, directions = numpy.linalg.svd(table - mean, full_matrices=False)
    expected = (table - mean) @ directions[:5].T @ directions[:5] + mean
    numpy.testing.assert_allclose(decoded_table(output), expected, atol=2e-3 * numpy.abs(table).max())


def test_full_rank_svd_keeps_the_vectors_to_float16_precision(table, table_file, tmp_path):
    output = str(tmp_path / "full.ctt")
    report = compress_targets(table_file[0], output, method="svd", code_dim=DIM, **FAST)
    assert report["cosine_min"] > 0.9999 and report["neighbour_agreement"] > 0.95
    assert report["compression_ratio"] < 2.0


def test_the_autoencoder_beats_svd_at_equal_size(table_file, tmp_path):
    svd = compress_targets(table_file[0], str(tmp_path / "svd.ctt"), method="svd", code_dim=4, **FAST)
    autoencoder = compress_targets(table_file[0], str(tmp_path / "ae.ctt"), code_dim=4, **AUTOENCODER)
    assert autoencoder["cosine_mean"] > svd["cosine_mean"] + 0.002
    assert CompressedTargetFile(str(tmp_path / "ae.ctt")).codes.dtype == numpy.float16


def test_the_magnitude_term_keeps_norms(table_file, tmp_path):
    options = dict(AUTOENCODER, code_dim=4, hidden=128, batch_size=128)
    free = compress_targets(table_file[0], str(tmp_path / "free.ctt"), **options)  # norms drift
    kept = compress_targets(table_file[0], str(tmp_path / "kept.ctt"), magnitude_weight=1.0, **options)
    assert abs(free["norm_ratio_median"] - 1) > 0.1
    assert abs(kept["norm_ratio_median"] - 1) < 0.03


def test_a_linear_autoencoder_stores_no_hidden_layer(table_file, tmp_path):
    output = str(tmp_path / "linear.ctt")
    report = compress_targets(table_file[0], output, **dict(AUTOENCODER, code_dim=8, hidden=0))
    assert set(CompressedTargetFile(output)._decoder) == {"basis", "mean"}
    assert report["cosine_mean"] > 0.95


def test_neighbour_agreement_of_an_exact_copy_is_one(table, table_file, tmp_path):
    output = str(tmp_path / "full.ctt")
    compress_targets(table_file[0], output, method="svd", code_dim=DIM, **FAST)
    assert neighbour_agreement(table, CompressedTargetFile(output), sample=100)["neighbour_agreement"] > 0.9
    shuffled = table[numpy.random.default_rng(0).permutation(len(table))]
    assert neighbour_agreement(shuffled, CompressedTargetFile(output), sample=100)["neighbour_agreement"] < 0.2


# -- inputs -----------------------------------------------------------------------------------


def test_text_input_keeps_every_word_of_the_file(tmp_path):
    path = os.path.join(TARGETS, "vectors.vec")
    words, matrix = read_input_vectors(path)
    with open(path, encoding="utf-8") as stream:
        lines = stream.read().split("\n")[1:-1]
    assert words == [line.split(" ")[0] for line in lines]
    numpy.testing.assert_allclose(matrix[3], [float(v) for v in lines[3].split(" ")[1:]], rtol=1e-6)
    output = str(tmp_path / "text.ctt")
    compress_targets(path, output, method="svd", code_dim=16, **FAST)
    source = CompressedTargetFile(output)
    assert source.words() == words
    numpy.testing.assert_allclose(source.decode([3])[0], matrix[3], atol=2e-3 * numpy.abs(matrix).max())


def test_a_vocabulary_selects_and_aligns_words(tmp_path):
    (tmp_path / "vocab.txt").write_text("@@UNKNOWN@@\ndog\nThe\nqqqqzz\nthe\n", encoding="utf-8")
    vocabulary = str(tmp_path / "vocab.txt")
    words, matrix = read_input_vectors(os.path.join(TARGETS, "vectors.npy"), vocabulary_path=vocabulary)
    assert words == ["dog", "The", "the"]  # no special token, no word without a vector
    numpy.testing.assert_array_equal(matrix[1], matrix[2])  # "The" takes the vector of "the"


def test_fasttext_input_with_a_vocabulary_gets_subword_vectors(tmp_path):
    path = os.path.join(TARGETS, "fasttext.bin")
    (tmp_path / "vocab.txt").write_text("cat\ngiraffe\nzqxjv\n", encoding="utf-8")
    output = str(tmp_path / "ft.ctt")
    compress_targets(path, output, method="svd", code_dim=16, vocabulary_path=str(tmp_path / "vocab.txt"), **FAST)
    model = fasttext.load_model(path)
    source = CompressedTargetFile(output)
    assert source.words() == ["cat", "giraffe", "zqxjv"]
    expected = numpy.stack([model.get_word_vector(word) for word in source.words()])
    numpy.testing.assert_allclose(source.decode([0, 1, 2]), expected, atol=2e-3 * numpy.abs(expected).max())


def test_fasttext_input_without_a_vocabulary_keeps_its_dictionary(tmp_path):
    path = os.path.join(TARGETS, "fasttext.bin")
    words, matrix = read_input_vectors(path, input_type="fasttext")
    assert words == fasttext.load_model(path).get_words(include_freq=False)
    assert matrix.shape == (len(words), 16)


def test_the_command_line(table_file, tmp_path, monkeypatch, capsys):
    from allennlp.commands import main

    output = str(tmp_path / "cli.ctt")
    arguments = ["allennlp", "compress-targets", table_file[0], output, "--method", "svd", "--code-dim", "4",
                 "--threads", "1", "--neighbour-sample", "50"]
    monkeypatch.setattr(sys, "argv", arguments)
    main(prog="allennlp")
    printed = capsys.readouterr().out
    assert "svd (code_dim=4)" in printed and "% smaller" in printed and "top-10 agreement" in printed
    with open(output + ".report.json", encoding="utf-8") as stream:
        report = json.load(stream)
    assert report["method"] == "svd" and report["options"] == {"code_dim": 4} and report["neighbour_sample"] == 50


def test_the_command_line_subspace_options(table_file, tmp_path, monkeypatch):
    from allennlp.commands import main

    output = str(tmp_path / "cli.ctt")
    arguments = ["allennlp", "compress-targets", table_file[0], output, "--groups", "4", "--centroids", "16",
                 "--stages", "2", "--beam", "3", "--normalize", "--rotate", "--centroid-dtype", "float16",
                 "--exact-rows", "10", "--threads", "1", "--neighbour-sample", "0"]
    monkeypatch.setattr(sys, "argv", arguments)
    main(prog="allennlp")
    with open(output + ".report.json", encoding="utf-8") as stream:
        options = json.load(stream)["options"]
    assert options == dict(groups=4, centroids=16, iterations=5, kmeans_sample=65536, stages=2, beam=3,
                           normalize=True, rotate=True, centroid_dtype="float16", seed=0, exact_rows=10)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(groups=5), "--groups 5 does not divide the dimension 32 of .*table.npy: use one of 1, 2, 4, 8, 16, 32"),
        (dict(centroids=70000), "--centroids must be between 2 and 65536"),
        (dict(centroids=1), "--centroids must be between 2 and 65536"),
        (dict(centroids=2001), "--centroids 2001 is more than the 2000 vectors of .*table.npy"),
        (dict(iterations=0), "--iterations must be a positive integer"),
        (dict(stages=0), "--stages must be a positive integer"),
        (dict(beam=0), "--beam must be a positive integer"),
        (dict(centroid_dtype="int8"), "--centroid-dtype must be one of float32, float16, got 'int8'"),
        (dict(method="svd", code_dim=33), "--code-dim must be between 1 and the dimension 32"),
        (dict(method="autoencoder", epochs=0), "--epochs must be a positive integer"),
        (dict(method="autoencoder", magnitude_weight=-1.0), "--magnitude-weight must be 0 or more"),
        (dict(method="pca"), "Unknown method 'pca'"),
        (dict(threads=0), "--threads must be a positive integer"),
        (dict(exact_rows=-1), "--exact-rows must be 0 or more, got -1"),
        (dict(exact_rows=2000), "--exact-rows 2000 leaves nothing to compress of the 2000 vectors of .*table.npy"),
        (dict(exact_rows=100, centroids=1901), "--centroids 1901 is more than the 1900 compressed vectors"),
    ],
)
def test_bad_options_are_rejected(table_file, tmp_path, options, message):
    options = dict(dict(FAST, method="subspace"), **options)
    with pytest.raises(ConfigurationError, match=message):
        compress_targets(table_file[0], str(tmp_path / "out.ctt"), **options)
    assert not os.listdir(tmp_path)


def test_bad_inputs_name_the_file(table_file, tmp_path):
    with pytest.raises(ConfigurationError, match="nothing.npy does not exist"):
        compress_targets(str(tmp_path / "nothing.npy"), str(tmp_path / "out.ctt"), **FAST)
    with pytest.raises(ConfigurationError, match="nothing.vec does not exist"):
        compress_targets(str(tmp_path / "nothing.vec"), str(tmp_path / "out.ctt"), **FAST)
    with pytest.raises(ConfigurationError, match="Vocabulary file .*words.txt does not exist"):
        compress_targets(table_file[0], str(tmp_path / "out.ctt"), vocabulary_path=str(tmp_path / "words.txt"))
    with pytest.raises(ConfigurationError, match="vectors.vec is not a FastText .bin model"):
        read_input_vectors(os.path.join(TARGETS, "vectors.vec"), input_type="fasttext")
    with pytest.raises(ConfigurationError, match="is a directory"):
        compress_targets(table_file[0], str(tmp_path), **FAST)


def test_a_failed_write_keeps_the_previous_output(table_file, tmp_path, monkeypatch):
    output = tmp_path / "out.ctt"
    output.write_bytes(b"previous")

    def interrupted(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compress_targets(table_file[0], str(output), method="svd", code_dim=4, **FAST)
    monkeypatch.undo()
    assert output.read_bytes() == b"previous" and os.listdir(tmp_path) == ["out.ctt"]


# -- centring before compression ----------------------------------------------------------


def test_centred_input_is_read_as_the_training_configs_centre_it(table_file, table, tmp_path):
    path, words = table_file
    _, centred = read_input_vectors(path, centre="uniform")
    unit = table / numpy.linalg.norm(table, axis=1, keepdims=True)
    expected = unit - unit.mean(axis=0)
    numpy.testing.assert_allclose(centred, expected / numpy.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
    compress_targets(path, str(tmp_path / "c.ctt"), method="svd", code_dim=8, centre="uniform", **FAST)
    assert abs(decoded_table(str(tmp_path / "c.ctt")).mean(axis=0)).max() < 0.05


def test_frequency_centring_takes_the_counts_of_a_vocabulary_directory(table_file, tmp_path):
    from elmo_c.data import CountedVocabulary

    path, words = table_file
    with pytest.raises(ConfigurationError, match="needs word counts"):
        read_input_vectors(path, centre="frequency")
    counts = {word: 1000 if i < 10 else 1 for i, word in enumerate(words[:500])}
    CountedVocabulary(counter={"tokens": counts}).save_to_files(str(tmp_path / "vocabulary"))
    kept, centred = read_input_vectors(path, vocabulary_path=str(tmp_path / "vocabulary"), centre="frequency")
    assert sorted(kept) == sorted(words[:500])
    weights = numpy.array([counts[word] for word in kept], dtype=float)
    # Centred on the count-weighted mean (before the last normalisation): the heavy rows dominate it.
    _, uniform = read_input_vectors(path, vocabulary_path=str(tmp_path / "vocabulary"), centre="uniform")
    assert numpy.linalg.norm(weights @ centred) < numpy.linalg.norm(weights @ uniform)
