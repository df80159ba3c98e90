"""`SecretVolume`: a directory written the way Kubernetes writes a secret
volume, for testing rotation without a cluster."""

from __future__ import annotations

import datetime
import itertools
import os
import pathlib
import shutil
from collections.abc import Mapping

__all__ = ["SecretVolume"]

_DATA = "..data"


class SecretVolume:
    """A directory laid out as the kubelet lays out a mounted secret.

    Each version of the files is a directory of its own
    (``..2026_12_03_02_55_58.000001``); the symlink ``..data`` points at the
    current one, and each file is a symlink through it
    (``tls.crt -> ..data/tls.crt``). ``write()`` makes a new version and
    swaps ``..data`` with one ``os.replace``, so a reader sees all the old
    files or all the new ones; then the old version is removed.

    Args:
        directory: where the volume is (made, with its parents, if missing).

    Raises:
        OSError: the directory cannot be made.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._serial = itertools.count(1)

    def path(self, name: str) -> pathlib.Path:
        """The path an application is given for a file (a link through ``..data``).

        Args:
            name: The file's name in the volume (``"tls.crt"``); it need not
                be written yet.

        Returns:
            ``directory / name``, which always reads the current version.
        """
        return self.directory / name

    def files(self) -> dict[str, bytes]:
        """The current version's files.

        Returns:
            File name to content; empty before the first ``write()``.
        """
        data = self.directory / _DATA
        if not data.exists():
            return {}
        return {p.name: p.read_bytes() for p in sorted(data.iterdir()) if p.is_file()}

    def write(self, files: Mapping[str, bytes], *, replace_all: bool = False) -> None:
        """Publish a new version: the current files updated with ``files``.

        Args:
            files: file name to content; a name not given keeps its content
                (``replace_all=True``: is left out of the new version).
            replace_all: publish exactly ``files`` (default False).

        Raises:
            OSError: the directory cannot be written.
        """
        merged = {} if replace_all else self.files()
        merged.update(files)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y_%m_%d_%H_%M_%S")
        version = self.directory / f"..{stamp}.{next(self._serial):06d}"
        version.mkdir(mode=0o755)
        for name, content in merged.items():
            (version / name).write_bytes(content)
            (version / name).chmod(0o600 if name.endswith("key") else 0o644)
        data = self.directory / _DATA
        old = os.readlink(data) if data.is_symlink() else None
        temporary = self.directory / "..data_tmp"
        temporary.unlink(missing_ok=True)
        os.symlink(version.name, temporary)
        os.replace(temporary, data)
        for name in merged:
            link = self.directory / name
            if not link.is_symlink():
                os.symlink(f"{_DATA}/{name}", link)
        if old is not None:
            shutil.rmtree(self.directory / old, ignore_errors=True)
