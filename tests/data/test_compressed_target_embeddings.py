import contextlib
import io
import json
import logging
import os
import struct
from fractions import Fraction

import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.testing import ModelTestCase
from allennlp.data import Vocabulary

from elmo_c.commands.compress_targets import compress_targets
from elmo_c.config_defaults import FIXTURES
from elmo_c.data.target_embeddings import CompressedTargetEmbeddings, TargetEmbeddings
from elmo_c.compression.ctt_format import CompressedTargetFile, write_compressed_targets
from elmo_c.compression.rounded_matmul import rounded_matmul as _rounded_matmul
from elmo_c.data.target_embeddings.compressed import CompressedRows

DIM = 6
FILE_WORDS = ["the", "cat", "sat", "on", "mat", "dog", "Paris", "ran"]
# Padding and OOV (rows 0, 1), file words in another order, a word only in lowercase
# in the file ("The"), and words the file lacks.
VOCAB_WORDS = ["mat", "cat", "The", "giraffe", "the", "Paris", "ran", "zebra", "dog"]
PADDING, OOV = 0, 1


def make_vocab(words=VOCAB_WORDS):
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(list(words), "tokens")
    return vocab


def subspace_arrays(num_rows=len(FILE_WORDS), seed=0):
    """2 groups of 3 dimensions, 4 centroids each."""
    generator = numpy.random.default_rng(seed)
    centroids = generator.normal(size=(2, 4, 3)).astype(numpy.float32)
    codes = generator.integers(0, 4, size=(num_rows, 2)).astype(numpy.uint8)
    expected = numpy.concatenate([centroids[0, codes[:, 0]], centroids[1, codes[:, 1]]], axis=1)
    return {"codes": codes, "centroids": centroids}, expected


def residual_arrays(num_rows=len(FILE_WORDS), seed=0):
    """2 residual stages of 3 groups of 2 dimensions, 4 float16 centroids each, and a rotation."""
    generator = numpy.random.default_rng(seed)
    centroids = generator.normal(size=(2, 3, 4, 2)).astype(numpy.float16)
    codes = generator.integers(0, 4, size=(num_rows, 6)).astype(numpy.uint8)
    rotation = numpy.linalg.qr(generator.normal(size=(DIM, DIM)))[0].astype(numpy.float32)
    summed = numpy.zeros((num_rows, DIM))
    for stage, group in numpy.ndindex(2, 3):
        summed[:, 2 * group : 2 * group + 2] += centroids[stage, group, codes[:, 3 * stage + group]]
    return {"codes": codes, "centroids": centroids, "rotation": rotation}, summed @ rotation.T


def exact_head_arrays(num_rows=len(FILE_WORDS), seed=0, head=3):
    """The residual table with its first `head` rows stored exactly (float16) instead of as codes."""
    arrays, expected = residual_arrays(num_rows - head, seed)
    exact = numpy.random.default_rng(seed + 1).normal(size=(head, DIM)).astype(numpy.float16)
    arrays["exact"] = exact
    return arrays, numpy.concatenate([exact.astype(numpy.float64), expected])


def autoencoder_arrays(num_rows=len(FILE_WORDS), seed=0):
    """3 float16 codes, a linear map and a tanh layer of 5 units."""
    generator = numpy.random.default_rng(seed)
    arrays = {
        "codes": generator.normal(size=(num_rows, 3)).astype(numpy.float16),
        "basis": generator.normal(size=(3, DIM)).astype(numpy.float32),
        "mean": generator.normal(size=DIM).astype(numpy.float32),
        "hidden_weight": generator.normal(size=(3, 5)).astype(numpy.float32),
        "hidden_bias": generator.normal(size=5).astype(numpy.float32),
        "output_weight": generator.normal(size=(5, DIM)).astype(numpy.float32),
    }
    codes = arrays["codes"].astype(numpy.float64)
    expected = codes @ arrays["basis"] + arrays["mean"]
    expected += numpy.tanh(codes @ arrays["hidden_weight"] + arrays["hidden_bias"]) @ arrays["output_weight"]
    return arrays, expected


def write_table(path, method="subspace", words=FILE_WORDS):
    """
    A table of `method`: "subspace", "autoencoder", "residual" (a subspace table with
    version 2's arrays) or "exact" (the residual table with exact leading rows).
    """
    make = {"subspace": subspace_arrays, "residual": residual_arrays, "exact": exact_head_arrays,
            "autoencoder": autoencoder_arrays}[method]
    arrays, expected = make(len(words))
    method = "subspace" if method in ("residual", "exact") else method
    write_compressed_targets(str(path), method, words, DIM, arrays, {"made_by": "a test"})
    return str(path), expected


def targets_for(path, vocab=None, **kwargs):
    return CompressedTargetEmbeddings(vocab or make_vocab(), path=str(path), embedding_dim=DIM, **kwargs)


def all_rows(targets):
    return targets.lookup(torch.arange(targets.num_rows))


def expected_rows(vocab, expected, lowercase=True):
    """The vocabulary's rows and validity, from the file's rows `expected`."""
    rows = numpy.zeros((vocab.get_vocab_size("tokens"), DIM), dtype=numpy.float32)
    valid = numpy.zeros(len(rows), dtype=bool)
    for index in range(2, len(rows)):
        word = vocab.get_token_from_index(index, "tokens")
        word = word if word in FILE_WORDS or not lowercase else word.lower()
        if word in FILE_WORDS:
            rows[index], valid[index] = expected[FILE_WORDS.index(word)], True
    return rows, valid


# -- decoding and alignment -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["subspace", "residual", "exact", "autoencoder"])
def test_rows_are_the_files_decoded_and_aligned_by_word(tmp_path, method, caplog):
    path, expected = write_table(tmp_path / "t.ctt", method)
    vocab = make_vocab()
    with caplog.at_level(logging.INFO):
        rows, valid = all_rows(targets_for(path, vocab))
    want_rows, want_valid = expected_rows(vocab, expected)
    assert rows.dtype == torch.float32 and rows.shape == (len(VOCAB_WORDS) + 2, DIM)
    numpy.testing.assert_allclose(rows.numpy(), want_rows, rtol=1e-5, atol=1e-5)
    assert valid.tolist() == want_valid.tolist()
    assert not valid[[PADDING, OOV]].any() and not rows[[PADDING, OOV]].any()
    assert rows[vocab.get_token_index("The")].tolist() == rows[vocab.get_token_index("the")].tolist()
    assert not rows[vocab.get_token_index("giraffe")].any()
    assert "6 exact (54.5%), 0 subword (0.0%), 1 lowercased (9.1%), 4 missing (36.4%)" in caplog.text
    assert "t.ctt" in caplog.text


def test_without_lowercase_fallback(tmp_path):
    path, expected = write_table(tmp_path / "t.ctt")
    vocab = make_vocab()
    rows, valid = all_rows(targets_for(path, vocab, lowercase_fallback=False))
    assert not valid[vocab.get_token_index("The")]
    want_rows, want_valid = expected_rows(vocab, expected, lowercase=False)
    numpy.testing.assert_allclose(rows.numpy(), want_rows, rtol=1e-6)
    assert valid.tolist() == want_valid.tolist()


@pytest.mark.parametrize("method", ["residual", "exact", "autoencoder"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4)])
def test_a_batch_decodes_as_the_whole_tables_rows(tmp_path, shape, method):
    path, _ = write_table(tmp_path / "t.ctt", method)
    targets = targets_for(path)
    ids = torch.randint(0, targets.num_rows, shape, generator=torch.Generator().manual_seed(0))
    rows, valid = targets.lookup(ids)
    assert rows.shape == shape + (DIM,) and valid.shape == shape and valid.dtype == torch.bool
    table, table_valid = all_rows(targets)
    assert torch.equal(rows.reshape(-1, DIM), table[ids.reshape(-1)])
    assert torch.equal(valid.reshape(-1), table_valid[ids.reshape(-1)])


# Tables of every decoder, big enough for BLAS to pick other kernels (and orders of summation) for other batch sizes.
DECODERS = ["subspace", "rotated", "stages", "rotated_stages", "svd", "linear_autoencoder", "autoencoder", "exact"]


def decoder_arrays(kind, num_rows, dim, seed=0):
    """
    The method and random arrays of a table of `kind` (one of DECODERS; `dim` a multiple of 12):
    subspace groups of 4 dimensions with 16 centroids, in one float32 stage or ("stages") 3 float16
    ones, and a rotation of the same dtype ("rotated"); svd and autoencoder codes of `dim / 3`, the
    autoencoder's hidden layer of `4 dim / 3` units; "exact": the autoencoder's table with its first
    tenth of rows exact (float16).
    """
    generator = numpy.random.default_rng(seed)
    if kind == "exact":
        method, arrays = decoder_arrays("autoencoder", num_rows - num_rows // 10, dim, seed)
        arrays["exact"] = generator.normal(size=(num_rows // 10, dim)).astype(numpy.float16)
        return method, arrays
    if kind in ("subspace", "rotated", "stages", "rotated_stages"):
        stages, dtype = (3, numpy.float16) if kind.endswith("stages") else (1, numpy.float32)
        arrays = {
            "codes": generator.integers(0, 16, size=(num_rows, stages * dim // 4)).astype(numpy.uint8),
            "centroids": generator.normal(size=(stages, dim // 4, 16, 4)).astype(dtype),
        }
        if kind.startswith("rotated"):
            arrays["rotation"] = numpy.linalg.qr(generator.normal(size=(dim, dim)))[0].astype(dtype)
        return "subspace", arrays
    k, hidden = dim // 3, 4 * dim // 3
    arrays = {
        "codes": generator.normal(size=(num_rows, k)).astype(numpy.float16),
        "basis": generator.normal(size=(k, dim)).astype(numpy.float32),
        "mean": generator.normal(size=dim).astype(numpy.float32),
    }
    if kind == "autoencoder":
        arrays.update(
            hidden_weight=generator.normal(size=(k, hidden)).astype(numpy.float32),
            hidden_bias=generator.normal(size=hidden).astype(numpy.float32),
            output_weight=generator.normal(size=(hidden, dim)).astype(numpy.float32),
        )
    return ("svd" if kind == "svd" else "autoencoder"), arrays


def decoder_table(path, kind, num_rows, dim):
    method, arrays = decoder_arrays(kind, num_rows, dim)
    write_compressed_targets(str(path), method, [f"w{row}" for row in range(num_rows)], dim, arrays, {})
    return CompressedTargetFile(str(path)), arrays


def assert_same_bits(decoded, expected, what):
    assert decoded.dtype == expected.dtype == numpy.float32 and decoded.shape == expected.shape, what
    differing = (decoded.view(numpy.uint32) != expected.view(numpy.uint32)).any(axis=-1)
    assert not differing.any(), f"{what}: {differing.sum()} of {len(differing)} rows differ in their bits"


def nearest_float32(value):
    """A `Fraction` rounded to the nearest float32 (ties to even; zero is 0.0, never -0.0)."""
    candidate = numpy.float32(float(value))  # the nearest or one of its neighbours
    below = candidate if Fraction(float(candidate)) <= value else numpy.nextafter(candidate, numpy.float32(-numpy.inf))
    above = numpy.nextafter(below, numpy.float32(numpy.inf))
    under, over = value - Fraction(float(below)), Fraction(float(above)) - value
    if under != over:
        nearest = below if under < over else above
    else:
        nearest = below if below.view(numpy.int32) % 2 == 0 else above
    return nearest + numpy.float32(0.0)


def exactly_rounded(a, b):
    """`a @ b` by loops, each element its exact value (fractions) rounded once to float32."""
    rows = [[Fraction(float(x)) for x in row] for row in a]
    columns = [[Fraction(float(x)) for x in column] for column in numpy.asarray(b).T]
    values = [[nearest_float32(sum(x * y for x, y in zip(row, column))) for column in columns] for row in rows]
    return numpy.array(values, dtype=numpy.float32).reshape(len(rows), len(columns))


def reference_decode(arrays, dim):
    """The table's rows as the format defines them: stages summed in order, every product exactly rounded."""
    codes = arrays["codes"]
    if "centroids" in arrays:
        centroids = arrays["centroids"]
        stages, groups = centroids.shape[:2]
        vectors = None
        for stage in range(stages):
            piece = centroids[stage, numpy.arange(groups), codes[:, stage * groups : (stage + 1) * groups]]
            piece = piece.astype(numpy.float32).reshape(len(codes), dim)
            vectors = piece if vectors is None else vectors + piece
        if "rotation" in arrays:
            vectors = exactly_rounded(vectors, arrays["rotation"].T)
    else:
        values = codes.astype(numpy.float32)
        vectors = exactly_rounded(values, arrays["basis"]) + arrays["mean"]
        if "hidden_weight" in arrays:
            hidden = numpy.tanh(exactly_rounded(values, arrays["hidden_weight"]) + arrays["hidden_bias"])
            vectors = vectors + exactly_rounded(hidden, arrays["output_weight"])
    exact = arrays.get("exact", numpy.zeros((0, dim))).astype(numpy.float32)
    return numpy.concatenate([exact, vectors])


@pytest.mark.parametrize("kind", DECODERS)
def test_a_row_decodes_to_the_same_bits_in_any_batch(tmp_path, kind):
    source, _ = decoder_table(tmp_path / "t.ctt", kind, num_rows=1200, dim=48)
    table = source.decode(numpy.arange(source.num_rows))
    alone = numpy.concatenate([source.decode(numpy.array([row])) for row in range(source.num_rows)])
    assert_same_bits(alone, table, "each row decoded alone")
    generator = numpy.random.default_rng(0)
    for size in (1, 2, 7, 64, 1000):
        for start in (0, 5, source.num_rows - size):
            rows = numpy.arange(start, start + size)
            assert_same_bits(source.decode(rows), table[rows], f"rows {start} to {start + size - 1}")
        rows = generator.choice(source.num_rows, size, replace=False)  # each row at another position
        assert_same_bits(source.decode(rows), table[rows], f"{size} random rows")
        rows = generator.integers(0, source.num_rows, size)
        assert_same_bits(source.decode(rows), table[rows], f"{size} random rows, some repeated")
    for chunk_rows in (7, 300):
        chunks = numpy.concatenate([vectors for _, vectors in source.decode_all(chunk_rows)])
        assert_same_bits(chunks, table, f"decode_all in chunks of {chunk_rows} rows")


@pytest.mark.parametrize("kind", DECODERS)
def test_rows_decode_as_the_reference_decoder(tmp_path, kind):
    """No order of summation (BLAS's or numpy's) shows in the rows, whatever the machine."""
    source, arrays = decoder_table(tmp_path / "t.ctt", kind, num_rows=40, dim=12)
    assert_same_bits(source.decode(numpy.arange(source.num_rows)), reference_decode(arrays, 12), kind)


def product_operands(values):
    """Operands of `_rounded_matmul` whose exact sums are hard to round (more rows than one block)."""
    generator = numpy.random.default_rng(0)
    a, b = generator.normal(size=(300, 24)), generator.normal(size=(24, 5))
    if values == "float16":  # sums of few bits: many fall on midpoints between float32 values
        a, b = a.astype(numpy.float16), b.astype(numpy.float16)
    elif values == "ties":  # 1 + 2**-24 is a midpoint: what is added to it, if anything, decides
        tails = generator.choice([0.0, 2.0**-60, -(2.0**-60), 2.0**-30, 3 * 2.0**-26, -(2.0**-149)], size=300)
        a = numpy.stack([numpy.ones(300), numpy.full(300, 2.0**-24), tails], axis=1)
        b = numpy.array([[1.0, 1.0, -1.0], [1.0, 3.0, -1.0], [1.0, 1.0, -1.0]])
    elif values == "cancelling":  # large products that cancel, leaving a small sum
        a = numpy.concatenate([a[:, :12], -a[:, :12] * (1 + generator.normal(size=(300, 12)) * 1e-6)], axis=1)
        b = numpy.concatenate([b[:12], b[:12]])
    elif values == "tiny":  # subnormal float32 sums
        a, b = a * 1e-22, b * 1e-22
    elif values == "zeros":  # zero rows against negative columns: products -0.0
        a[::3], b = 0.0, -numpy.abs(b)
    return a.astype(numpy.float32), b.astype(numpy.float32)


@pytest.mark.parametrize("values", ["normal", "float16", "ties", "cancelling", "tiny", "zeros"])
def test_products_are_the_exact_sums_rounded_once(values):
    a, b = product_operands(values)
    assert_same_bits(_rounded_matmul(a, b), exactly_rounded(a, b), values)
    assert_same_bits(_rounded_matmul(a[::-1], b)[::-1], exactly_rounded(a, b), f"{values}, rows reversed")


def test_lookup_and_unit_chunks_decode_only_what_they_return(tmp_path, monkeypatch):
    path, _ = write_table(tmp_path / "t.ctt", "subspace", words=[f"w{i}" for i in range(500)])
    vocab = make_vocab([f"w{i}" for i in range(500)])
    decoded = []
    original = CompressedTargetFile.decode
    monkeypatch.setattr(CompressedTargetFile, "decode", lambda self, rows: decoded.append(len(rows)) or
                        original(self, rows))
    targets = targets_for(path, vocab)
    targets.lookup(torch.tensor([[5, 9, 9], [300, 0, 1]]))
    assert decoded == [4]  # padding and OOV have no row in the file
    assert isinstance(targets._matrix, CompressedRows) and targets._matrix.shape == (502, DIM)
    decoded.clear()
    chunks = list(targets.unit_chunks(64, torch.device("cpu")))
    assert len(chunks) == 8 and max(decoded) <= 64 and sum(decoded) == 500


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_unit_chunks_cover_the_table(tmp_path, chunk_size):
    path, _ = write_table(tmp_path / "t.ctt", "autoencoder")
    targets = targets_for(path)
    chunks = list(targets.unit_chunks(chunk_size, torch.device("cpu")))
    assert len(chunks) == -(-targets.num_rows // chunk_size)
    unit = torch.cat([chunk for chunk, _ in chunks])
    valid = torch.cat([mask for _, mask in chunks])
    rows, expected_valid = all_rows(targets)
    assert torch.equal(valid, expected_valid)
    torch.testing.assert_close(unit[valid], rows[valid] / rows[valid].norm(dim=-1, keepdim=True))


def test_mask_missing_false_gives_the_mean_of_the_decoded_vectors(tmp_path):
    path, expected = write_table(tmp_path / "t.ctt", "autoencoder")
    vocab = make_vocab()
    rows, valid = all_rows(targets_for(path, vocab, mask_missing=False))
    want_rows, want_valid = expected_rows(vocab, expected)
    mean = want_rows[want_valid].mean(axis=0)
    numpy.testing.assert_allclose(rows[vocab.get_token_index("zebra")].numpy(), mean, rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(rows[want_valid].numpy(), want_rows[want_valid], rtol=1e-5, atol=1e-5)
    assert valid[2:].all() and not valid[:2].any()


@pytest.mark.parametrize("memory_map", [True, False])
def test_the_codes_are_memory_mapped_or_read(tmp_path, memory_map):
    path, _ = write_table(tmp_path / "t.ctt")
    targets = targets_for(path, memory_map=memory_map)
    mapped_rows, _ = all_rows(targets)
    assert isinstance(targets._matrix.source.codes, numpy.memmap) == memory_map
    assert torch.equal(mapped_rows, all_rows(targets_for(path, memory_map=not memory_map))[0])


def test_construction_by_name_and_nothing_read_before_use(tmp_path):
    params = Params({"type": "compressed", "path": str(tmp_path / "later.ctt"), "embedding_dim": DIM})
    targets = TargetEmbeddings.from_params(params, vocab=make_vocab())
    assert isinstance(targets, CompressedTargetEmbeddings) and targets._matrix is None
    with pytest.raises(ConfigurationError, match="later.ctt does not exist"):
        targets.lookup(torch.tensor([2]))
    write_table(tmp_path / "later.ctt")
    assert targets.lookup(torch.tensor([2]))[1].item()


def test_the_table_is_not_a_module_or_state(tmp_path):
    path, _ = write_table(tmp_path / "t.ctt")
    targets = targets_for(path)
    targets.load()
    holder = torch.nn.Module()
    holder.targets = targets
    assert holder.state_dict() == {} and list(holder.parameters()) == []


def test_dimension_mismatch_and_zero_coverage(tmp_path):
    path, _ = write_table(tmp_path / "t.ctt")
    with pytest.raises(ConfigurationError, match=r"t.ctt gave vectors of shape \(6,\).*embedding_dim=8.*to 6"):
        CompressedTargetEmbeddings(make_vocab(), path=path, embedding_dim=8).load()
    with pytest.raises(ConfigurationError, match="None of the 4 words .* has a vector in .*t.ctt"):
        targets_for(path, make_vocab(["qqq", "zzz"])).load()


# -- bad files -------------------------------------------------------------------------------------


def edit_header(path, edit):
    """Rewrites the JSON header in place (padded to its length, so the arrays stay put)."""
    data = bytearray(open(path, "rb").read())
    length = struct.unpack("<Q", data[8:16])[0]
    header = json.loads(data[16 : 16 + length])
    edit(header)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    assert len(text) <= length
    data[16 : 16 + length] = text + b" " * (length - len(text))
    open(path, "wb").write(bytes(data))


def load_error(path):
    with pytest.raises(ConfigurationError) as error:
        targets = targets_for(path)
        targets.lookup(torch.arange(targets.num_rows))
    return str(error.value)


def test_a_missing_file_names_it(tmp_path):
    assert "nothing.ctt does not exist" in load_error(tmp_path / "nothing.ctt")


@pytest.mark.parametrize("file_name", ["vectors.npy", "vectors.vec", "fasttext.bin"])
def test_another_format_is_rejected(fixtures_dir, file_name):
    message = load_error(os.path.join(fixtures_dir, "targets", file_name))
    assert f"{file_name} is not a compressed target file" in message and "`npy`, `text` or `fasttext`" in message


@pytest.mark.parametrize("keep", [4, 12, 100, -200, -1])
def test_a_truncated_file_is_rejected(tmp_path, keep):
    path, _ = write_table(tmp_path / "t.ctt")
    data = open(path, "rb").read()
    (tmp_path / "cut.ctt").write_bytes(data[:keep])
    message = load_error(tmp_path / "cut.ctt")
    assert "cut.ctt is truncated" in message, message


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda h: h.update(version=4), "has format version 4 but this elmo_c reads versions 1, 2, 3"),
        (lambda h: h.update(format="other"), "is not a compressed target file"),
        (lambda h: h.update(method="lsh"), "its method 'lsh' is none of"),
        (lambda h: h.update(num_rows=9), "its codes have shape"),
        (lambda h: h.update(dim=7), "2 groups of 3 dimensions do not make its dimension 7"),
        (lambda h: h["arrays"]["codes"].update(dtype="<f4"), "its codes are float32, not uint8 or uint16"),
        (lambda h: h["arrays"].pop("centroids"), "subspace needs"),
        (lambda h: h["arrays"]["codes"].update(dtype="|O"), "describes the array 'codes'"),
    ],
)
def test_a_corrupt_header_is_rejected(tmp_path, edit, message):
    path, _ = write_table(tmp_path / "t.ctt")
    edit_header(path, edit)
    error = load_error(path)
    assert "t.ctt" in error and message in error, error


def test_a_version_1_file_still_loads(tmp_path):
    path, expected = write_table(tmp_path / "t.ctt")  # one stage: 3-d float32 centroids, as version 1 wrote them
    edit_header(path, lambda h: h.update(version=1))
    vocab = make_vocab()
    numpy.testing.assert_allclose(all_rows(targets_for(path, vocab))[0].numpy(), expected_rows(vocab, expected)[0])


@pytest.mark.parametrize(
    "make, edit, message",
    [
        (residual_arrays, lambda a: a.update(rotation=a["rotation"][:, :4]),
         "its rotation is float32 (6, 4), not float32 or float16 (6, 6)"),
        (residual_arrays, lambda a: a.update(rotation=a["rotation"].astype(numpy.float64)),
         "its rotation is float64 (6, 6)"),
        (residual_arrays, lambda a: a.update(codes=a["codes"][:, :3]), "its codes have shape (8, 3), not (8, 6)"),
        (residual_arrays, lambda a: a.update(centroids=a["centroids"].astype(numpy.float64)),
         "not float32 or float16 3-d or 4-d"),
        (residual_arrays, lambda a: a.update(centroids=a["centroids"][None]), "not float32 or float16 3-d or 4-d"),
        (exact_head_arrays, lambda a: a.update(exact=a["exact"][:, :4]),
         "its exact rows are float16 (3, 4), not float32 or float16"),
        (exact_head_arrays, lambda a: a.update(exact=a["exact"].astype(numpy.int16)),
         "its exact rows are int16 (3, 6)"),
        (exact_head_arrays, lambda a: a.update(exact=numpy.ones((9, DIM), numpy.float16)),
         "its exact rows are float16 (9, 6)"),
        (exact_head_arrays, lambda a: a.update(codes=a["codes"][1:]), "its codes have shape (4, 6), not (5, 6)"),
        (exact_head_arrays, lambda a: a["exact"].__setitem__((1, 1), numpy.nan),
         "its exact has NaN or infinite values"),
    ],
)
def test_bad_subspace_arrays_are_rejected(tmp_path, make, edit, message):
    arrays, _ = make()
    edit(arrays)
    write_compressed_targets(str(tmp_path / "r.ctt"), "subspace", FILE_WORDS, DIM, arrays, {})
    error = load_error(tmp_path / "r.ctt")
    assert "r.ctt" in error and message in error, error


def test_exact_rows_are_the_leading_rows_and_the_codes_the_others(tmp_path):
    path, expected = write_table(tmp_path / "e.ctt", "exact")
    source = CompressedTargetFile(path)
    assert source.exact_rows == 3 and len(source.codes) == len(FILE_WORDS) - 3
    rows = numpy.array([7, 0, 3, 2, 2, 5])  # exact and coded rows, mixed and repeated
    numpy.testing.assert_allclose(source.decode(rows), expected[rows], rtol=1e-5, atol=1e-5)
    numpy.testing.assert_array_equal(source.decode(rows[1:3]), source.decode(rows)[1:3])


def test_groups_that_do_not_divide_the_dimension_are_rejected(tmp_path):
    arrays = {"codes": numpy.zeros((8, 4), numpy.uint8), "centroids": numpy.zeros((4, 4, 1), numpy.float32)}
    write_compressed_targets(str(tmp_path / "g.ctt"), "subspace", FILE_WORDS, DIM, arrays, {})
    assert "4 groups of 1 dimensions do not make its dimension 6" in load_error(tmp_path / "g.ctt")


def test_more_than_256_centroids_need_uint16_codes(tmp_path):
    arrays = {"codes": numpy.zeros((8, 2), numpy.uint8), "centroids": numpy.ones((2, 257, 3), numpy.float32)}
    write_compressed_targets(str(tmp_path / "k.ctt"), "subspace", FILE_WORDS, DIM, arrays, {})
    message = load_error(tmp_path / "k.ctt")
    assert "k.ctt" in message and "uint8 codes cannot index 257 centroids per group (at most 256)" in message
    arrays["codes"] = arrays["codes"].astype(numpy.uint16) + 256
    write_compressed_targets(str(tmp_path / "k16.ctt"), "subspace", FILE_WORDS, DIM, arrays, {})
    assert all_rows(targets_for(tmp_path / "k16.ctt"))[1].any()


def test_bad_contents_are_rejected(tmp_path):
    arrays, _ = subspace_arrays()
    arrays["codes"][1, 1] = 7  # only 4 centroids; row 1 is "cat"
    write_compressed_targets(str(tmp_path / "codes.ctt"), "subspace", FILE_WORDS, DIM, arrays, {})
    assert "codes.ctt" in load_error(tmp_path / "codes.ctt") and "codes beyond" in load_error(tmp_path / "codes.ctt")
    arrays, _ = autoencoder_arrays()
    arrays["output_weight"][0, 0] = numpy.nan
    write_compressed_targets(str(tmp_path / "nan.ctt"), "autoencoder", FILE_WORDS, DIM, arrays, {})
    assert "its output_weight has NaN" in load_error(tmp_path / "nan.ctt")
    arrays, _ = autoencoder_arrays()
    arrays["codes"][1, 0] = numpy.inf
    write_compressed_targets(str(tmp_path / "inf.ctt"), "autoencoder", FILE_WORDS, DIM, arrays, {})
    assert "decodes to NaN or infinite values" in load_error(tmp_path / "inf.ctt")
    arrays, _ = autoencoder_arrays()
    arrays.pop("hidden_bias")
    write_compressed_targets(str(tmp_path / "part.ctt"), "autoencoder", FILE_WORDS, DIM, arrays, {})
    assert "only some of the hidden-layer arrays" in load_error(tmp_path / "part.ctt")
    arrays, _ = autoencoder_arrays()
    arrays["basis"] = arrays["basis"][:, :4]
    write_compressed_targets(str(tmp_path / "basis.ctt"), "autoencoder", FILE_WORDS, DIM, arrays, {})
    assert "its basis is float32 (3, 4), not float32 (3, 6)" in load_error(tmp_path / "basis.ctt")


def test_a_word_count_that_does_not_match_is_rejected(tmp_path):
    path, _ = write_table(tmp_path / "t.ctt")
    edit_header(path, lambda h: h["arrays"]["words"].update(shape=[h["arrays"]["words"]["shape"][0] - 4]))
    assert "it lists 7 words for 8 rows" in load_error(path)
    with pytest.raises(ConfigurationError, match="words may not contain a newline"):
        write_table(tmp_path / "nl.ctt", words=FILE_WORDS[:-1] + ["two\nlines"])
    assert not os.path.exists(tmp_path / "nl.ctt")


def test_invalid_json_is_rejected(tmp_path):
    path, _ = write_table(tmp_path / "t.ctt")
    data = bytearray(open(path, "rb").read())
    data[16] = ord("[")
    open(path, "wb").write(bytes(data))
    assert "t.ctt is not a valid compressed target file: its header is not valid JSON" in load_error(path)


# -- training -------------------------------------------------------------------------------------


class TestTrainingWithCompressedTargets(ModelTestCase):
    """The tiny ELMo-C config with its targets compressed (the `.ctt` extension picks the type)."""

    def setup_method(self):
        super().setup_method()
        compressed = str(self.TEST_DIR / "vectors.ctt")
        with contextlib.redirect_stdout(io.StringIO()):
            compress_targets(os.path.join(FIXTURES, "targets", "vectors.npy"), compressed, groups=8, centroids=64,
                             threads=1, neighbour_sample=0)
        self.previous_targets = os.environ.get("ELMO_C_TEST_TARGETS")
        os.environ["ELMO_C_TEST_TARGETS"] = compressed
        self.set_up_model(os.path.join(FIXTURES, "configs", "elmo_c_tiny.jsonnet"),
                          os.path.join(FIXTURES, "lm", "train.txt"))

    def teardown_method(self):
        if self.previous_targets is None:
            os.environ.pop("ELMO_C_TEST_TARGETS", None)
        else:
            os.environ["ELMO_C_TEST_TARGETS"] = self.previous_targets
        super().teardown_method()

    def test_the_tiny_model_trains_saves_and_loads(self):
        model, loaded = self.ensure_model_can_train_save_and_load(self.param_file, seed=13)
        for trained in (model, loaded):
            targets = trained.output_layer.target_embeddings
            assert isinstance(targets, CompressedTargetEmbeddings) and targets.path.endswith("vectors.ctt")
        assert isinstance(model.output_layer.target_embeddings._matrix, CompressedRows)
        assert -1.0 <= model.get_metrics()["cosine"] <= 1.0


def test_a_compressed_table_refuses_to_be_centred_when_read(tmp_path):
    path, _ = write_table(tmp_path / "t.ctt", "subspace")
    with pytest.raises(ConfigurationError, match="cannot be normalised or centred"):
        CompressedTargetEmbeddings(make_vocab(["w0"]), path=str(path), embedding_dim=DIM, centre="uniform")


def test_a_device_resident_table_is_the_decoded_table(tmp_path):
    path, _ = write_table(tmp_path / "t.ctt", "subspace")
    on_host, resident = targets_for(path), targets_for(path, device_resident=True)
    ids = torch.arange(on_host.num_rows).flip(0)
    rows, valid = resident.lookup(ids)
    expected_rows, expected_valid = on_host.lookup(ids)
    assert torch.equal(rows, expected_rows) and torch.equal(valid, expected_valid)
