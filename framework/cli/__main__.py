"""`python -m watchkeeper.cli` runs the CLI, as the `watchkeeper` console script does."""

from . import main

main()
