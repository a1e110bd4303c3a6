"""``orchestration.write_manifest``: write a swarm's manifest (``workflows/swarm_manifest.py``)
as JSON to ``<writer uri>/<swarm id>/manifest.json``, on local disk or in an object store.

A local manifest is written to a temporary name and renamed, so a reader never sees half
of one; an object is put whole. Writing the same manifest twice (a retried activity) gives
the same file.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

from pyarrow import fs as pafs
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.dataset_files import filesystem, open_file
from workflows.swarm_files import WRITE_MANIFEST_ACTIVITY, WriteManifest

__all__ = ["read_manifest", "write_manifest", "write_manifest_activity"]


def write_manifest(request: WriteManifest) -> str:
    """Write it; return its URI.

    Raises:
        OSError: the directory or the object store cannot be written.
    """
    uri = request.writer.manifest_uri(request.swarm_id)
    fs, path = filesystem(uri, request.writer.endpoint_url)
    body = json.dumps(request.manifest, indent=1, sort_keys=False, default=str).encode()
    if isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(os.path.dirname(path), recursive=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with fs.open_output_stream(temporary) as out:
            out.write(body)
        fs.move(temporary, path)
    else:
        with fs.open_output_stream(path) as out:
            out.write(body)
    return uri


def read_manifest(uri: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """A manifest ``write_manifest`` wrote.

    Raises:
        DatasetError: no such file, or it cannot be read; ValueError: not JSON.
    """
    handle = open_file(uri, endpoint_url)
    try:
        data: dict[str, Any] = json.loads(bytes(handle.read_at(handle.size(), 0)))
    finally:
        handle.close()
    return data


def write_manifest_activity() -> Callable[[WriteManifest], Any]:
    """The activity (on the orchestration worker)."""

    @activity.defn(name=WRITE_MANIFEST_ACTIVITY)
    async def write(request: WriteManifest) -> str:
        try:
            return await asyncio.to_thread(write_manifest, request)
        except OSError as exc:
            text = str(exc).split(". Detail:")[0]
            raise ApplicationError(
                f"cannot write the manifest of {request.swarm_id} under "
                f"{request.writer.uri}: {text}",
                type="ManifestWriteError",
            ) from None

    return write
