"""The flat row schema: one row per face per image or frame, or one row for a frame without a
face or a file that failed.

Columns, in order: ``schema_version, model, source, status, error, frame_index, timestamp_s,
image_width, image_height, face, track_id, x1, y1, x2, y2, det_confidence, p_<label>…, label,
label_probability, abstained, face_size_px, sharpness, yaw, pitch, roll, truncated, upright,
quality_ok, ps_<label>…, smoothed_label``.

* ``model``: the expression model's name (``fer_resnet_v3``, or an export's own name given
  with ``--weights``), so rows from different models never mix unnoticed.
* ``status``: ``ok`` (a face), ``no_face`` (the image or frame was read and has no face; face
  columns empty), ``error`` (the file or video could not be used, or broke off; ``error`` says
  why) or ``damaged`` (in a video, before the rows of a frame just before which damaged data
  was left out: its ``frame_index`` is that frame's, its ``timestamp_s`` where the stretch left
  out began, and ``error`` says so; nothing was seen from there to the frame, which the
  summaries and plots respect). A video therefore has at least one row per processed frame:
  no silent gaps.
* ``frame_index`` (0-based in the source) and ``timestamp_s`` (the container's presentation
  time, seconds) are 0 and 0.0 for still images.
* Boxes are pixels of the upright image. ``label`` is the perceived expression with the highest
  probability; ``abstained`` is true when that probability is below the model's threshold.
  Probabilities are rounded *down* to 5 decimals (:func:`probability_shown`), so one below
  the threshold never shows as the threshold.
* Quality (:mod:`mien.quality`): ``face_size_px``, ``sharpness``, ``yaw``/``pitch``/``roll``
  (degrees; empty when not measured), ``truncated``, ``upright`` (0-1, the upright check's
  probability that the aligned face is upright, rounded down; in videos and streams each
  track's average, :class:`~mien.tracking.UprightSmoother`; empty when not measured) and
  ``quality_ok``; ``abstained`` is also true when ``quality_ok`` is false.
* ``track_id`` (videos and streams; ids restart with every source) and the per-track smoothed
  probabilities ``ps_<label>`` with their argmax ``smoothed_label`` are empty for stills.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

from mien.quality.measures import QUALITY_COLUMNS
from mien.types import FrameResult

SCHEMA_VERSION = "4"
"""Bumped when columns or their values change: 2 added ``model`` (mien 0.2.2), 3 added
``upright`` (0.2.16), 4 the ``damaged`` rows (0.2.20; in videos ``upright`` is also averaged
per track since)."""

CONTINUES = frozenset({"3"})
"""Older schemas whose batch folders a run may continue: 4 only adds rows of a new ``status``,
so such a folder holds rows of both (each row says its ``schema_version``)."""


def upright_shown(value: float) -> float:
    """The upright check's probability as rows and API answers show it: rounded *down* to 2
    decimals, so a face that failed ``min_upright`` 0.5 (0.49996, say) never shows 0.5."""
    return probability_shown(value, 2)


def probability_shown(value: float, decimals: int = 5) -> float:
    """A probability as rows, API answers and drawn labels show it: rounded *down* to
    ``decimals``, so one under a threshold never shows as the threshold (0.499997 read
    ``label_probability 0.5`` beside ``abstained true``, whose rule is "below 0.5").
    The value is read at float32 precision first (a float32 0.7 shows 0.7, not 0.69999);
    NaN stays NaN."""
    v = float(value)
    if not math.isfinite(v):
        return v
    # the shortest decimal that reads back as the same float32 (the model's own precision:
    # float32 0.7 is 0.69999999, which a plain floor showed as 0.69999), then floored
    shortest = np.format_float_positional(np.float32(v), unique=True, trim="0")
    step = Decimal(1).scaleb(-decimals)
    return float(Decimal(shortest).quantize(step, rounding=ROUND_FLOOR))


def row_columns(names: Sequence[str]) -> list[str]:
    """Column names for a model with expression labels ``names``."""
    return [
        "schema_version",
        "model",
        "source",
        "status",
        "error",
        "frame_index",
        "timestamp_s",
        "image_width",
        "image_height",
        "face",
        "track_id",
        "x1",
        "y1",
        "x2",
        "y2",
        "det_confidence",
        *(f"p_{n}" for n in names),
        "label",
        "label_probability",
        "abstained",
        *QUALITY_COLUMNS,
        *(f"ps_{n}" for n in names),
        "smoothed_label",
    ]


def column_types(names: Sequence[str]) -> dict[str, str]:
    """Column -> ``"string" | "int" | "float" | "bool"`` (for typed sinks such as Parquet)."""
    types = dict.fromkeys(row_columns(names), "float")
    for c in ("schema_version", "model", "source", "status", "error", "label", "smoothed_label"):
        types[c] = "string"
    for c in ("frame_index", "image_width", "image_height", "face", "track_id"):
        types[c] = "int"
    for c in ("abstained", "truncated", "quality_ok"):
        types[c] = "bool"
    return types


def _blank(names: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(row_columns(names))
    row["schema_version"] = SCHEMA_VERSION
    return row


DAMAGED = "damaged"
"""The ``status`` of the row marking where damaged data of a video was left out."""


def result_rows(result: FrameResult) -> list[dict[str, Any]]:
    """Rows for one :class:`FrameResult`: one per face, or one ``no_face`` row; after a
    ``damaged`` row where damaged data was left out just before the frame
    (:attr:`FrameResult.damaged_from_s`)."""
    names = result.expression_names
    marker = []
    if result.damaged_from_s is not None:
        t0, t1 = round(result.damaged_from_s, 6), round(result.timestamp_s, 6)
        marker = [
            {
                **_blank(names),
                "model": result.model,
                "source": result.source,
                "status": DAMAGED,
                "error": f"damaged data left out from {t0:.3f} s to this frame at {t1:.3f} s: "
                "nothing seen in between",
                "frame_index": result.frame_index,
                "timestamp_s": t0,
            }
        ]
    return marker + _frame_rows(result, names)


def _frame_rows(result: FrameResult, names: tuple[str, ...]) -> list[dict[str, Any]]:
    base = _blank(names)
    base.update(
        model=result.model,
        source=result.source,
        frame_index=result.frame_index,
        timestamp_s=round(result.timestamp_s, 6),
        image_width=result.image_wh[0],
        image_height=result.image_wh[1],
    )
    faces = result.faces
    if len(faces) == 0:
        return [{**base, "status": "no_face"}]
    rows = []
    for i in range(len(faces)):
        row = {**base, "status": "ok", "face": i}
        if faces.track_id is not None:
            row["track_id"] = int(faces.track_id[i])
        x1, y1, x2, y2 = (round(float(v), 2) for v in faces.xyxy[i])
        row.update(x1=x1, y1=y1, x2=x2, y2=y2, det_confidence=round(float(faces.confidence[i]), 4))
        if faces.expression is not None:
            p = faces.expression[i]
            for n, v in zip(names, p, strict=True):
                row[f"p_{n}"] = probability_shown(v)
            top = int(p.argmax())
            row.update(label=names[top], label_probability=probability_shown(p[top]))
            row["abstained"] = bool(faces.abstained[i]) if faces.abstained is not None else None
        for c in QUALITY_COLUMNS:
            if c in faces.data:
                v = faces.data[c][i].item()
                if isinstance(v, bool) or v != v:  # NaN stays
                    row[c] = v
                elif c == "upright":
                    row[c] = upright_shown(v)
                else:
                    row[c] = round(float(v), 2)
        if faces.smoothed is not None:
            s = faces.smoothed[i]
            for n, v in zip(names, s, strict=True):
                row[f"ps_{n}"] = probability_shown(v)
            row["smoothed_label"] = names[int(s.argmax())]
        rows.append(row)
    return rows


def error_row(
    source: str,
    error: str,
    names: Sequence[str],
    *,
    frame_index: int | None = None,
    timestamp_s: float | None = None,
    model: str = "",
) -> dict[str, Any]:
    """The row recording a file that could not be analysed by the expression model ``model``:
    for a video that broke off, ``timestamp_s`` is the last frame decoded before the break
    (decoded, not necessarily analysed under ``--every``/``--fps``), rounded like every row's."""
    return {
        **_blank(names),
        "model": model,
        "source": source,
        "status": "error",
        "error": error,
        "frame_index": frame_index,
        "timestamp_s": None if timestamp_s is None else round(timestamp_s, 6),
    }
