"""Progress output of long work (training, evaluation, data building)."""


def log(message):
    """Prints `message` flushed at once, so it shows when stdout is a file or pipe."""
    print(message, flush=True)
