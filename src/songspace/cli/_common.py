"""What every command group of the CLI shares: the consoles, the global state, the
progress bar, the options several commands take, and the table printer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from songspace._cli_progress import RichBar, RichProgress
from songspace.data.defaults import DEFAULT_TEST_FRACTION, MIN_TEST_SEQUENCES

out_console = Console()
err_console = Console(stderr=True)


@dataclass(frozen=True)
class CliState:
    """What the global options decide for every command (held in typer's context)."""

    progress: bool = True


@contextlib.contextmanager
def progress_bar(ctx: typer.Context, label: str = "") -> Iterator[RichBar | None]:
    """A progress callback for the library call in the block (None with --no-progress)."""
    state = ctx.find_object(CliState) or CliState()
    with RichProgress(err_console, enabled=state.progress) as bars:
        yield bars.callback(label)


def one_of(choices: Iterable[str] | Mapping[str, str]) -> str:
    """``a, b or c``: an option's choices for its help text, read from the list's home
    (so the help never restates a list); a table of choices gives ``a (what a is), b
    (...) or c (...)``."""
    if isinstance(choices, Mapping):
        items = [f"{name} ({what})" if what else name for name, what in choices.items()]
    else:
        items = list(choices)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


# ------------------------------------------------------------ options shared by commands
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Random seed (splits, sampling, cold tracks, models).")
]
TestFractionOpt = Annotated[
    float, typer.Option("--test-fraction", help="Share of sequences held out for test.")
]
#: train/evaluate: None = 1%, raised on small data (songspace.data.splits.default_test_fraction)
AutoTestFractionOpt = Annotated[
    float | None,
    typer.Option(
        "--test-fraction",
        help=f"Share of sequences held out for test (default: {DEFAULT_TEST_FRACTION:.0%}, "
        f"raised on small data so that about {MIN_TEST_SEQUENCES} test sequences exist; the "
        "log says so).",
    ),
]
MinTracksOpt = Annotated[
    int,
    typer.Option("--min-tracks", help="Completion test playlists need this many tracks."),
]
KOpt = Annotated[int, typer.Option("--k", help="Neighbours for next-song, HardNeg, buckets.")]
HardnegThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--hardneg-threshold",
        help="Chi-squared below which a frequent adjacent "
        "pair is a false neighbour (default: 1e-7 x song occurrences, W2V §2.2).",
    ),
]
HardnegMinCountOpt = Annotated[
    int,
    typer.Option(
        "--hardneg-min-count",
        help="Adjacent-pair count that makes a pair "
        "frequent enough to be a hard-negative candidate.",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Fix a model parameter: NAME=VALUE (repeatable)."),
]
ModelOpt = Annotated[str, typer.Argument(help="Model name (see `songspace models`).")]
DatasetArg = Annotated[Path, typer.Argument(help="Dataset directory (songspace prepare).")]
OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Output dataset directory (must not exist).")
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace an existing output directory.")
]


def print_tables(table: Any) -> None:
    """A comparison table (songspace.reports.tables) and its legend, never a cut value or
    label: on a terminal, split into as many tables as fit its width (bold shown as
    bold); to a pipe or a log, one Markdown table at its full width (bold as ``**``)."""
    from rich.measure import Measurement

    from songspace.reports.tables import terminal_tables, to_markdown

    if not out_console.is_terminal:
        text = to_markdown(table, name_header="model")
        out_console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
        return
    wide = out_console.options.update_width(10**6)
    for part in terminal_tables(table, width=out_console.width):
        # a block wider than the terminal (one long column) is printed whole, not cropped
        need = Measurement.get(out_console, wide, part).minimum
        out_console.print(part, width=max(out_console.width, need))
        out_console.print()
    out_console.print(escape(table.legend()), highlight=False)
    for note in table.notes:
        out_console.print(escape(note), highlight=False)
