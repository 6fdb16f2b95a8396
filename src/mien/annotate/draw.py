"""Boxes, track ids, perceived-expression labels and probability bars, drawn with supervision's
annotators (and OpenCV for the bars and notices)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import numpy.typing as npt

from mien.export.rows import probability_shown
from mien.types import FrameResult, ImageBGR

NOTICE = "expression analysis active"
"""The notice drawn on live previews so that people being analysed can see it."""

CAPTION = "perceived expression, not felt emotion"
"""The caption drawn on every annotated image and frame, so that a copy shared on its own still
says what its labels mean."""


MIN_WIDTH = 320
"""Narrowest scene drawn on as it is, in pixels: the caption needs about 180 px and a label with
its bars about 230 px, so a narrower scene is first enlarged by a whole factor (see
:meth:`ExpressionAnnotator.annotate`)."""
MAX_ENLARGED_SIDE = 2048
"""Longest side an enlargement may give, in pixels: a narrow, tall scene (16 × 1200) is not
enlarged (160-fold, a 2 × 40000 image asked for 6 GB; video encoders refuse such sizes)."""


FACE_PER_SCALE = 40.0
"""Face side (pixels, the median of a scene's faces) per unit of the labels' and bars' scale:
their size follows the scene's, but never grows past the faces' size over this."""


def annotation_scale(width: int, height: int, xyxy: np.ndarray) -> float:
    """The size of labels, bars and lines, as a factor (1 at 640 px): it grows with the
    scene (its longer side over 640), but no wider than a narrow scene can hold (its width
    over 320), nor past the faces' median side over :data:`FACE_PER_SCALE` (a factor of 3 in
    a 1080p scene hid 40 px faces under each other's labels); never below 1.

    Args:
        width, height: the scene's size in pixels (as drawn, after any enlargement).
        xyxy: ``(n, 4)`` the faces' boxes in the scene's pixels, ``n`` ≥ 1.
    """
    sides = np.minimum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])
    by_faces = float(np.median(sides)) / FACE_PER_SCALE
    return max(1.0, min(max(width, height) / 640, width / 320, by_faces))


def enlargement(width: int, height: int) -> int:
    """The whole factor (>= 1) that brings a scene ``width`` px wide to at least
    :data:`MIN_WIDTH`, as far as its longer side stays within :data:`MAX_ENLARGED_SIDE`
    (1 when even 2-fold would exceed it)."""
    wanted = -(-MIN_WIDTH // max(1, width))
    allowed = MAX_ENLARGED_SIDE // max(1, width, height)
    return max(1, min(wanted, allowed))


class ExpressionAnnotator:
    """Draw each face's box, ``#track label probability`` (``?`` when abstained), its keypoints
    and a small bar per expression.

    Args:
        thickness: box line width in pixels (scaled up for large images).
        keypoints: also draw the detector's keypoints.
        bars: draw a bar chart of the probabilities beside each box.
        blur_faces: blur every face box first (privacy); keypoints are then not drawn.
        smoothed: label and bars from the smoothed probabilities when a face has them.
        caption: draw :data:`CAPTION` at the bottom left of every annotated scene.

    Example:
        >>> scene = ExpressionAnnotator().annotate(image.copy(), result)
    """

    def __init__(
        self,
        *,
        thickness: int = 2,
        keypoints: bool = True,
        bars: bool = False,
        blur_faces: bool = False,
        smoothed: bool = True,
        caption: bool = True,
    ) -> None:
        self.thickness = thickness
        self.keypoints = keypoints
        self.bars = bars
        self.blur_faces = blur_faces
        self.smoothed = smoothed
        self.caption = caption

    def annotate(
        self,
        scene: ImageBGR,
        result: FrameResult,
        *,
        also_blur: npt.ArrayLike | None = None,
    ) -> ImageBGR:
        """Draw on ``scene`` (``(H, W, 3)`` uint8 BGR, modified in place) and return it.

        ``also_blur``: ``(m, 4)`` more ``xyxy`` boxes (pixels of ``scene``) to blur when
        ``blur_faces`` is on, e.g. the places :class:`~mien.annotate.hold.BlurHold` keeps
        from the frames before; ignored otherwise.

        A scene narrower than :data:`MIN_WIDTH` px is drawn on a copy enlarged by the whole
        factor :func:`enlargement` gives (nearest neighbour: each pixel becomes a block, none
        is invented; at most :data:`MAX_ENLARGED_SIDE` px long), boxes scaled with it, so that
        labels and caption fit (on a 36 px crop the caption read "perceiv"): the result is
        then ``(k·H, k·W, 3)``, not ``scene``. A scene that cannot be drawn on in place (a
        view such as ``image[:, ::-1]``, a read-only array, or grey ``(H, W)`` /
        ``(H, W, 1)``, made BGR) is drawn on a copy, which is returned.

        Raises:
            ValueError: ``scene`` is not a uint8 ``(H, W, 3)``, ``(H, W, 1)`` or ``(H, W)``
                array with at least one pixel, or its size is not ``result.image_wh`` (the
                boxes would land elsewhere and a blurred face stay sharp: an image read
                without its EXIF orientation, as ``np.asarray(Image.open(path))`` gives, or
                a resized copy).
        """
        import supervision as sv

        scene = drawable(scene)
        wh = (scene.shape[1], scene.shape[0])
        expected = tuple(int(v) for v in result.image_wh)
        if wh != expected:
            turned = " (turned: EXIF orientation not applied?)" if wh == expected[::-1] else ""
            raise ValueError(
                f"scene is {wh[0]}x{wh[1]} px but the result is of a {expected[0]}x"
                f"{expected[1]} px image{turned}; draw on the image that was analysed "
                "(mien.io.read_image(path) gives it upright)"
            )
        k = enlargement(scene.shape[1], scene.shape[0])
        faces = result.faces
        extra = np.zeros((0, 4), np.float32)
        if self.blur_faces and also_blur is not None:
            extra = np.asarray(also_blur, np.float32).reshape(-1, 4) * np.float32(k)
        if k > 1:
            scene = cv2.resize(scene, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)
            faces = dataclasses.replace(
                faces,
                xyxy=faces.xyxy * np.float32(k),
                keypoints=None if faces.keypoints is None else faces.keypoints * np.float32(k),
            )
        if len(extra):
            scene = _blur(scene, extra)
        if len(faces) == 0:
            return draw_caption(scene) if self.caption else scene
        scale = annotation_scale(scene.shape[1], scene.shape[0], faces.xyxy)
        names = result.expression_names
        probs = faces.expression
        if self.smoothed and faces.smoothed is not None:
            probs = faces.smoothed
        class_id = probs.argmax(1) if probs is not None else np.zeros(len(faces), int)
        detections = sv.Detections(
            xyxy=faces.xyxy.astype(np.float32), confidence=faces.confidence, class_id=class_id
        )
        if self.blur_faces:
            scene = _blur(scene, faces.xyxy)
        labels = []
        for i in range(len(faces)):
            prefix = f"#{faces.track_id[i]} " if faces.track_id is not None else ""
            if probs is None:
                labels.append(f"{prefix}face {faces.confidence[i]:.2f}")
                continue
            p = probs[i]
            text = f"{prefix}{names[int(p.argmax())]} {probability_shown(p.max(), 2):.2f}"
            if faces.abstained is not None and faces.abstained[i]:
                text += " ?"
            labels.append(text)
        scene = sv.BoxAnnotator(thickness=round(self.thickness * scale)).annotate(scene, detections)
        text_scale, padding, thickness = label_fit(
            labels, scene.shape[1], 0.5 * scale, round(5 * scale)
        )
        scene = sv.LabelAnnotator(
            text_scale=text_scale,
            text_thickness=thickness,
            text_padding=padding,
            smart_position=True,
        ).annotate(scene, detections, labels=labels)
        if self.keypoints and not self.blur_faces and faces.keypoints is not None:
            r = max(1, round(2 * scale))
            for pts in faces.keypoints:
                for x, y in pts:
                    cv2.circle(
                        scene, (round(float(x)), round(float(y))), r, (0, 255, 255), -1, cv2.LINE_AA
                    )
        if self.bars and probs is not None:
            row, width = max(6, round(7 * scale)), round(60 * scale)
            size = (width + round(30 * scale), len(names) * (row + 2))
            label_h = round(25 * scale)  # the label's text and padding above the box
            corners = bar_panels(faces.xyxy, size, scene.shape[1], scene.shape[0], label_h=label_h)
            for (x, y), p in zip(corners, probs, strict=True):
                _draw_bars(scene, x, y, p, names, scale)
        return draw_caption(scene) if self.caption else scene


def drawable(scene: np.ndarray) -> ImageBGR:
    """``scene`` itself when it is a writeable, C-contiguous uint8 ``(H, W, 3)`` array (OpenCV
    draws on it in place), else a copy that is: grey ``(H, W)`` or ``(H, W, 1)`` made BGR.

    Raises:
        ValueError: not a uint8 ``(H, W, 3)``, ``(H, W, 1)`` or ``(H, W)`` array with pixels
            (a float image is not scaled by guesswork: convert it to uint8 first).
    """
    shape = getattr(scene, "shape", None)
    dtype = getattr(scene, "dtype", type(scene).__name__)
    grey = isinstance(scene, np.ndarray) and (
        scene.ndim == 2 or (scene.ndim == 3 and scene.shape[2] == 1)
    )
    colour = isinstance(scene, np.ndarray) and scene.ndim == 3 and scene.shape[2] == 3
    if dtype != np.uint8 or not (grey or colour) or scene.size == 0:
        raise ValueError(
            f"a scene to annotate must be a uint8 (H, W, 3) BGR array; got {dtype} of shape {shape}"
        )
    if grey:
        return cv2.cvtColor(np.ascontiguousarray(scene), cv2.COLOR_GRAY2BGR)
    if not scene.flags.writeable or not scene.flags.c_contiguous:
        return np.array(scene, order="C", copy=True)
    return scene


def label_fit(
    labels: list[str], width: int, text_scale: float, padding: int
) -> tuple[float, int, int]:
    """The text scale, padding (pixels) and stroke thickness that fit the widest of ``labels``
    inside a scene ``width`` px wide: ``(text_scale, padding)`` unchanged, with the thickness
    that scale is drawn with (one per 0.5), when it fits; else both shrunk in proportion, to a
    scale of at least 0.1 and a padding of at least 1 px, with thickness 1.

    A tall, narrow scene is not enlarged (:func:`enlargement`), and at scale 0.5 a label such
    as ``#12 happiness 0.87`` (about 170 px) ran past both edges of a 100 px scene.
    """
    thickness = max(1, round(text_scale / 0.5))
    if not labels:
        return text_scale, padding, thickness

    def widest(scale: float, thickness: int) -> int:
        font = cv2.FONT_HERSHEY_SIMPLEX
        return max(cv2.getTextSize(t, font, scale, thickness)[0][0] for t in labels)

    if widest(text_scale, thickness) + 2 * padding <= width:
        return text_scale, padding, thickness
    scale, pad = text_scale, padding
    while scale > 0.1 and widest(scale, 1) + 2 * pad > width:  # text size is not linear in scale
        scale, pad = max(0.1, scale * 0.9), max(1, int(pad * 0.9))
    return scale, pad, 1


def _blur(scene: ImageBGR, xyxy: np.ndarray) -> ImageBGR:
    """Blur the ``(n, 4)`` ``xyxy`` boxes of ``scene`` in place (clipped to it); the kernel
    grows with the largest box, so a large face is not left recognisable."""
    import supervision as sv

    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    side = float(np.sqrt(((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])).max()))
    return sv.BlurAnnotator(kernel_size=max(15, int(side) // 3)).annotate(
        scene, sv.Detections(xyxy=xyxy)
    )


def bar_panels(
    xyxy: np.ndarray, size: tuple[int, int], width: int, height: int, *, label_h: int = 0
) -> list[tuple[int, int]]:
    """Where each face's probability bars go: the top-left corner of a ``size`` = ``(w, h)``
    pixel panel per box, so that panels overlap neither each other nor another face's box or
    label, and each sits nearer its own box than any other.

    Tried in turn for each box (in order): right of the box, left of it, below it, inside its
    top-right corner, each moved inside the ``width`` × ``height`` image; the first that
    overlaps no other box (with the ``label_h`` px band above it, where its label goes) or
    panel, and is nearer its own box than any other, is taken; else the one that overlaps
    them least, a panel nearer another box counting as overlapping it by half its area (in a
    crowded frame the sadness bars of one face sat against the smiling face beside it).

    Args:
        xyxy: ``(n, 4)`` boxes in pixels.
        size: the panel's width and height in pixels.
        width: image width in pixels.
        height: image height in pixels.
        label_h: the height of the label drawn above each box, in pixels.

    Returns:
        ``n`` ``(x, y)`` corners in pixels.
    """
    w, h = size
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    labelled = boxes - np.array([0.0, label_h, 0.0, 0.0])  # each box with its label band
    placed: list[tuple[float, float, float, float]] = []
    corners = []

    def gap(a: tuple[float, ...], b: np.ndarray) -> float:
        """The distance between two rectangles (0 when they touch or overlap)."""
        dx = max(0.0, b[0] - a[2], a[0] - b[2])
        dy = max(0.0, b[1] - a[3], a[1] - b[3])
        return float(np.hypot(dx, dy))

    def cost(x: float, y: float, own: int) -> float:
        others = [tuple(b) for j, b in enumerate(labelled) if j != own] + placed
        area = sum(
            max(0.0, min(x + w, o[2]) - max(x, o[0])) * max(0.0, min(y + h, o[3]) - max(y, o[1]))
            for o in others
        )
        panel = (x, y, x + w, y + h)
        mine = gap(panel, boxes[own])
        if any(gap(panel, b) < mine for j, b in enumerate(boxes) if j != own):
            area += w * h / 2  # it would read as another face's bars
        return area

    for i, (x1, y1, x2, y2) in enumerate(boxes):
        top = max(0.0, y1)
        options = [(x2 + 4, top), (x1 - w - 4, top), (x1, y2 + 4), (x2 - w - 2, top + 2)]
        inside = [
            (min(max(0.0, x), max(0.0, width - w)), min(max(0.0, y), max(0.0, height - h)))
            for x, y in options
        ]
        costs = [cost(x, y, i) for x, y in inside]
        exact = [k for k, (o, c) in enumerate(zip(options, inside, strict=True)) if o == c]
        free = [k for k in exact if costs[k] == 0]
        x, y = inside[free[0] if free else int(np.argmin(costs))]
        x, y = round(x), round(y)
        placed.append((x, y, x + w, y + h))
        corners.append((x, y))
    return corners


def _draw_bars(
    scene: ImageBGR, x: int, y: int, p: np.ndarray, names: tuple[str, ...], scale: float
) -> None:
    """A small horizontal bar per label, with its name, from ``(x, y)`` down."""
    h_img = scene.shape[0]
    row = max(6, round(7 * scale))
    width = round(60 * scale)
    for k, (name, v) in enumerate(zip(names, p, strict=True)):
        y0 = y + k * (row + 2)
        if y0 + row > h_img:
            break
        cv2.rectangle(scene, (x, y0), (x + width, y0 + row), (40, 40, 40), -1)
        cv2.rectangle(scene, (x, y0), (x + round(width * float(v)), y0 + row), (0, 200, 255), -1)
        cv2.putText(
            scene,
            name[:3],
            (x + width + 3, y0 + row - 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.3 * scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )


def draw_caption(scene: ImageBGR, text: str = CAPTION) -> ImageBGR:
    """Draw a small caption (bottom-left, on a dark band) on ``scene`` in place and return it.

    A scene too narrow for it on one line (a tall, narrow image, which is not enlarged) gets
    it over several, broken between words, in smaller type where one word is wider than the
    scene."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.35, scene.shape[1] / 1800)

    def width(line: str) -> int:
        return cv2.getTextSize(line, font, scale, 1)[0][0] + 10

    widest = max(width(word) for word in text.split())
    if widest > scene.shape[1]:  # a strip narrower than one word: smaller type, not cut off
        scale = max(0.1, scale * (scene.shape[1] - 10) / (widest - 10))

    lines: list[str] = []
    for word in text.split():
        if lines and width(f"{lines[-1]} {word}") <= scene.shape[1]:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    (_, th), base = cv2.getTextSize(text, font, scale, 1)
    step = th + base + 4
    h = scene.shape[0]
    top = h - step * len(lines) - 4
    cv2.rectangle(scene, (0, top), (max(width(ln) for ln in lines), h), (30, 30, 30), -1)
    for i, line in enumerate(lines):
        y = top + (i + 1) * step - base + 1
        cv2.putText(scene, line, (5, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return scene


def draw_notice(scene: ImageBGR, text: str = NOTICE) -> ImageBGR:
    """Draw an always-visible banner (top-left, red) on ``scene`` in place and return it."""
    scale = max(0.5, scene.shape[1] / 1280)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(scene, (0, 0), (tw + 12, th + base + 10), (0, 0, 200), -1)
    cv2.putText(
        scene, text, (6, th + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )
    return scene
