"""``python -m contimg`` runs the command-line interface."""

from contimg.cli.main import main

main()
