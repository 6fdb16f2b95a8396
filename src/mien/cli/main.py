"""The ``mien`` command: ``analyze | evaluate | labels | models | plot | summary | watch |
serve | batch | model-card`` (thin over the library)."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from mien.cli.analyze import analyze
from mien.cli.batch import batch
from mien.cli.card import model_card
from mien.cli.evaluate import evaluate, models
from mien.cli.labels import labels
from mien.cli.plot import plot
from mien.cli.serve import serve
from mien.cli.summary import summary
from mien.cli.watch import watch


def _no_flag_metavar(params: list) -> list:
    """Blank the metavar of on/off flags: typer's help shows ``<bool>`` beside them (and
    ``--help``), as if they took a value."""
    for p in params:
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx):
        return _no_flag_metavar(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx):
        return _no_flag_metavar(super().get_params(ctx))


app = typer.Typer(
    name="mien",
    cls=_Group,
    help="Perceived facial expression in images, videos and live streams: what a face looks "
    "like, with calibrated probabilities. Not a reading of anyone's inner emotion.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
app.command(cls=_Command)(analyze)
app.command(cls=_Command)(evaluate)
app.command(cls=_Command)(models)
app.command(cls=_Command)(labels)
app.command(cls=_Command)(plot)
app.command(cls=_Command)(summary)
app.command(cls=_Command)(watch)
app.command(name="model-card", cls=_Command)(model_card)
app.command(cls=_Command)(serve)
app.command(cls=_Command)(batch)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"mien {version('mien')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """mien: perceived facial expression, measured locally."""
    import warnings

    from PIL import Image

    # mien's own pixel cap (--max-pixels) decides; Pillow's warning above 89 M pixels would
    # only repeat it (the library leaves the warning to its caller: see mien.io.image)
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
