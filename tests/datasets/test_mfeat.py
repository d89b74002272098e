"""The bundled UCI Multiple Features loader."""

import numpy as np
import pytest

from skcausalmm.datasets import load_multiple_features


def test_all_views_shapes_labels_and_bunch():
    data = load_multiple_features()
    shapes = {name: array.shape for name, array in data.data.items()}
    assert shapes == {
        "fou": (2000, 76),
        "fac": (2000, 216),
        "kar": (2000, 64),
        "pix": (2000, 1, 16, 15),
        "zer": (2000, 47),
        "mor": (2000, 6),
    }
    assert np.bincount(data.target).tolist() == [200] * 10
    assert "CC BY 4.0" in data.DESCR and set(data.views) == set(shapes)


def test_views_order_return_X_y_and_flat_image():
    X, y = load_multiple_features(views=["mor", "pix"], return_X_y=True)
    assert list(X) == ["mor", "pix"] and len(y) == 2000
    assert X[[0, 1]]["pix"].shape == (2, 1, 16, 15)  # a ModalityDict: sliceable by sample
    flat, _ = load_multiple_features(views="pix", return_X_y=True, image=False)
    assert flat["pix"].shape == (2000, 240)
    np.testing.assert_array_equal(flat["pix"], X["pix"].reshape(2000, -1))


def test_unknown_view_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown or no views \\['nope'\\]"):
        load_multiple_features(views=["nope"])
