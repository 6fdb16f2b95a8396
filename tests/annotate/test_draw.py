"""Probability-bar placement and the annotator's drawing."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from mien.annotate.draw import bar_panels
from mien.types import Faces


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize(
    "xyxy",
    [
        [[180, 60, 320, 220], [330, 70, 470, 230]],  # two faces side by side, close together
        [[500, 60, 630, 200], [360, 60, 490, 200]],  # the right one at the image's edge
        [[10, 10, 200, 200]],  # one face
    ],
)
def test_bar_panels_avoid_boxes_and_each_other(xyxy):
    size = (90, 80)
    corners = bar_panels(np.asarray(xyxy, np.float32), size, 640, 360)
    panels = [(x, y, x + size[0], y + size[1]) for x, y in corners]
    for i, p in enumerate(panels):
        assert 0 <= p[0] and p[2] <= 640 and 0 <= p[1] and p[3] <= 360
        assert not any(_overlap(p, b) for j, b in enumerate(xyxy) if j != i)
        assert not any(_overlap(p, q) for j, q in enumerate(panels) if j != i)


def test_bar_panels_prefer_the_right_then_left_then_below():
    size = (90, 80)
    assert bar_panels(np.array([[100, 50, 200, 150]]), size, 640, 360) == [(204, 50)]
    assert bar_panels(np.array([[500, 50, 600, 150]]), size, 640, 360) == [(406, 50)]
    # a face filling the width: below it
    assert bar_panels(np.array([[0, 20, 640, 200]]), size, 640, 360) == [(0, 204)]


def test_bar_panels_go_inside_their_own_box_when_nothing_outside_is_free():
    xyxy = np.array([[62, 60, 295, 290], [365, 22, 640, 295]])  # two big faces, 655 x 300
    corners = bar_panels(xyxy, (90, 80), 655, 300)
    for (x, y), (x1, y1, x2, y2) in zip(corners, xyxy, strict=True):
        assert x1 <= x and x + 90 <= x2 and y1 <= y and y + 80 <= y2  # on its own face only


def test_every_annotated_scene_carries_the_perceived_caption():
    from mien.annotate import ExpressionAnnotator
    from mien.pipeline import Analyzer
    from tests.helpers import SAMPLES

    with Analyzer(pose=False) as analyzer:
        result = analyzer.analyze(SAMPLES / "grace_hopper.jpg")
    image = np.full((400, 300, 3), 128, np.uint8)  # boxes well away from the bottom left
    result = dataclasses.replace(result, image_wh=(300, 400))  # drawn on this blank scene
    drawn = ExpressionAnnotator().annotate(image.copy(), result)
    plain = ExpressionAnnotator(caption=False).annotate(image.copy(), result)
    corner = (slice(-12, None), slice(0, 100))  # the caption's dark band, bottom left
    assert np.median(drawn[corner]) == 30 and plain[corner].mean() == 128  # the band, its text
    empty = dataclasses.replace(result, faces=Faces.empty())
    assert np.median(ExpressionAnnotator().annotate(image.copy(), empty)[corner]) == 30


def test_a_small_image_is_enlarged_so_its_caption_and_label_fit():
    """On a 36 × 45 crop the caption read "perceiv" and the label "eutral": a scene narrower
    than MIN_WIDTH is drawn on a whole-factor enlargement (9 × here), boxes scaled with it."""
    from mien.annotate import ExpressionAnnotator
    from mien.annotate.draw import CAPTION, MIN_WIDTH, enlargement
    from mien.pipeline import Analyzer
    from tests.helpers import SAMPLES

    with Analyzer(pose=False) as analyzer:
        result = analyzer.analyze(SAMPLES / "grace_hopper.jpg")
    small = dataclasses.replace(
        result,
        faces=dataclasses.replace(result.faces, xyxy=np.array([[4, 5, 30, 38]], np.float32)),
        image_wh=(36, 45),
    )
    image = np.full((45, 36, 3), 128, np.uint8)
    drawn = ExpressionAnnotator(bars=True).annotate(image.copy(), small)
    assert enlargement(36, 45) == 9 and drawn.shape == (405, 324, 3) and 324 >= MIN_WIDTH
    (width, _), _ = cv2.getTextSize(CAPTION, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
    assert np.median(drawn[-5:, : width + 10]) == 30  # the caption's band, whole
    assert (drawn[60:300, 34:39] != 128).any(axis=(1, 2)).all()  # the box's left edge, at 9 times 4
    # the original pixels are kept as 9-by-9 blocks around the drawing
    assert (drawn[200:220, 300:320] == 128).all()
    assert enlargement(320, 200) == enlargement(1920, 1080) == 1
    # narrow and tall: enlarged only as far as the longer side stays within 2048 px (16x1200
    # became 320x24000, which libx264 refused; 2x40000 asked for 6 GB)
    assert enlargement(16, 1200) == enlargement(2, 40000) == enlargement(120, 1200) == 1
    assert enlargement(82, 197) == 4 and enlargement(100, 900) == 2
    thin = dataclasses.replace(small, image_wh=(2, 40000))
    tall = ExpressionAnnotator().annotate(np.full((40000, 2, 3), 128, np.uint8), thin)
    assert tall.shape == (40000, 2, 3)


def test_bar_panels_keep_off_other_labels_and_stay_nearest_their_own_face():
    """In a crowded frame one face's bars covered the next face's label, and another's sat
    against the wrong face: labels (a band above each box) are obstacles too, and a panel
    nearer another face counts against it."""
    size, label_h = (90, 80), 25
    boxes = np.array([[100, 150, 200, 250], [210, 240, 310, 340]], np.float64)
    corners = bar_panels(boxes, size, 640, 360, label_h=label_h)
    band = (210, 240 - label_h, 310, 240)  # the second face's label
    x, y = corners[0]
    assert not _overlap((x, y, x + 90, y + 80), band)
    assert bar_panels(boxes, size, 640, 360)[0] == (204, 150)  # without labels: right of it

    def gap(a, b):
        return np.hypot(max(0, b[0] - a[2], a[0] - b[2]), max(0, b[1] - a[3], a[1] - b[3]))

    row = np.array([[100, 100, 200, 200], [230, 100, 330, 200], [360, 100, 460, 200]], float)
    for i, (x, y) in enumerate(bar_panels(row, size, 640, 360, label_h=label_h)):
        panel = (x, y, x + 90, y + 80)
        assert all(gap(panel, row[i]) <= gap(panel, b) for j, b in enumerate(row) if j != i)


def test_the_caption_breaks_into_lines_on_a_narrow_scene():
    """A tall, narrow image is not enlarged (its long side would pass 2048 px), and the caption
    ran off its right edge: it now breaks between words and its band stays in the image."""
    from mien.annotate import draw_caption

    def band(w: int, h: int) -> tuple[int, int]:
        out = draw_caption(np.full((h, w, 3), 200, np.uint8))
        dark = (out == 30).all(axis=2)
        rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
        return int(h - rows.min()), int(cols.max() + 1)

    one_height, one_width = band(640, 480)
    assert one_width < 640  # one line fits
    height, width = band(120, 1500)
    assert width <= 120 and height > 1.5 * one_height  # two lines, inside the image
    # a strip narrower than "expression," (52 px at the smallest scale): smaller type, so no
    # letter runs into the right edge (at scale 0.35 the word fills the band to its edge)
    strip = draw_caption(np.full((2000, 30, 3), 200, np.uint8))
    band_rows = (strip == 30).all(axis=2).any(axis=1)
    assert band_rows.sum() > 0
    assert not (strip[band_rows, -3:] > 128).all(axis=2).any()


def test_labels_shrink_to_fit_a_narrow_scene_and_keep_their_size_elsewhere():
    """A tall, narrow scene is not enlarged, and at scale 0.5 the label ``#12 happiness 0.87``
    (about 170 px) ran past both edges of a 100 px scene: its type now shrinks to fit."""
    from mien.annotate.draw import label_fit

    labels = ["#12 happiness 0.87", "#3 fear 0.41 ?"]
    assert label_fit(labels, 640, 0.5, 5) == (0.5, 5, 1)  # fits: unchanged
    assert label_fit([], 10, 0.5, 5) == (0.5, 5, 1)
    for width in (100, 60, 40):
        scale, pad, _ = label_fit(labels, width, 0.5, 5)
        widest = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for t in labels)
        assert scale < 0.5 and pad >= 1 and widest + 2 * pad <= width
    assert label_fit(labels, 30, 0.5, 5) == (0.1, 1, 1)  # the floor: no smaller than 0.1
    # the annotator uses it: a 100 x 1200 scene keeps its size and draws without error
    from mien.annotate import ExpressionAnnotator
    from mien.types import FrameResult

    names = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
    p = np.full((1, 7), 0.02, np.float32)
    p[0, 3] = 0.88
    faces = Faces(
        xyxy=np.array([[10, 500, 90, 600]], np.float32),
        confidence=np.array([0.9], np.float32),
        expression=p,
        track_id=np.array([12]),
    )
    scene = np.full((1200, 100, 3), 128, np.uint8)
    result = FrameResult(
        faces=faces,
        frame_index=0,
        timestamp_s=0.0,
        image_wh=(100, 1200),
        source="narrow",
        expression_names=names,
        abstain_threshold=0.4,
    )
    drawn = ExpressionAnnotator(caption=False).annotate(scene, result)
    assert drawn.shape == (1200, 100, 3)
    label_rows = (drawn[440:500] != 128).any(axis=(1, 2))
    assert 5 < label_rows.sum() < 30  # a small label band above the box


def test_annotate_takes_the_arrays_analyze_takes_and_refuses_others_before_drawing():
    """A mirrored view or a read-only array raised cv2.error ("Layout of the output array img
    is incompatible"), and a float scene raised in putText after its boxes were drawn."""
    from mien.annotate import ExpressionAnnotator
    from mien.pipeline import Analyzer
    from tests.helpers import SAMPLES

    image = cv2.imread(str(SAMPLES / "grace_hopper.jpg"))
    mirrored = image[:, ::-1]
    with Analyzer(pose=False) as analyzer:
        result = analyzer.analyze(mirrored)
    expected = ExpressionAnnotator().annotate(np.ascontiguousarray(mirrored), result)
    np.testing.assert_array_equal(ExpressionAnnotator().annotate(mirrored, result), expected)
    frozen = np.ascontiguousarray(mirrored)
    frozen.flags.writeable = False
    np.testing.assert_array_equal(ExpressionAnnotator().annotate(frozen, result), expected)
    grey = cv2.cvtColor(np.ascontiguousarray(mirrored), cv2.COLOR_BGR2GRAY)
    assert ExpressionAnnotator().annotate(grey, result).shape == (*grey.shape, 3)
    scene = image.astype(np.float32)
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\) BGR array; got float32"):
        ExpressionAnnotator().annotate(scene, result)
    np.testing.assert_array_equal(scene, image.astype(np.float32))  # nothing drawn


def test_labels_grow_with_the_scene_but_not_past_the_faces():
    """In a 1080p scene the labels and bars were drawn 3x, far larger than 40 px faces, and
    covered the neighbouring faces."""
    from mien.annotate.draw import annotation_scale

    small = np.array([[100, 100, 140, 140], [300, 100, 345, 145]], np.float32)
    large = np.array([[100, 100, 400, 400]], np.float32)
    assert annotation_scale(1920, 1080, small) == pytest.approx(1.0625)  # median side 42.5
    assert annotation_scale(1920, 1080, large) == 3.0  # the scene's 1920 / 640
    assert annotation_scale(640, 480, large) == 1.0
    assert annotation_scale(400, 1200, large) == 1.25  # a narrow scene: its width / 320
    assert annotation_scale(1920, 1080, np.array([[0, 0, 10, 10]], np.float32)) == 1.0


def test_a_scene_of_another_size_is_refused():
    """A photo read without its EXIF orientation (np.asarray(Image.open(path))) got its box
    and blur on the wrong spot, the face left sharp, without a word."""
    from mien.annotate import ExpressionAnnotator
    from mien.types import FrameResult

    faces = Faces(np.array([[10, 5, 60, 55]], np.float32), np.array([0.9], np.float32))
    result = FrameResult(faces, 0, 0.0, (100, 60), "a.jpg", (), 0.5)
    with pytest.raises(ValueError, match=r"scene is 60x100 px .* 100x60 px image \(turned"):
        ExpressionAnnotator(blur_faces=True).annotate(np.zeros((100, 60, 3), np.uint8), result)
    with pytest.raises(ValueError, match=r"scene is 50x30 px"):
        ExpressionAnnotator().annotate(np.zeros((30, 50, 3), np.uint8), result)
    drawn = ExpressionAnnotator().annotate(np.zeros((60, 100, 3), np.uint8), result)
    assert drawn.shape[1] >= 100
