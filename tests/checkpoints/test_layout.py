import numpy as np
import pytest

from keras_vit.checkpoints import layout

# NumPy only: runs once, under TensorFlow.
pytestmark = pytest.mark.backend_independent


def _lazy(tmp_path, arrays, infos=None):
    """A LazyArrays over `arrays` that records every key it reads."""
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    reads = []

    def read(key):
        reads.append(key)
        return arrays[key]

    infos = infos or {k: layout.ArrayInfo(np.shape(v), np.asarray(v).dtype) for k, v in arrays.items()}
    return layout.LazyArrays(path, infos, read), reads


def test_lazy_arrays_read_only_what_is_accessed(tmp_path):
    arrays, reads = _lazy(tmp_path, {"a": np.ones(2, "float32"), "b": np.zeros(3, "float32")})
    assert sorted(arrays) == ["a", "b"] and len(arrays) == 2 and "a" in arrays
    assert arrays.info("b") == ((3,), np.dtype("float32"))
    assert reads == []  # keys, shapes and dtypes come from the headers
    np.testing.assert_array_equal(arrays["a"], [1.0, 1.0])
    assert reads == ["a"]
    assert {**arrays}.keys() == {"a", "b"}  # behaves like a dict of arrays


def test_lazy_arrays_refuse_a_file_changed_since_opening(tmp_path):
    arrays, _ = _lazy(tmp_path, {"a": np.ones(2, "float32")})
    (tmp_path / "weights.bin").write_bytes(b"changed!")
    with pytest.raises(ValueError, match="changed or disappeared since it was opened"):
        arrays["a"]


def test_lazy_arrays_refuse_data_that_contradicts_the_header(tmp_path):
    infos = {"a": layout.ArrayInfo((3,), np.dtype("float32"))}
    arrays, _ = _lazy(tmp_path, {"a": np.ones(2, "float32")}, infos)
    with pytest.raises(ValueError, match=r"'a' holds shape \(2,\), its header declares \(3,\)"):
        arrays["a"]


def test_an_array_larger_than_its_weights_is_refused_before_it_is_read(tmp_path):
    # Declared: a billion values for a 16-value bias. Its data is never read.
    infos = {"bias": layout.ArrayInfo((1 << 30,), np.dtype("float32"))}
    arrays, reads = _lazy(tmp_path, {}, infos)
    source = layout.KeySource(arrays, "f.npz", expected={"block/bias": (16,)})
    with pytest.raises(ValueError, match=r"Shape mismatch for weight 'block/bias'.*'bias'.*1073741824 values"):
        source.take("bias", "block/bias")
    assert reads == []


def test_a_fused_array_is_bounded_by_all_the_weights_it_feeds(tmp_path):
    arrays, _ = _lazy(tmp_path, {"qkv": np.ones((12, 4), "float32")})
    expected = {f"{n}/kernel": (4, 4) for n in ("q", "k", "v")}
    source = layout.KeySource(arrays, "f", expected=expected)
    assert source.take("qkv", "q/kernel", "k/kernel", "v/kernel").shape == (12, 4)
    assert source.origins["k/kernel"] == "qkv"
    with pytest.raises(ValueError, match="more than the model's q/kernel"):
        layout.KeySource(arrays, "f", expected=expected).take("qkv", "q/kernel")


def test_resizable_and_unknown_weights_share_a_bounded_budget(tmp_path):
    # A position table (another grid) and arrays for weights the model lacks
    # are allowed to differ, but all reads together stay within a few times
    # the model's size.
    expected = {layout.POSITION_EMBEDDING: (1, 5, 4)}
    limit = layout.READ_FACTOR * 20 + (1 << 20)
    infos = {
        "pos": layout.ArrayInfo((1, 17, 4), np.dtype("float32")),
        "huge": layout.ArrayInfo((limit,), np.dtype("float32")),
    }
    arrays, reads = _lazy(tmp_path, {"pos": np.zeros((1, 17, 4), "float32")}, infos)
    source = layout.KeySource(arrays, "f", expected=expected)
    assert source.take("pos", layout.POSITION_EMBEDDING).shape == (1, 17, 4)
    with pytest.raises(ValueError, match=r"'huge'.*over 4x the model's 20 weights"):
        source.take("huge", "not_in_the_model/kernel")
    assert reads == ["pos"]


@pytest.mark.parametrize(
    "value, match",
    [(np.arange(3), "dtype int64 \\(integers\\)"),
     (np.array([True, False]), "dtype bool \\(booleans\\)"),
     (np.ones(2, "complex64"), "complex numbers"),
     (np.array(["2024-01-01"], "datetime64[D]"), "dates"),
     (np.full(2, "abc"), "strings"),
     (np.array([1.0, np.nan], "float32"), "1 non-finite value\\(s\\) \\(NaN or infinity\\) out of 2"),
     (np.array([np.inf], "float64"), "non-finite"),
     (np.zeros(2, [("a", "<f4")]), "raw records")],
)
def test_values_that_are_not_finite_floats_are_refused_naming_the_key(value, match):
    source = layout.KeySource({"blocks.3.w": value}, "f.npz")
    with pytest.raises(ValueError, match=f"f.npz: array 'blocks.3.w' .*{match}"):
        source.take("blocks.3.w", "w")


def test_float16_float64_and_bfloat16_are_accepted():
    import ml_dtypes

    values = {"h": np.ones(2, "float16"), "d": np.ones(2, "float64"),
              "b": np.array([1.5, -2.0], ml_dtypes.bfloat16)}
    source = layout.KeySource(values, "f")
    assert source.take("h").dtype == np.float16 and source.take("d").dtype == np.float64
    bfloat16 = source.take("b")
    assert bfloat16.dtype == np.float32
    np.testing.assert_array_equal(bfloat16, [1.5, -2.0])


def test_file_errors_name_the_file_and_chain_the_cause():
    with pytest.raises(ValueError, match=r"^/x/f.npz: cannot parse it \(KeyError: 'k'\)") as caught:
        with layout.file_errors("/x/f.npz", "cannot parse it"):
            {}["k"]
    assert isinstance(caught.value.__cause__, KeyError)
    with pytest.raises(ValueError, match="^/x/f.npz is fine already$"):
        with layout.file_errors("/x/f.npz", "unused"):
            raise ValueError("/x/f.npz is fine already")
