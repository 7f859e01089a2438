"""Every file of one design run written together, or none.

:class:`AtomicOutputs` collects (path, bytes or writer) pairs; :meth:`commit`
writes each to a temporary file beside its target and moves them all into
place only when every one is complete; on any failure the temporaries are
removed and nothing is replaced.
"""
from __future__ import annotations
import os
import tempfile
from typing import Callable, List, Tuple, Union


class OutputError(Exception):
    """An output that cannot be planned (``written`` False: bad input) or
    written (``written`` True: nothing was); the message names it."""

    def __init__(self, message: str, written: bool = False) -> None:
        super().__init__(message)
        self.written = written


class AtomicOutputs:
    """Files to write all together: each goes to a temporary file next to its
    target, and only when every one is complete are they moved into place
    (``os.replace``); on any failure the temporaries are removed."""

    def __init__(self) -> None:
        self.items: List[Tuple[str, Union[bytes, Callable[[str], None]]]] = []

    def add(self, path: str, content: Union[bytes, Callable[[str],
                                                            None]]) -> None:
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
        staged: List[Tuple[str, str]] = []
        umask = os.umask(0)
        os.umask(umask)
        try:
            for path, content in self.items:
                folder = os.path.dirname(os.path.abspath(path))
                os.makedirs(folder, exist_ok=True)
                stem, ext = os.path.splitext(os.path.basename(path))
                handle, temp = tempfile.mkstemp(
                    dir=folder, prefix=f'.{stem}.', suffix=f'.tmp{ext}')
                staged.append((temp, path))
                with os.fdopen(handle, 'wb') as stream:
                    if isinstance(content, bytes):
                        stream.write(content)
                if not isinstance(content, bytes):
                    content(temp)
                os.chmod(temp, 0o666 & ~umask)
            for temp, path in staged:
                os.replace(temp, path)
        except OSError as error:
            for temp, _ in staged:
                if os.path.exists(temp):
                    os.remove(temp)
            raise OutputError(
                f'cannot write {error.filename or ""}: '
                f'{error.strerror}; nothing written',
                written=True) from None
        return [path for path, _ in self.items]
