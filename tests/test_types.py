from __future__ import annotations

from contextlib import nullcontext as does_not_raise

import numpy as np
import pytest

from mien.types import EXPRESSIONS, KEYPOINT_NAMES, KP, Faces
from tests.helpers import make_faces


@pytest.mark.parametrize(
    ("kwargs", "expectation"),
    [
        ({"xyxy": np.zeros((2, 4)), "confidence": np.ones(2)}, does_not_raise()),
        (
            {"xyxy": np.zeros((2, 4)), "confidence": np.ones(3)},
            pytest.raises(ValueError, match=r"confidence must be \(2,\); got \(3,\)"),
        ),
        (
            {"xyxy": np.zeros((2, 5)), "confidence": np.ones(2)},
            pytest.raises(ValueError, match=r"xyxy must be \(2, 4\)"),
        ),
        (
            {"xyxy": np.zeros((1, 4)), "confidence": np.ones(1), "keypoints": np.zeros((1, 5, 2))},
            pytest.raises(ValueError, match="keypoints"),
        ),
        (
            {"xyxy": np.zeros((1, 4)), "confidence": np.ones(1), "expression": np.ones((2, 8)) / 8},
            pytest.raises(ValueError, match="expression"),
        ),
        (
            {"xyxy": np.zeros((1, 4)), "confidence": np.ones(1), "data": {"blur": np.zeros(3)}},
            pytest.raises(ValueError, match="blur"),
        ),
    ],
)
def test_faces_validates_shapes(kwargs, expectation):
    with expectation:
        Faces(**kwargs)


def test_faces_indexing_keeps_parallel_arrays():
    probs = np.eye(8, dtype=np.float32)[[3, 6, 0]]
    faces = make_faces(
        [[0, 0, 10, 10], [5, 5, 25, 25], [1, 1, 2, 2]],
        [0.9, 0.8, 0.6],
        expression=probs,
        abstained=[False, True, False],
    )
    picked = faces[faces.confidence > 0.7]
    assert len(picked) == 2
    np.testing.assert_array_equal(picked.xyxy[1], [5, 5, 25, 25])
    assert picked.top_labels(EXPRESSIONS) == ["happiness", "neutral"]
    assert faces[2].abstained.tolist() == [False]
    np.testing.assert_allclose(faces.area, [100, 400, 1])


def test_empty_faces():
    empty = Faces.empty()
    assert len(empty) == 0
    assert empty.xyxy.shape == (0, 4)
    assert empty.keypoints.shape == (0, 6, 2)
    with pytest.raises(ValueError, match="no expression"):
        empty.top_labels(EXPRESSIONS)


def test_keypoint_and_label_names_are_defined_once():
    assert KEYPOINT_NAMES[KP["left_eye"]] == "left_eye"
    assert len(EXPRESSIONS) == 8 and EXPRESSIONS[-1] == "contempt"


def test_faces_take_a_tuple_of_indices_and_refuse_a_bool():
    from tests.helpers import make_faces

    faces = make_faces([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]])
    assert faces[(0, 2)].xyxy[:, 0].tolist() == [0, 40]  # a tuple raised IndexError
    assert faces[[True, False, True]].xyxy[:, 0].tolist() == [0, 40]
    assert len(faces[()]) == 0
    with pytest.raises(TypeError, match="index faces with"):
        faces[True]  # gave face 1
    # a string, a float or a 2-D array raised numpy's IndexError or a shape ValueError, and
    # a list of floats was truncated to ints (0.5 picked face 0)
    for wrong in ("a", 1.0, None, [0.5], np.array([0.5]), np.array([[0]])):
        with pytest.raises(TypeError, match="index faces with"):
            faces[wrong]
    with pytest.raises(IndexError):
        faces[3]
    with pytest.raises(IndexError):
        faces[np.array([True, False])]  # a mask of the wrong length


def test_a_frame_needs_a_finite_timestamp():
    """A NaN timestamp made every frame a new track and switched smoothing off, silently."""
    from mien.types import Frame

    image = np.zeros((4, 4, 3), np.uint8)
    assert Frame(image, 0, 1, "x").timestamp_s == 1.0
    # PyAV's pts * time_base is a Fraction; numpy scalars and Decimals are numbers too
    from decimal import Decimal
    from fractions import Fraction

    for fine, seconds in ((Fraction(1, 4), 0.25), (np.float32(0.5), 0.5), (Decimal("2"), 2.0)):
        assert Frame(image, 0, fine, "x").timestamp_s == seconds
    huge = Fraction(10**400, 1)  # float() raised OverflowError, not the documented ValueError
    for bad in (float("nan"), float("inf"), "1.0", None, huge, Decimal("sNaN"), np.timedelta64(5)):
        with pytest.raises(ValueError, match="x frame 3: timestamp_s"):
            Frame(image, 3, bad, "x")


def test_faces_compare_equal_by_their_arrays():
    import copy
    import pickle

    faces = make_faces([[0, 0, 10, 10], [5, 5, 20, 20]])
    faces.expression = np.array([[0.5, 0.5], [np.nan, 1.0]], np.float32)
    faces.data = {"yaw": np.array([1.0, np.nan]), "name": np.array(["a", "b"], object)}
    assert faces == copy.deepcopy(faces)  # raised "truth value of an array is ambiguous"
    assert faces == pickle.loads(pickle.dumps(faces))
    moved = copy.deepcopy(faces)
    moved.xyxy[1, 0] += 1
    assert faces != moved
    assert faces != faces[:1]  # another shape
    assert faces != Faces(faces.xyxy, faces.confidence)  # fewer fields set
    other = copy.deepcopy(faces)
    other.data["pitch"] = np.zeros(2)
    assert faces != other
    assert faces != "faces"
    with pytest.raises(TypeError):
        hash(faces)


def test_faces_refuse_values_a_conversion_would_change():
    """track_id=[1.7] became 1, abstained=["False"] became True, a (2, 0) box array became
    no faces, and data={"x": [1]} was kept as a list that faces[[0]] could not index."""
    box = [[0, 0, 10, 10]]
    with pytest.raises(ValueError, match=r"track_id must hold whole numbers; got \[1.7\]"):
        Faces(box, [0.9], track_id=[1.7])
    with pytest.raises(ValueError, match=r"abstained must hold numbers"):
        Faces(box, [0.9], abstained=["False"])
    with pytest.raises(ValueError, match=r"abstained must hold booleans"):
        Faces(box, [0.9], abstained=[2])
    for shape in ((2, 0), (0, 5)):
        with pytest.raises(ValueError, match="xyxy must be"):
            Faces(np.zeros(shape), [])
    with pytest.raises(ValueError, match=r"data\['x'\] must have first axis n=1"):
        Faces(box, [0.9], data={"x": 3})
    faces = Faces(box, [0.9], track_id=[2.0], abstained=[0], data={"x": [5]})
    assert faces.track_id.tolist() == [2] and faces.abstained.tolist() == [False]
    assert faces[[0]].data["x"].tolist() == [5]
    assert len(Faces([], [])) == 0


def test_faces_take_numbers_held_as_objects_and_ragged_data():
    faces = Faces(
        [[0, 0, 10, 10], [5, 5, 20, 20]],
        [0.9, 0.8],
        track_id=np.array([1, 2], dtype=object),
        abstained=np.array([True, False], dtype=object),
        data={"points": [np.zeros((3, 2)), np.zeros((5, 2))]},  # one array per face
    )
    assert faces.track_id.tolist() == [1, 2] and faces.abstained.tolist() == [True, False]
    assert faces[[1]].data["points"][0].shape == (5, 2)
