"""Resumable, validated HTTP downloads (used for ann-benchmarks datasets by ``datasets``).

Bytes stream into ``<file>.part`` (with a progress bar); an interrupted download resumes with an
HTTP Range request; only a file of the announced size that opens as a valid dataset is renamed to
its final name, so a partial download is never mistaken for a dataset.
"""

import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """The download failed or produced a file that is not a valid dataset."""


def _total_size(response, offset):
    """Full size of the resource from Content-Range (206) or Content-Length (200)."""
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) + offset if length is not None else None


def download(url, dest, progress=True, timeout=60, validate=None):
    """Download url to dest, resuming a previous ``dest.part``; return dest.

    ``validate(path)`` may raise to reject the finished file (it is then deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            response = None  # the .part already holds every byte
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: {exc}") from exc
    total = offset
    if response is not None:
        with response:
            resumed = response.status == 206
            if not resumed:
                offset = 0
            total = _total_size(response, offset)
            with open(part, "ab" if resumed else "wb") as out, tqdm(
                    total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name,
                    disable=not progress) as bar:
                try:
                    while True:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        bar.update(len(chunk))
                except (OSError, urllib.error.URLError) as exc:
                    raise DownloadError(f"{url}: interrupted after {out.tell()} bytes ({exc}); "
                                        "run again to resume") from exc
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"{url}: got {size} of {total} bytes; run again to resume")
    if validate is not None:
        try:
            validate(part)
        except Exception as exc:
            part.unlink()
            raise DownloadError(f"{url}: downloaded file is not valid ({exc})") from exc
    os.replace(part, dest)
    return dest
