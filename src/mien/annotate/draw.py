"""Boxes, track ids, perceived-expression labels and probability bars, drawn with supervision's
annotators (and OpenCV for the bars and notices)."""

from __future__ import annotations

import cv2
import numpy as np

from mien.types import FrameResult, ImageBGR

NOTICE = "expression analysis active"
"""The notice drawn on live previews so that people being analysed can see it."""


class ExpressionAnnotator:
    """Draw each face's box, ``#track label probability`` (``?`` when abstained), its keypoints
    and a small bar per expression.

    Args:
        thickness: box line width in pixels (scaled up for large images).
        keypoints: also draw the detector's keypoints.
        bars: draw a bar chart of the probabilities beside each box.
        blur_faces: blur every face box first (privacy); keypoints are then not drawn.
        smoothed: label and bars from the smoothed probabilities when a face has them.

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
    ) -> None:
        self.thickness = thickness
        self.keypoints = keypoints
        self.bars = bars
        self.blur_faces = blur_faces
        self.smoothed = smoothed

    def annotate(self, scene: ImageBGR, result: FrameResult) -> ImageBGR:
        """Draw on ``scene`` (``(H, W, 3)`` uint8 BGR, modified in place) and return it."""
        import supervision as sv

        faces = result.faces
        if len(faces) == 0:
            return scene
        scale = max(1.0, max(scene.shape[:2]) / 640)
        names = result.expression_names
        probs = faces.expression
        if self.smoothed and faces.smoothed is not None:
            probs = faces.smoothed
        class_id = probs.argmax(1) if probs is not None else np.zeros(len(faces), int)
        detections = sv.Detections(
            xyxy=faces.xyxy.astype(np.float32), confidence=faces.confidence, class_id=class_id
        )
        if self.blur_faces:
            scene = sv.BlurAnnotator(
                kernel_size=max(15, int(faces.area.max() ** 0.5) // 3)
            ).annotate(scene, detections)
        labels = []
        for i in range(len(faces)):
            prefix = f"#{faces.track_id[i]} " if faces.track_id is not None else ""
            if probs is None:
                labels.append(f"{prefix}face {faces.confidence[i]:.2f}")
                continue
            p = probs[i]
            text = f"{prefix}{names[int(p.argmax())]} {p.max():.2f}"
            if faces.abstained is not None and faces.abstained[i]:
                text += " ?"
            labels.append(text)
        scene = sv.BoxAnnotator(thickness=round(self.thickness * scale)).annotate(scene, detections)
        scene = sv.LabelAnnotator(
            text_scale=0.5 * scale,
            text_thickness=max(1, round(scale)),
            text_padding=round(5 * scale),
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
            for box, p in zip(faces.xyxy, probs, strict=True):
                _draw_bars(scene, box, p, names, scale)
        return scene


def _draw_bars(
    scene: ImageBGR, box: np.ndarray, p: np.ndarray, names: tuple[str, ...], scale: float
) -> None:
    """A small horizontal bar per label to the right of ``box`` (left if no room)."""
    h_img, w_img = scene.shape[:2]
    row = max(6, round(7 * scale))
    width = round(60 * scale)
    x = int(box[2]) + 4
    if x + width + 30 * scale > w_img:
        x = max(0, int(box[0]) - width - round(34 * scale))
    y = max(0, int(box[1]))
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


def draw_notice(scene: ImageBGR, text: str = NOTICE) -> ImageBGR:
    """Draw an always-visible banner (top-left, red) on ``scene`` in place and return it."""
    scale = max(0.5, scene.shape[1] / 1280)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(scene, (0, 0), (tw + 12, th + base + 10), (0, 0, 200), -1)
    cv2.putText(
        scene, text, (6, th + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )
    return scene
