"""The project's own error class: problems with what a user gave us, reported in one line.

Every known failure mode of a command (a bad config value, an unreadable
photo, a run that cannot be resumed, a model folder that is not an export)
raises a subclass of `RaganError` whose message names the input and the fix.
The CLI prints those as one line and exits with status 2; anything else is a
bug and keeps its traceback. File-system errors (`OSError`: a full disk, a
read-only folder) are the environment's, and the CLI reports them the same
way, naming the file. A missing optional package (an extra of setup.py: faces, onnx,
litert) is one of those errors too: `require_extra` imports it or names the extra to install.
"""


class RaganError(Exception):
    """A problem with the user's input or environment; the message names it and the fix."""


class TrainingDiverged(RaganError):
    """Training produced non-finite losses or weights and stopped (see `training.on_nan`)."""


class BackupError(RaganError):
    """A run folder whose backups cannot be resumed as asked."""


class MissingExtraError(RaganError, ImportError):
    """An optional package a command needs is not installed; the message names the extra that installs it."""


def install_command(extra):
    """The pip command that installs the optional packages of `extra` (setup.py: faces, onnx, litert)."""
    return f"pip install 'ragan-tf[{extra}]'"


def require_extra(extra, purpose, *modules, otherwise=""):
    """Imports the modules named `modules` and returns them (a tuple, in that order).

    The one place the "install the extra" message is written: a module that does not
    import raises `MissingExtraError`, one line naming `purpose`, the modules, the
    import error and `install_command(extra)`, then `otherwise` (another way out, e.g.
    "or pass --mask none") when given.

    Example:
        >>> (onnxruntime,) = require_extra("onnx", "--runtime onnx", "onnxruntime")
    """
    import importlib

    imported = []
    for name in modules:
        try:
            imported.append(importlib.import_module(name))
        except ImportError as error:
            names = ", ".join(modules[:-1]) + " and " + modules[-1] if len(modules) > 1 else name
            them = "them" if len(modules) > 1 else "it"
            raise MissingExtraError(f"{purpose} needs {names} ({error}); install {them} with: "
                                    f"{install_command(extra)}{f', {otherwise}' if otherwise else ''}") from None
    return tuple(imported)
