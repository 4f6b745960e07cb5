"""``python -m gridhub``: the same command line as ``gridhub`` (how child processes
are started, with this interpreter)."""

from gridhub.cli import main

main()
