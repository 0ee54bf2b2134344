"""`python -m watchkeeper.faces.cli` runs the CLI, as the `watchkeeper` console script does."""

from watchkeeper.faces.cli import main

main()
