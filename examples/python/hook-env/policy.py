"""What `hook-env` adds to every task's environment: plain Python, unit-tested natively."""
import re

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def variables(parameters):
    """The variables to set, one per manifest parameter (a later key wins), in first-seen order.

    Raises ValueError naming the parameter when a key is not a valid variable name.
    """
    out = {}
    for key, value in parameters:
        if not NAME.match(key):
            raise ValueError(
                f"parameter {key!r} is not an environment variable name: use letters, digits "
                "and '_', not starting with a digit")
        out[key] = value
    return list(out.items())


def environment(configured, framework_id):
    """The configured variables plus `MESETA_FRAMEWORK_ID`, read from the executor's handle."""
    return configured + [("MESETA_FRAMEWORK_ID", framework_id)]
