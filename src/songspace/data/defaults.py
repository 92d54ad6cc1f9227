"""Data-layer defaults, in a module that imports nothing (the CLI reads them without
loading numpy or pandas); :mod:`songspace.data.splits` re-exports them."""

#: Completion test playlists have at least this many distinct tracks (MUSIG §4.1).
DEFAULT_MIN_TRACKS = 40
