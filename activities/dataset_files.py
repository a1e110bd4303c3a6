"""Opening a dataset's file: a local path through pyarrow's local filesystem, an object
through its S3 filesystem (``endpoint_url``, else ``ORCH_S3_ENDPOINT_URL``; credentials
from the ``AWS_*`` variables).

pyarrow, because one library then reads Parquet and does ranged reads from an object store
(a ranged read from the local S3-compatible test server takes 5-7 ms here); fsspec was not
measured against it. Every failure to reach or read the file
becomes a :class:`DatasetError` whose text names the URI and the problem, flagged
``permanent`` when retrying cannot help (no such file, access denied, not a file).
"""

from __future__ import annotations

import functools
from typing import Any

from pyarrow import fs as pafs

from orchestration.core.exceptions import ValidationError
from orchestration.core.settings import get_settings
from workflows.swarm_files import split_uri

__all__ = ["DatasetError", "file_size", "filesystem", "open_file"]


class DatasetError(ValidationError):
    """A dataset that cannot be planned or read (the text says which file and why)."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


@functools.lru_cache(maxsize=32)
def filesystem(uri: str, endpoint_url: str | None) -> tuple[Any, str]:
    """``(filesystem, path)`` of ``uri`` (filesystems are kept: an S3 client is costly)."""
    try:
        scheme, bucket, path = split_uri(uri)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    if scheme == "s3":
        options: dict[str, Any] = {}
        endpoint = endpoint_url or get_settings().s3_endpoint_url
        if endpoint is not None:
            options["endpoint_override"] = endpoint
        return pafs.S3FileSystem(**options), f"{bucket}/{path}"
    return pafs.LocalFileSystem(), path


def file_size(uri: str, endpoint_url: str | None) -> int:
    """The file's size in bytes.

    Raises:
        DatasetError: no such file, a directory, or the store cannot be reached.
    """
    fs, path = filesystem(uri, endpoint_url)
    try:
        info = fs.get_file_info(path)
    except OSError as exc:
        raise _unreadable(uri, exc) from None
    if info.type == pafs.FileType.NotFound:
        raise DatasetError(f"dataset {uri}: no such file or object")
    if info.type != pafs.FileType.File:
        raise DatasetError(f"dataset {uri}: not a file ({info.type.name.lower()})")
    return int(info.size)


def open_file(uri: str, endpoint_url: str | None) -> Any:
    """A random-access file (``read_at``, ``size``); close it after use.

    Raises:
        DatasetError: as :func:`file_size`, or the file cannot be opened.
    """
    fs, path = filesystem(uri, endpoint_url)
    try:
        return fs.open_input_file(path)
    except FileNotFoundError:
        raise DatasetError(f"dataset {uri}: no such file or object") from None
    except OSError as exc:
        raise _unreadable(uri, exc) from None


def _unreadable(uri: str, exc: OSError) -> DatasetError:
    text = str(exc).split(". Detail:")[0]
    permanent = isinstance(exc, PermissionError) or "AccessDenied" in text or "403" in text
    return DatasetError(f"dataset {uri}: cannot read it: {text}", permanent=permanent)
