"""Boxes, keypoints and perceived-expression labels drawn with supervision's annotators."""

from __future__ import annotations

import cv2
import numpy as np

from mien.types import FrameResult, ImageBGR


class ExpressionAnnotator:
    """Draw each face's box, its keypoints and ``label probability`` (``?`` when abstained).

    Args:
        thickness: box line width in pixels (scaled up for large images).
        keypoints: also draw the detector's keypoints.

    Example:
        >>> scene = ExpressionAnnotator().annotate(image.copy(), result)
    """

    def __init__(self, *, thickness: int = 2, keypoints: bool = True) -> None:
        self.thickness = thickness
        self.keypoints = keypoints

    def annotate(self, scene: ImageBGR, result: FrameResult) -> ImageBGR:
        """Draw on ``scene`` (``(H, W, 3)`` uint8 BGR, modified in place) and return it."""
        import supervision as sv

        faces = result.faces
        if len(faces) == 0:
            return scene
        scale = max(1.0, max(scene.shape[:2]) / 640)
        names = result.expression_names
        class_id = (
            faces.expression.argmax(1)
            if faces.expression is not None
            else np.zeros(len(faces), int)
        )
        detections = sv.Detections(
            xyxy=faces.xyxy.astype(np.float32), confidence=faces.confidence, class_id=class_id
        )
        labels = []
        for i in range(len(faces)):
            if faces.expression is None:
                labels.append(f"face {faces.confidence[i]:.2f}")
                continue
            p = faces.expression[i]
            text = f"{names[int(p.argmax())]} {p.max():.2f}"
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
        if self.keypoints and faces.keypoints is not None:
            r = max(1, round(2 * scale))
            for pts in faces.keypoints:
                for x, y in pts:
                    cv2.circle(
                        scene, (round(float(x)), round(float(y))), r, (0, 255, 255), -1, cv2.LINE_AA
                    )
        return scene
