"""Data-layer defaults, in a module that imports nothing (the CLI reads them without
loading numpy or pandas); :mod:`songspace.data.splits` re-exports them."""

#: Completion test playlists have at least this many distinct tracks (MUSIG §4.1).
DEFAULT_MIN_TRACKS = 40
#: The papers' held-out share per part (W2V paper §3: 98/1/1 of the MPD's playlists).
DEFAULT_TEST_FRACTION = 0.01
