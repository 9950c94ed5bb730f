"""The ``moviegenre`` command (and ``python -m moviegenre``).

``moviegenre --version`` answers here, before the command-line app (typer, rich and the
commands' modules: ~0.3 s) is imported; everything else goes to ``moviegenre.cli.main``.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from moviegenre._version import __version__

        print(f"moviegenre {__version__}")
        return
    from moviegenre.cli import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
