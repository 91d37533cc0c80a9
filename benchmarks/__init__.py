"""Benchmarks and diagnostics that print their numbers (not timed tests)."""

import sys


def print_report(compute, report):
    """Prints `report(compute())` and returns 0; a user's error is one `error:` line and 1.

    The errors a user can cause are `FileNotFoundError` (no trained run, its
    data files gone) and `ValueError` (data without what the benchmark
    reads, e.g. attribute ids).
    """
    try:
        result = compute()
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(report(result))
    return 0
