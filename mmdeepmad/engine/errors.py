# Copyright (c) mmdeepmad authors. All rights reserved.
"""The errors a user can cause or meet, as opposed to bugs.

The tools (``tools/train.py``, ``tools/test.py``, ``tools/analysis/
get_flops.py``) print a :class:`ToolError` as one message (``train.py:
error: ...``) and exit with its :attr:`~ToolError.exit_code`; anything else
is a bug and keeps its traceback (see :mod:`mmdeepmad.engine.cli`).

Each class also derives from the built-in exception a library caller would
catch (``ValueError``, ``FileNotFoundError``, ``RuntimeError``), so code that
used the library before these classes existed keeps working.
"""


class ToolError(Exception):
    """An expected failure: one message, no traceback, exit code 1."""

    #: the process exit status the tools use for this error
    exit_code = 1


class InputError(ToolError):
    """Bad input (arguments, config, files the user named): exit code 2."""

    exit_code = 2


class ArgumentError(InputError, ValueError):
    """A command-line argument does not make sense (``--out x.txt``)."""


class ConfigError(InputError, ValueError):
    """The config cannot be read or does not make sense."""


class MissingFileError(InputError, FileNotFoundError):
    """A file the user named (checkpoint, dataset, ...) does not exist."""


class DataError(InputError, FileNotFoundError):
    """A dataset of the config is missing or cannot be built."""


class ModelBuildError(InputError, ValueError):
    """The config's model cannot be built (unknown argument, arch, ...)."""


class CheckpointMismatchError(InputError, RuntimeError):
    """A checkpoint's tensors do not fit the model (missing, unexpected or
    differently shaped keys)."""


class EnvironmentFailure(ToolError, ImportError):
    """The installation lacks something the config needs (exit code 1)."""


class RunFailure(ToolError, RuntimeError):
    """A run started and then failed for a reason that is not a bug (out of
    memory, a data file vanished): exit code 1."""


class Interrupted(ToolError):
    """Ctrl-C (exit code 130, the shell's code for SIGINT); the message
    says what was kept."""

    exit_code = 130
