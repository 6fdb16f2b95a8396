"""Where a face's keypoints sit inside a model's training crops.

``FER_TEMPLATE`` was measured, not guessed: ``scripts/derive_template.py`` runs mien's own
BlazeFace detector over 3,000 FER2013 training crops (upscaled ×4, padded) and takes the
median position of each keypoint, mirrored to be left-right symmetric. Aligning a detected
face onto these positions frames it the way FER2013's crops are framed, so the expression
model sees the same kind of picture in use as in training.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlignTemplate:
    """Keypoint targets in crop fractions (0 = left/top edge, 1 = right/bottom edge).

    Attributes:
        eye_center: ``(x, y)`` midpoint between the eyes.
        eye_distance: distance between the eye centres, as a fraction of crop width.
        eye_to_mouth: distance from the eye midpoint to the mouth centre, as a fraction of
            crop height.
    """

    eye_center: tuple[float, float]
    eye_distance: float
    eye_to_mouth: float


FER_TEMPLATE = AlignTemplate(eye_center=(0.5, 0.400), eye_distance=0.366, eye_to_mouth=0.387)
"""FER2013 framing, measured by ``scripts/derive_template.py`` (medians over 3,000 crops)."""

TEMPLATES: dict[str, AlignTemplate] = {"fer": FER_TEMPLATE}
"""The templates a weight spec's ``alignment`` may name."""
