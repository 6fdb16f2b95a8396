"""The card's fixed prose: the caveat under the title, intended and refused uses, limits."""

CAVEAT = (
    "Facial movements are not reliable read-outs of inner emotion: the same feeling shows in "
    "many ways and the same movement has many causes, depending on the person, the culture and "
    'the situation (Barrett, Adolphs, Marsella, Martinez & Pollak, "Emotional Expressions '
    'Reconsidered", *Psychological Science in the Public Interest* 20(1), 2019). This model '
    "reports how a face is likely to be *perceived* by annotators, with its uncertainty. It "
    "does not measure what anyone feels, intends or is."
)

USES = """## Intended uses

- Research and engineering in affective computing, psychology, HCI and media analysis, on
  images and videos the user has consent to analyse: describing how faces are likely to be
  perceived, with per-face uncertainty, abstention and quality flags.
- Aggregate descriptions over many faces or frames, reported with their intervals.

## Out of scope and refused uses

- Inferring inner emotion, intent, honesty, guilt, mental state, personality or
  "dangerousness".
- Decisions about individuals: hiring, education, insurance, credit, policing, border
  control, access to services. In particular: no use in workplaces or schools to infer what
  people feel.
- Identity recognition, face matching, watch lists, or tracking people across unrelated
  footage; any demographic inference (race, ethnicity, skin colour, gender, age). The model
  has no such outputs; mien keeps nothing about a face beyond the file or stream it is in.
  A dataset's own demographic columns may be used only to audit accuracy per group
  (`mien evaluate --by COLUMN`).
"""


LIMITS = (
    "Trained on grey web photos and posed portraits; profile views, heavy occlusion, very low "
    "light, infants and non-photographic faces are outside what was checked.",
    "Rare labels (contempt, disgust, fear) have few training images; their recall above has "
    "wide intervals. Treat them as unreliable.",
    "Calibration was fitted on FER+ `val`; on other footage check it with `mien evaluate` on a "
    "labelled sample of your own.",
    "Sideways and upside-down faces (a photo whose orientation tag was lost, a person lying "
    "down, a camera mounted upside down) are read as if upright, with confident wrong labels. "
    "The upright check (`upright` column; `quality_ok` needs it ≥ 0.5) abstains on them: on "
    "the 400 media photos turned by 90°, 180° and 270°, the labels committed and differing "
    "from the upright photo's fell from 58, 114 and 61 to 0, 0 and 1 "
    "(`python benchmarks/upright_check.py`). Turn such footage upright to have it read.",
)
"""The items of the card's "Limits" section."""
