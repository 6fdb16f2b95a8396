"""Training configuration: a dataclass of defaults, overlaid by a YAML file and CLI overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    """Every knob of a training run; the resolved copy is written to ``<out>/config.yaml``.

    Attributes (groups):
        data: ``fer_dir`` (labels.csv layout with ``votes_*``), ``taiwanese_dir`` (optional
            extra posed set, split by ``subject``), ``taiwanese_val_subjects``.
        targets: ``vote_weight`` blends the FER+ vote distribution with the one-hot majority
            label (1.0 = votes only); ``taiwanese_observer_weight`` blends observer ratings with
            the performer's intended label.
        model: ``arch`` (see :mod:`mien.training.nets`), ``widths``, ``depths``, ``stem``,
            ``dropout``, ``input_size``, ``upsample_to``. ``input_size`` is also the side of
            every training crop (FER's 48 px images are resized to it, the Taiwanese and
            SMILEsmileD photos aligned at it); a ``data_cache`` must have been packed at it.
        optimisation: SGD with Nesterov momentum, one-cycle cosine LR with linear warm-up,
            weight EMA, bf16 autocast on CPU.
        augmentation: random similarity warp, flip, brightness/contrast, gamma, blur, JPEG
            artefacts, low resolution and random erasing.
        ``taiwanese_repeat``: how many times each posed training photo appears per epoch.
        ``smiles_dir``: optional SMILEsmileD crops (detected and aligned by mien): smiles are
            happiness positives, non-smiles only say "not happiness" (a non-smile is not
            neutral), trained with ``-log(1 - p_happiness)``.
        ``class_balance``: β of class-balanced sampling; each row is drawn with probability
            ∝ ``n_c ** -β`` for its hard label's count ``n_c`` (0 = every row once per epoch,
            1 = every class equally often). Rows are drawn with replacement when β > 0.
        ``init_from``: a checkpoint (``best.pt``) whose EMA weights start the run (fine-tuning);
            ``None`` starts from random weights.
        ``data_cache``: a ``.npz`` of the prepared rows (:meth:`TrainingData.save`,
            ``scripts/pack_training_data.py``) read instead of the raw sets, so a machine without
            the data, the detector or the aligner can train.
        ``device``: ``"cpu"`` or ``"cuda"``; bf16 autocast runs on either.
        ``time_budget_s``: when set, the schedule is shortened after the first epoch so the
            run ends within about this many seconds (``epochs`` is then an upper bound).
        distillation: ``teachers`` (checkpoints whose mean probability, at temperature
            ``distill_temperature``, on the *same augmented view* is mixed into each row's
            target with weight ``distill_alpha``; Hinton et al., "Distilling the Knowledge in a
            Neural Network", 2015; consistent views after Beyer et al., "Knowledge distillation:
            A good teacher is patient and consistent", CVPR 2022).
        ``limit_train``: keep only the first rows of FER+ ``train`` (quick runs; the Taiwanese
            and SMILEsmileD rows are kept).
        ``teacher_probs``: offline distillation: a ``.npz`` of a teacher's probabilities on
            the cache's training rows (``scripts/predict_ensemble.py``), mixed into the targets
            with weight ``distill_alpha`` (for a machine that cannot run the teacher); not
            together with ``teachers``.
        ``upsample_to``: the side the crop is resized to inside the network (``None`` = none;
            the network still takes ``input_size`` crops).
    """

    out: str = "runs/fer_resnet"
    seed: int = 0
    threads: int = 2
    fer_dir: str = "../shared/data/fer"
    taiwanese_dir: str | None = "../shared/data/taiwanese"
    taiwanese_val_subjects: list[str] = field(
        default_factory=lambda: ["P01", "P08", "P15", "P22", "P29"]
    )
    vote_weight: float = 0.8
    taiwanese_observer_weight: float = 0.5
    taiwanese_repeat: int = 1
    smiles_dir: str | None = None
    class_balance: float = 0.0
    init_from: str | None = None
    arch: str = "fer_resnet"
    widths: list[int] = field(default_factory=lambda: [48, 96, 192, 384])
    depths: list[int] = field(default_factory=lambda: [2, 2, 2, 1])
    stem: int = 32
    dropout: float = 0.3
    input_size: int = 48
    upsample_to: int | None = None
    epochs: int = 40
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 2.0
    ema_decay: float = 0.999
    bf16: bool = True
    rotate_deg: float = 12.0
    scale_range: list[float] = field(default_factory=lambda: [0.8, 1.15])
    translate: float = 0.08
    brightness: float = 0.15
    contrast: float = 0.3
    lowres_p: float = 0.2
    erase_p: float = 0.25
    gamma: float = 0.0
    blur_p: float = 0.0
    jpeg_p: float = 0.0
    limit_train: int | None = None
    data_cache: str | None = None
    device: str = "cpu"
    time_budget_s: float | None = None
    teachers: list[str] = field(default_factory=list)
    distill_alpha: float = 0.5
    distill_temperature: float = 1.0
    teacher_probs: str | None = None

    def __post_init__(self) -> None:
        """Raises ValueError for a crop size or network shape that cannot work."""
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int):
            raise ValueError(
                f"input_size must be a whole number of pixels; got {self.input_size!r}"
            )
        if self.input_size < 16:
            raise ValueError(f"input_size must be at least 16 px; got {self.input_size}")
        if self.upsample_to is not None and (
            isinstance(self.upsample_to, bool)
            or not isinstance(self.upsample_to, int)
            or self.upsample_to < 16
        ):
            raise ValueError(
                f"upsample_to must be None or a whole number of pixels >= 16; got "
                f"{self.upsample_to!r}"
            )
        if not self.widths:
            raise ValueError("widths needs at least one stage")
        if len(self.widths) != len(self.depths):
            raise ValueError(
                f"widths and depths need one entry per stage; got {len(self.widths)} widths "
                f"and {len(self.depths)} depths"
            )

    @classmethod
    def load(
        cls, path: str | Path | None = None, overrides: dict[str, Any] | None = None
    ) -> TrainConfig:
        """Defaults, then the YAML file at ``path``, then ``overrides``.

        Raises:
            ValueError: a key that is not a field of this config, or a value
                :meth:`__post_init__` refuses (``input_size``, ``widths``/``depths``).
        """
        values: dict[str, Any] = {}
        if path is not None:
            import yaml

            values.update(yaml.safe_load(Path(path).read_text()) or {})
        values.update(overrides or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known keys are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
