"""Rebuild a DVC-tracked folder's exact bytes from the DVC cache (fetching them from the
remote when the cache lacks them), without touching the workspace copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from iterate.errors import IterateError
from iterate.repo import vcs

PROBE = Path("models/.rollback-probe.dvc")


def restore(target: dict[str, Any], into: Path) -> None:
    """Copy the files of registry entry ``target`` (its DVC out) into the folder ``into``."""
    from dvc.repo import Repo

    out = target["dvc"]
    with Repo(".") as repo:
        cache = repo.cache.local
        if not _complete(cache, out["md5"]):
            _fetch(out)
        if not _complete(cache, out["md5"]):
            raise IterateError(
                f"rollback: the bytes of v{target['version']} are neither in the DVC cache nor in "
                "the remote; `dvc push` them from a machine that has them, or pick another version")
        for item in json.loads(Path(cache.oid_to_path(out["md5"])).read_text()):
            destination = into / item["relpath"]
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cache.oid_to_path(item["md5"]), destination)


def _complete(cache, dir_md5: str) -> bool:
    listing = Path(cache.oid_to_path(dir_md5))
    if not listing.is_file():
        return False
    return all(Path(cache.oid_to_path(i["md5"])).is_file()
               for i in json.loads(listing.read_text()))


def _fetch(out: dict[str, Any]) -> None:
    """``dvc fetch`` the out through a throw-away .dvc file (the workspace is not touched; DVC
    refuses a git-ignored .dvc file, so the probe is not ignored, and lives only this long)."""
    PROBE.write_text(yaml.safe_dump({"outs": [{**out, "path": "rollback-probe"}]}))
    try:
        vcs.dvc("fetch", "--quiet", str(PROBE), capture=True)
    except IterateError:
        pass  # no remote, or not there: the caller says what is missing
    finally:
        PROBE.unlink(missing_ok=True)
