"""The one way a benchmark appends its table to benchmarks/RESULTS.md, with its command."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from moviegenre._util import write_text

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def append_results(heading: str, text: str, note: str = "") -> None:
    """Append ``### heading (UTC time)``, ``note`` (lines ending in a newline), the command
    that ran (without ``--append``) and ``text`` to RESULTS.md."""
    args = [a for a in sys.argv[1:] if a != "--append"]
    command = " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *args])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    before = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    block = f"\n### {heading} ({stamp})\n\n{note}Command: `{command}`\n\n{text}\n"
    write_text(RESULTS, before + block)  # atomic: a killed run never leaves half a table
