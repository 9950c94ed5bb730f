"""``python -m moviegenre.cli``: the same as the ``moviegenre`` command."""

from moviegenre.cli import main

main()
