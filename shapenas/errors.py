"""The one exception type the command line turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a config value, a path, a storage URL, a study name.

    The message must name the bad value; the CLI prints it on one line, without a traceback.
    """
