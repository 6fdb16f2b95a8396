"""The ``mien`` command: ``analyze | evaluate | models | plot | watch`` (thin over the library)."""

from __future__ import annotations

from typing import Annotated

import typer

from mien.cli.analyze import analyze
from mien.cli.batch import batch
from mien.cli.card import model_card
from mien.cli.evaluate import evaluate, models
from mien.cli.plot import plot
from mien.cli.serve import serve
from mien.cli.watch import watch

app = typer.Typer(
    name="mien",
    help="Perceived facial expression in images, videos and live streams: what a face looks "
    "like, with calibrated probabilities. Not a reading of anyone's inner emotion.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
app.command()(analyze)
app.command()(evaluate)
app.command()(models)
app.command()(plot)
app.command()(watch)
app.command(name="model-card")(model_card)
app.command()(serve)
app.command()(batch)


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
