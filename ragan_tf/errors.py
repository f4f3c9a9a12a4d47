"""The project's own error class: problems with what a user gave us, reported in one line.

Every known failure mode of a command (a bad config value, an unreadable
photo, a run that cannot be resumed, a model folder that is not an export)
raises a subclass of `RaganError` whose message names the input and the fix.
The CLI prints those as one line and exits with status 2; anything else is a
bug and keeps its traceback. File-system errors (`OSError`: a full disk, a
read-only folder) are the environment's, and the CLI reports them the same
way, naming the file.
"""


class RaganError(Exception):
    """A problem with the user's input or environment; the message names it and the fix."""


class TrainingDiverged(RaganError):
    """Training produced non-finite losses or weights and stopped (see `training.on_nan`)."""


class BackupError(RaganError):
    """A run folder whose backups cannot be resumed as asked."""
