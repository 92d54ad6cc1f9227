"""Data-layer defaults, in a module that imports nothing (the CLI reads them without
loading numpy or pandas); :mod:`songspace.data.splits` re-exports them."""

#: Completion test playlists have at least this many distinct tracks (MUSIG §4.1).
DEFAULT_MIN_TRACKS = 40
#: The papers' held-out share per part (W2V paper §3: 98/1/1 of the MPD's playlists).
DEFAULT_TEST_FRACTION = 0.01
#: The default share is raised so that about this many test sequences exist ...
MIN_TEST_SEQUENCES = 100
#: ... up to this share per part (half the data stays for training).
MAX_AUTO_TEST_FRACTION = 0.25
#: The papers' split (train, validation, test): 98/1/1.
DEFAULT_FRACTIONS = (1 - 2 * DEFAULT_TEST_FRACTION, DEFAULT_TEST_FRACTION, DEFAULT_TEST_FRACTION)
#: Cold start: the share of the training tracks hidden from training (MUSIG §3.2).
DEFAULT_COLD_SHARE = 0.05
#: Last.fm: an inactivity gap of this many minutes starts a new session.
DEFAULT_GAP_MINUTES = 30.0
#: Metadata: the genre one-hot holds the top G genres (+ other).
DEFAULT_TOP_GENRES = 50
#: The synthetic generator's default size and shape.
SYNTHETIC_PLAYLISTS = 2000
SYNTHETIC_TRACKS = 3000
SYNTHETIC_GENRES = 10
SYNTHETIC_MEAN_LENGTH = 30.0
#: The synthetic generator's sequential signal (0: entries independent of their order).
SYNTHETIC_SEQUENTIAL = 0.0
#: The sequence orders of `songspace slice` (songspace.data.slices), with what each is.
SEQUENCE_ORDERS = {
    "stored": "as the dataset stores them",
    "time": "by each sequence's newest timestamp, oldest first",
    "seeded": "a seeded permutation, not temporal",
}
