"""The ``songspace`` command line: thin wrappers over the library's public functions.

One module per command group; this one builds the typer ``app``, registers every
command (in the order ``songspace --help`` lists them) and holds the entry point
:func:`main`. The library is imported lazily, inside each command, so that
``songspace --help`` loads neither numpy nor pandas.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.markup import escape

from songspace.cli import data, evaluate, models, recommender, reports, serve, tune
from songspace.cli._common import CliState, err_console
from songspace.clierrors import RedactingFilter

app = typer.Typer(
    name="songspace",
    help="Learn, evaluate and tune track embeddings for music recommendation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide progress bars.")] = False,
) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logger = logging.getLogger("songspace")
    logger.handlers.clear()
    logger.addHandler(RichHandler(console=err_console, show_time=False, show_path=False))
    logger.handlers[0].addFilter(RedactingFilter())  # no password reaches the terminal
    logger.setLevel(level)
    logger.propagate = False
    ctx.obj = CliState(progress=not (no_progress or quiet))


app.add_typer(data.prepare_app, name="prepare")
app.add_typer(recommender.app, name="recommender")
for _name, _command in (
    ("info", data.info_cmd),
    ("slice", data.slice_cmd),
    ("demo", reports.demo_cmd),
    ("evaluate", evaluate.evaluate_cmd),
    ("tune-rankers", tune.tune_rankers_cmd),
    ("models", models.models_cmd),
    ("train", models.train_cmd),
    ("train-distributed", models.train_distributed_cmd),
    ("embed", models.embed_cmd),
    ("update", models.update_cmd),
    ("cold-start", reports.cold_start_cmd),
    ("compare", reports.compare_cmd),
    ("explore", reports.explore_cmd),
    ("tune", tune.tune_cmd),
    ("tune-report", tune.tune_report_cmd),
    ("recommend", serve.recommend_cmd),
    ("serve", serve.serve_cmd),
):
    app.command(_name)(_command)


def main() -> None:
    """Entry point: run the app; print every error as one line, without a traceback.

    Songspace errors print as they are; operating-system errors (disk full,
    read-only output, a parent that is a file, ...) through
    :func:`songspace.clierrors.describe_os_error`; anything else as one line that
    points to ``--verbose`` (which prints the traceback too).
    """
    from songspace.clierrors import describe_unexpected, error_message

    try:
        app()
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except Exception as exc:
        text = error_message(exc)
        if text is None:
            if logging.getLogger("songspace").isEnabledFor(logging.DEBUG):
                err_console.print_exception()
            text = describe_unexpected(exc)
        err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(1)
