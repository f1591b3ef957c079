"""What `hook-labels` adds to every task: plain Python, unit-tested natively."""


def labels(parameters):
    """One label per distinct parameter key, in first-seen order, the last value winning.

    Raises ValueError when a key is empty.
    """
    out = {}
    for key, value in parameters:
        if not key:
            raise ValueError("a parameter has an empty key; label keys must not be empty")
        out[key] = value
    return list(out.items())
