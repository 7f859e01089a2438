# Copyright (c) mmdeepmad authors. All rights reserved.
"""The command-line side of the tools: argument parsing and the error
boundary.

Every tool runs its ``main`` through :func:`run_tool`:

* a :class:`~mmdeepmad.engine.errors.ToolError` (bad input, a missing file,
  a checkpoint that does not fit, ...) is printed as ``<tool>: error:
  <message>`` and the process exits with the error's code: 2 for bad input,
  1 for a run that failed;
* Ctrl-C prints ``<tool>: interrupted`` (plus what was kept) and exits with
  130;
* any other exception is a bug and keeps its traceback;
* ``--debug`` re-raises everything, with the full traceback.

Argument errors (argparse's own and a ``--cfg-options`` item without ``=``)
print one line in the same form and exit with 2.
"""
import argparse
import sys
import warnings
from typing import Any, Callable, Optional, Sequence

from .errors import Interrupted, ToolError


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (``prog: error: message``, exit 2)
    and the ``--debug`` option every tool has."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument(
            '--debug',
            action='store_true',
            help='on an error, show the full traceback instead of the '
            'one-line message')

    def error(self, message: str):
        self.exit(
            2, f'{self.prog}: error: {message} '
            f'(see {self.prog} --help)\n')


class DictAction(argparse.Action):
    """``--cfg-options KEY=VALUE ...`` parsed as mmengine's ``DictAction``
    parses it (values: int, float, bool, None, lists and tuples), with a
    usage error for an item without ``=`` (mmengine raises a bare
    ValueError there). mmengine is imported only when the option is used.

    A key may start with ``+`` to add a key the config does not have (see
    :func:`mmdeepmad.engine.config_check.apply_cfg_options`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction as MMEngineDictAction
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in values or ():
            key, equals, value = item.partition('=')
            if not equals:
                raise argparse.ArgumentError(
                    self, f'{item!r} is not KEY=VALUE (e.g. '
                    'train_cfg.max_epochs=12)')
            name = key[1:] if key.startswith('+') else key
            if not name or '' in name.split('.'):
                raise argparse.ArgumentError(
                    self, f'{item!r}: {key!r} is not a config key (dotted '
                    'names, e.g. model.backbone.arch=deepmad-r18)')
            options[key] = MMEngineDictAction._parse_iterable(value)
        setattr(namespace, self.dest, options)


def run_tool(prog: str,
             main: Callable[[Optional[Sequence[str]]], Any],
             argv: Optional[Sequence[str]] = None) -> Any:
    """Call ``main(argv)`` inside the tools' error boundary (see the module
    docstring); return what it returns."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    debug = '--debug' in arguments
    # mmengine imports pkg_resources, whose deprecation notice would be
    # the first lines a user sees on every error
    warnings.filterwarnings(
        'ignore', message='pkg_resources is deprecated', category=UserWarning)
    try:
        return main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        _report(f'{prog}: interrupted')
        raise SystemExit(Interrupted.exit_code) from None
    except ToolError as error:
        if debug:
            raise
        label = '' if isinstance(error, Interrupted) else 'error: '
        _report(f'{prog}: {label}{error}')
        raise SystemExit(error.exit_code) from None


def _report(message: str) -> None:
    sys.stdout.flush()
    print(message, file=sys.stderr, flush=True)
