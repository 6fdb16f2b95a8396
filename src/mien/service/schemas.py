"""Response models of the HTTP API. Face fields use the CLI export schema's names."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FaceOut(BaseModel):
    """One face: the same field names as a row of ``mien analyze`` (without file columns)."""

    face: int
    track_id: int | None = None
    x1: float
    y1: float
    x2: float
    y2: float
    det_confidence: float
    probabilities: dict[str, float] = Field(description="p_<label> values, keyed by label")
    label: str = Field(description="most probable perceived expression")
    label_probability: float
    abstained: bool
    face_size_px: float | None = None
    sharpness: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None
    truncated: bool | None = None
    upright: float | None = Field(
        default=None, description="probability the face is upright, not turned (0-1)"
    )
    quality_ok: bool | None = None
    smoothed: dict[str, float] | None = Field(default=None, description="ps_<label> (streams)")


class AnalyzeOut(BaseModel):
    schema_version: str
    model: str = Field(description="the expression model's name (GET /v1/model describes it)")
    image_width: int
    image_height: int
    faces: list[FaceOut]
    expression_names: list[str]
    timings_ms: dict[str, float]
    note: str = "perceived expression: how a face looks to annotators, not what anyone feels"


class FrameOut(AnalyzeOut):
    frame_index: int
    timestamp_s: float


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable error kind")
    detail: str


class HealthOut(BaseModel):
    status: str
    version: str
    busy: int = Field(description="requests admitted now (working or waiting for an analyzer)")
    capacity: int = Field(description="requests admitted at once (--max-inflight)")
    free_analyzers: int = Field(
        description="analyzers free now (one still finishing work answered 504 is not)"
    )
    uploading: int = Field(
        description="uploads whose body is still arriving (at most --max-inflight; one more "
        "is answered busy)"
    )
    streams: int = Field(description="live stream connections open now")
    stream_capacity: int = Field(description="live stream connections allowed (--max-streams)")


class ModelOut(BaseModel):
    name: str
    sha256: str = Field(description="sha256 of the weight file in use")
    labels: list[str]
    input_size: int
    temperature: float
    abstain_threshold: float
    metrics: dict[str, object]
    version: str
    detector: str = Field(description="the face detector mode in use (`mien serve --detector`)")
    min_upright: float = Field(
        description="faces whose upright check is below this abstain; 0: the check is off "
        "(`mien serve --min-upright`)"
    )
    card: str = Field(
        description="the model card's opening, Markdown (empty for your own --weights)"
    )
