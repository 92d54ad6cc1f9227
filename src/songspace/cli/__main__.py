"""``python -m songspace.cli``: the ``songspace`` command."""

from songspace.cli import main

main()
