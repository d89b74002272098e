"""Memory: no transient copies of the input, and memory-mapped modalities streamed from disk (issue 16)."""

import numpy as np
import pytest
import torch

import skcausalmm._core.validation as validation
from skcausalmm import LateFusionClassifier
from skcausalmm._core.batching import MappedRows, gather_rows, is_mapped, iter_batches, release_pages
from skcausalmm._core.data import AVAILABILITY_KEY, StandardizedInputs, TensorBatchIterator, TensorDictDataset
from skcausalmm._core.validation import as_float32, check_modalities, split_missing


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 6)).astype(np.float32)
    b = rng.standard_normal((n, 4)).astype(np.float32)
    y = (a[:, 0] + b[:, 0] > 0).astype(int)
    return a, b, y


def _mapped(tmp_path, name, array, mode="r"):
    path = tmp_path / f"{name}.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=array.dtype, shape=array.shape)
    out[:] = array
    out.flush()
    del out
    return np.load(path, mmap_mode=mode)


def _small(**kw):
    return LateFusionClassifier(hidden_size=8, max_epochs=2, batch_size=64, random_state=0, device="cpu", **kw)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_memmap_fits_and_predicts_like_in_memory(tmp_path, early_stopping):
    a, b, y = _data()
    mapped = {"a": _mapped(tmp_path, "a", a), "b": _mapped(tmp_path, "b", b)}
    in_memory = _small(early_stopping=early_stopping).fit({"a": a, "b": b}, y)
    streamed = _small(early_stopping=early_stopping).fit(mapped, y)
    np.testing.assert_array_equal(streamed.predict_proba(mapped), in_memory.predict_proba({"a": a, "b": b}))
    np.testing.assert_array_equal(streamed.predict_proba({"a": a, "b": b}), in_memory.predict_proba({"a": a, "b": b}))
    assert streamed.history_[:, "train_loss"] == in_memory.history_[:, "train_loss"]


def test_memmap_table_columns_and_missing_rows_stream(tmp_path):
    a, b, y = _data()
    a = a.copy()
    a[:30] = np.nan  # modality "a" missing in 30 rows
    table = np.concatenate([a, b], axis=1)
    mapped = _mapped(tmp_path, "t", table)
    mods = {"a": slice(0, 6), "b": slice(6, 10)}
    data = check_modalities(mapped, estimator=_small(modalities=mods), modalities=mods, allow_missing=True)
    assert all(is_mapped(v) and np.shares_memory(v, mapped) for v in data.values())
    filled, availability = split_missing(data)
    assert filled["a"] is data["a"]  # kept mapped: the NaN rows are zeroed batch by batch
    assert availability[:, 0].sum() == 370
    in_memory = _small(modalities=mods).fit(table, y)
    streamed = _small(modalities=mods).fit(mapped, y)
    np.testing.assert_array_equal(streamed.predict_proba(mapped), in_memory.predict_proba(table))


def test_memmap_with_nan_inside_a_block_raises(tmp_path):
    a, b, y = _data()
    a = a.copy()
    a[123, 2] = np.nan
    mapped = _mapped(tmp_path, "a", a)
    with pytest.raises(ValueError, match=r"Modality 'a' contains NaN in only part of its values in rows 123"):
        _small().fit({"a": mapped, "b": b}, y)
    a[123] = np.inf
    with pytest.raises(ValueError, match=r"Modality 'a' contains infinity .*rows 123"):
        check_modalities({"a": _mapped(tmp_path, "a2", a)})


def test_nan_rows_are_found_in_every_chunk(monkeypatch):
    monkeypatch.setattr(validation, "CHUNK_BYTES", 8 * 6 * 7)  # 7 rows per chunk
    a = np.zeros((50, 6), dtype=np.float32)
    a[[3, 20, 49], 1] = np.nan
    with pytest.raises(ValueError, match=r"rows 3, 20, 49\."):
        check_modalities({"a": a})
    a[[3, 20, 49]] = np.nan
    with pytest.raises(ValueError, match=r"missing \(all NaN\) in 3 of 50 rows"):
        check_modalities({"a": a})
    kept = check_modalities({"a": a, "b": np.ones((50, 2))}, allow_missing=True)["a"]
    assert np.isnan(kept[[3, 20, 49]]).all() and not np.isnan(kept[[0, 21, 48]]).any()


def test_no_copy_of_float32_contiguous_input(monkeypatch):
    a, b, y = _data()
    data = check_modalities({"a": a, "b": b})
    assert data["a"] is a and data["b"] is b
    table = np.ascontiguousarray(np.concatenate([a, b], axis=1))
    assert check_modalities(table, estimator=_small())["X"] is table  # a float32 table is not upcast
    image = check_modalities(table, estimator=_small(), modalities={"img": (slice(0, 10), (1, 2, 5))})["img"]
    assert image.shape == (len(a), 1, 2, 5) and np.shares_memory(image, table)
    # nothing in fit copies the arrays: count the float32 allocations the size of a modality
    kept = {}
    real = LateFusionClassifier._to_tensors

    def spy(self, data, *args, **kwargs):
        kept.update(data)
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(LateFusionClassifier, "_to_tensors", spy)
    est = _small().fit({"a": a, "b": b}, y)
    assert kept["a"] is a and kept["b"] is b
    tensors = est._to_tensors({"a": a}, np.ones((len(a), 1), bool), "cpu")
    assert np.shares_memory(tensors["a"].numpy(), a)


def test_after_fit_standardises_only_what_it_reads():
    a, b, y = _data()
    est = _small().fit({"a": a, "b": b}, y)
    net = est.net_
    tensors = est._to_tensors({"a": a, "b": b}, np.ones((len(a), 2), bool), "cpu")
    tensors[AVAILABILITY_KEY] = torch.ones(len(a), 2)
    lazy = StandardizedInputs(net, tensors)
    assert dict.__getitem__(lazy, "a") is None  # nothing computed yet
    eager, mask = net.prepare_batch(tensors)
    for name in ("a", "b"):
        torch.testing.assert_close(lazy[name], eager[name], rtol=0, atol=0)
    assert set(dict(lazy)) == {"a", "b", AVAILABILITY_KEY} and isinstance(lazy, dict)
    assert {**lazy}["b"] is lazy["b"]


def test_float64_chunked_conversion_equals_astype(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1001, 3, 5)) * 1e3
    monkeypatch.setattr(validation, "CHUNK_BYTES", 8 * 15 * 64)  # 64 rows per chunk: many chunks
    out = as_float32(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, x.astype(np.float32))
    cols = np.array([4, 0, 2])
    np.testing.assert_array_equal(as_float32(x[:, 0, :], columns=cols), x[:, 0, cols].astype(np.float32))
    strided = x[::-2, 1]  # not contiguous: converted too
    np.testing.assert_array_equal(as_float32(strided), strided.astype(np.float32))
    # the table path converts selected columns the same way
    table = rng.standard_normal((300, 8))
    est = _small(modalities={"a": [0, 3, 7], "b": slice(1, 3)})
    data = check_modalities(table, estimator=est, modalities=est.modalities)
    np.testing.assert_array_equal(data["a"], table[:, [0, 3, 7]].astype(np.float32))
    np.testing.assert_array_equal(data["b"], table[:, 1:3].astype(np.float32))


def test_float32_memmap_is_kept_and_float64_memmap_is_converted(tmp_path):
    a, _, _ = _data()
    mapped = _mapped(tmp_path, "a", a)
    kept = check_modalities({"a": mapped})["a"]
    assert is_mapped(kept) and np.shares_memory(kept, mapped)
    converted = check_modalities({"a": _mapped(tmp_path, "a64", a.astype(np.float64))})["a"]
    assert not is_mapped(converted) and converted.dtype == np.float32
    np.testing.assert_array_equal(converted, a)


def test_mapped_rows_gather_in_index_order_and_release(tmp_path):
    a, _, _ = _data()
    mapped = _mapped(tmp_path, "a", a)
    rows = MappedRows(mapped, release_bytes=1)  # release after every read
    index = np.array([7, 3, 300, 3, 0])
    np.testing.assert_array_equal(rows[torch.as_tensor(index)].numpy(), a[index])
    np.testing.assert_array_equal(rows[5:9].numpy(), a[5:9])
    np.testing.assert_array_equal(gather_rows(mapped, index), a[index])
    big = np.random.default_rng(0).permutation(len(a))
    np.testing.assert_array_equal(MappedRows(mapped, release_bytes=2**17)[big].numpy(), a[big])  # in pieces
    assert release_pages(mapped)
    assert not release_pages(a)  # not mapped
    assert not release_pages(_mapped(tmp_path, "c", a, mode="c"))  # copy-on-write: left alone
    np.testing.assert_array_equal(np.asarray(mapped), a)


def test_streamed_batches_match_tensor_batches(tmp_path):
    a, b, y = _data(n=50)
    mapped = MappedRows(_mapped(tmp_path, "a", a))
    tensors = {"a": torch.from_numpy(a), "b": torch.from_numpy(b)}
    rows = torch.tensor([1, 4, 9, 16, 25, 36, 49])
    for subset in (None, rows):
        plain = TensorDictDataset(tensors, torch.from_numpy(y), rows=subset)
        streamed = TensorDictDataset({"a": mapped, "b": tensors["b"]}, torch.from_numpy(y), rows=subset, device="cpu")
        assert len(plain) == len(streamed)
        for (x1, y1), (x2, y2) in zip(
            TensorBatchIterator(plain, batch_size=8, shuffle=True, seed=3),
            TensorBatchIterator(streamed, batch_size=8, shuffle=True, seed=3),
        ):
            torch.testing.assert_close(x1, x2, rtol=0, atol=0)
            assert torch.equal(y1, y2)
    batches = list(iter_batches({"a": mapped}, 16, pad=True, device="cpu"))
    assert [n for _, n in batches] == [16, 16, 16, 2] and batches[-1][0]["a"].shape == (16, 6)


def test_post_fit_passes_read_memory_maps(tmp_path):
    from skcausalmm import FrontDoorMultimodalClassifier

    a, b, y = _data(n=300)
    mapped = {"a": _mapped(tmp_path, "a", a), "b": _mapped(tmp_path, "b", b)}
    kw = dict(max_epochs=1, hidden_size=8, mediator_size=4, dictionary_size=50, random_state=0, device="cpu")
    in_memory = FrontDoorMultimodalClassifier(**kw).fit({"a": a, "b": b}, y)
    streamed = FrontDoorMultimodalClassifier(**kw).fit(mapped, y)  # the dictionary pass reads the maps by batch
    np.testing.assert_array_equal(streamed.predict_proba(mapped), in_memory.predict_proba({"a": a, "b": b}))
