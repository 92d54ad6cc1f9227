"""A disk that fills up, for the store's tests (issue 27, item 12).

:class:`DiskFull` replaces ``os.write`` so that writes to one file (the store) succeed
for ``room`` more bytes, then fail with ENOSPC, the last one partially, as a full disk
does; other files are untouched. Run as a script, it is ``songspace`` with such a disk
under the file ``$SONGSPACE_TEST_DISK_STORE``, whose room is read from the file named by
``$SONGSPACE_TEST_DISK_ROOM`` (a number of bytes) at every write, so a test can fill and
free the disk of a real server process.
"""

import errno
import os
from pathlib import Path


class DiskFull:
    def __init__(self, path, room: int):
        self.path = os.path.realpath(path)
        self._room = room
        self.real = os.write

    @property
    def room(self) -> int:
        return self._room

    @room.setter
    def room(self, value: int) -> None:
        self._room = value

    def install(self, monkeypatch=None) -> "DiskFull":
        if monkeypatch is not None:
            monkeypatch.setattr(os, "write", self)
        else:
            os.write = self  # type: ignore[assignment]
        return self

    def __call__(self, fd: int, data) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target != self.path:
            return self.real(fd, data)
        room = self.room
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = self.real(fd, bytes(data)[:room])
        self.room = room - n
        return n


class FileRoom(DiskFull):
    """The room is the number in ``control`` (read and written at every write)."""

    def __init__(self, path, control):
        super().__init__(path, 0)
        self.control = Path(control)

    @property
    def room(self) -> int:
        return int(self.control.read_text())

    @room.setter
    def room(self, value: int) -> None:
        self.control.write_text(str(value))


def main() -> None:
    """``diskfull.py songspace-arguments...``"""
    env = os.environ
    FileRoom(env["SONGSPACE_TEST_DISK_STORE"], env["SONGSPACE_TEST_DISK_ROOM"]).install()
    from songspace.cli import main as songspace_main

    songspace_main()


if __name__ == "__main__":
    main()
