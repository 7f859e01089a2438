"""Every file of one design run written together, or none.

:class:`AtomicOutputs` collects (path, bytes or writer) pairs; :meth:`commit`
writes each to a hidden temporary file beside its target and moves them all
into place only when every one is complete. On any failure, and on Ctrl-C
(SIGINT) or SIGTERM while the temporaries are written, they are removed, the
folders the commit created are removed again and nothing is replaced; the
signals wait while the files are moved into place (``os.replace``, one per
file), so an interrupt never leaves a mix of new and old outputs. Messages
name the target file, never the temporary.

:func:`check_target` checks, before anything is designed, that a file can be
created where an output is to go.
"""
from __future__ import annotations
import contextlib
import os
import signal
import tempfile
import threading
from typing import Callable, Iterator, List, Sequence, Tuple, Union

#: The signals that interrupt a run (Ctrl-C, ``kill``): deferred while
#: outputs are moved into place.
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


class OutputError(Exception):
    """An output that cannot be planned (``written`` False: bad input) or
    written (``written`` True: nothing was); the message names it."""

    def __init__(self, message: str, written: bool = False) -> None:
        super().__init__(message)
        self.written = written


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM. ``written``: the outputs already in place when it
    arrived (all of them, when it came while they were being moved into
    place; none otherwise)."""

    def __init__(self,
                 signum: int = signal.SIGINT,
                 written: Sequence[str] = ()) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)
        self.written = tuple(written)


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGTERM raises :class:`Interrupted` like Ctrl-C does (so the same
    clean-up runs) while the block runs; outside the main thread, or where
    SIGTERM already has a handler of its own, nothing changes."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_interrupts(written: Sequence[str] = ()) -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then raise
    :class:`Interrupted` (with ``written``, the list the block filled). A
    no-op outside the main thread, where signals are not delivered."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: List[int] = []
    previous = {}
    for signum in INTERRUPTS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # ignored before, ignored now
        previous[signum] = signal.signal(
            signum, lambda number, frame: pending.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        raise Interrupted(pending[0], written)


def _nearest_existing(folder: str) -> str:
    while folder and not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def check_target(path: str) -> None:
    """Can ``path`` be written? Checked before a design is solved: the name
    is not empty and not a folder, the nearest existing folder above it is a
    folder and accepts a new file (probed with a hidden file, removed at
    once; missing folders are created only when the outputs are written).
    Raises :class:`OutputError` naming the output."""
    if not path:
        raise OutputError('an output file name is empty; give a file name, '
                          'or a folder ending in / to write <name>.json into')
    if os.path.isdir(path):
        raise OutputError(f'output {path} is a directory; give a file name, '
                          f'or {path.rstrip(os.sep)}{os.sep} to write '
                          '<name>.json into it')
    folder = os.path.dirname(os.path.abspath(path))
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise OutputError(f'cannot write {path}: {existing} is a file, not a '
                          'folder')
    probe = None
    try:
        with deferred_interrupts():
            handle, probe = tempfile.mkstemp(
                dir=existing, prefix='.design-probe.', suffix='.tmp')
            os.close(handle)
            os.remove(probe)
            probe = None
    except OSError as error:
        raise OutputError(f'cannot write {path}: no file can be created in '
                          f'{existing} ({error.strerror})') from None
    finally:
        if probe is not None and os.path.exists(probe):
            os.remove(probe)


def _make_folders(folder: str) -> List[str]:
    """Create ``folder`` and its missing parents; the ones created, outermost
    first."""
    missing = []
    current = folder
    while current and not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    created = []
    for path in reversed(missing):
        os.mkdir(path)
        created.append(path)
    return created


class _Failed(Exception):

    def __init__(self, path: str, error: OSError) -> None:
        super().__init__(path)
        self.path = path
        self.error = error


class AtomicOutputs:
    """Files to write all together: each goes to a temporary file next to its
    target, and only when every one is complete are they moved into place
    (``os.replace``); on any failure or interrupt the temporaries and the
    folders made for them are removed (module docstring)."""

    def __init__(self) -> None:
        self.items: List[Tuple[str, Union[bytes, Callable[[str], None]]]] = []

    def add(self, path: str, content: Union[bytes, Callable[[str],
                                                            None]]) -> None:
        if not path:
            raise OutputError('an output file name is empty; give a file '
                              'name')
        if os.path.isdir(path):
            raise OutputError(
                f'output {path} is a directory; give a file name')
        for other, _ in self.items:
            if os.path.abspath(other) == os.path.abspath(path):
                raise OutputError(f'output {path} is named twice; give each '
                                  'output (--out, --plot, --export-tinynas) '
                                  'its own file')
        self.items.append((path, content))

    def commit(self) -> List[str]:
        """Write every output; the paths, in the order added."""
        staged: List[Tuple[str, str]] = []
        created: List[str] = []
        replaced: List[str] = []
        umask = os.umask(0)
        os.umask(umask)
        try:
            for path, content in self.items:
                folder = os.path.dirname(os.path.abspath(path))
                stem, ext = os.path.splitext(os.path.basename(path))
                try:
                    with deferred_interrupts():
                        created.extend(_make_folders(folder))
                        handle, temp = tempfile.mkstemp(
                            dir=folder,
                            prefix=f'.{stem}.',
                            suffix=f'.tmp{ext}')
                        staged.append((temp, path))
                    with os.fdopen(handle, 'wb') as stream:
                        if isinstance(content, bytes):
                            stream.write(content)
                    if not isinstance(content, bytes):
                        content(temp)
                    os.chmod(temp, 0o666 & ~umask)
                except OSError as error:
                    raise _Failed(path, error) from None
            with deferred_interrupts(replaced):
                for temp, path in staged:
                    try:
                        os.replace(temp, path)
                    except OSError as error:
                        raise _Failed(path, error) from None
                    replaced.append(path)
        except BaseException as failure:
            for temp, path in staged:
                if path not in replaced and os.path.exists(temp):
                    os.remove(temp)
            if not replaced:
                for folder in reversed(created):
                    try:
                        os.rmdir(folder)
                    except OSError:
                        pass
            if isinstance(failure, _Failed):
                raise OutputError(
                    self._message(failure, replaced), written=True) from None
            raise
        return [path for path, _ in self.items]

    @staticmethod
    def _message(failure: '_Failed', replaced: Sequence[str]) -> str:
        reason = failure.error.strerror or str(failure.error)
        if replaced:
            return (f'cannot write {failure.path}: {reason}; '
                    f'{len(replaced)} output(s) were already replaced '
                    f'({", ".join(replaced)}), the others were not')
        return f'cannot write {failure.path}: {reason}; nothing written'
