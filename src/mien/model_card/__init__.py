"""Generate a model's ``MODEL_CARD.md`` from its spec and fresh evaluation results.

``mien model-card`` runs the cross-dataset protocol (:mod:`mien.evaluation.protocol`) with
Wilson and bootstrap intervals, measures calibration before and after temperature scaling on FER+
``val``, measures the accuracy drop behind each quality flag, and writes the card. An ablation
table is included when ``<weights>/<name>.ablation.json`` exists, a cross-validation table when
``<weights>/<name>.folds.json`` does. The card is therefore regenerable by one command whenever
the data beside the repository is present.

Modules: :mod:`~mien.model_card.generate` (evaluate and write),
:mod:`~mien.model_card.measure` (calibration, quality flags, intervals by performer),
:mod:`~mien.model_card.render` (the Markdown, one function per section),
:mod:`~mien.model_card.recipe` (the Data and Recipe sections from the training config),
:mod:`~mien.model_card.tables` (table helpers, seed noise, cross-validation) and
:mod:`~mien.model_card.text` (fixed prose).
"""

from mien.model_card.generate import write_model_card
from mien.model_card.render import render

__all__ = ["render", "write_model_card"]
