"""Downloads against a local HTTP server on 127.0.0.1 (this machine has no internet)."""

import http.server
import re
import threading

import numpy as np
import pytest

from annann.data import datasets
from annann.data.datasets import get_dataset, write_dataset
from annann.data.datasets import download_dataset
from annann.data.download import DownloadError, download


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}
    cut_after = None  # bytes sent before the connection is dropped (first request only)
    ranges_seen = []

    def do_GET(self):  # noqa: N802 (http.server API)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        m = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
        type(self).ranges_seen.append(self.headers.get("Range"))
        if m:
            start = int(m.group(1))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if type(self).cut_after is not None:
            payload = payload[: type(self).cut_after]
            type(self).cut_after = None
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files, _Handler.cut_after, _Handler.ranges_seen = {}, None, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _dataset_bytes(tmp_path):
    rng = np.random.default_rng(1)
    train = rng.standard_normal((2000, 16)).astype(np.float32)
    test = rng.standard_normal((10, 16)).astype(np.float32)
    ids = np.zeros((10, 10), np.int32)
    p = write_dataset(tmp_path / "src.hdf5", train, test, ids, np.zeros((10, 10)), "euclidean")
    return p.read_bytes()


def test_registered_name_downloads_into_the_data_dir(server, tmp_path, monkeypatch):
    _, url = server
    body = _dataset_bytes(tmp_path)
    _Handler.files["/fashion-mnist-784-euclidean.hdf5"] = body
    monkeypatch.setenv(datasets.URL_ENV, url)
    monkeypatch.chdir(tmp_path)
    ds = get_dataset("fashion-mnist-784-euclidean", data_dir=tmp_path / "dl", progress=False)
    assert ds.path == tmp_path / "dl" / "fashion-mnist-784-euclidean.hdf5"
    assert ds.path.read_bytes() == body
    assert not list((tmp_path / "dl").glob("*.part"))


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path, monkeypatch):
    _, url = server
    body = _dataset_bytes(tmp_path)
    _Handler.files["/glove-25-angular.hdf5"] = body
    _Handler.cut_after = len(body) // 3
    monkeypatch.setenv(datasets.URL_ENV, url)
    with pytest.raises(DownloadError, match="run again to resume"):
        download_dataset("glove-25-angular", tmp_path, progress=False)
    final = tmp_path / "glove-25-angular.hdf5"
    assert not final.exists()
    assert (tmp_path / "glove-25-angular.hdf5.part").stat().st_size == len(body) // 3
    download_dataset("glove-25-angular", tmp_path, progress=False)
    assert final.read_bytes() == body
    assert _Handler.ranges_seen == [None, f"bytes={len(body) // 3}-"]


def test_a_finished_part_file_is_completed_without_refetching(server, tmp_path):
    _, url = server
    body = _dataset_bytes(tmp_path)
    _Handler.files["/x.hdf5"] = body
    (tmp_path / "x.hdf5.part").write_bytes(body)
    download(f"{url}/x.hdf5", tmp_path / "x.hdf5", progress=False)
    assert (tmp_path / "x.hdf5").read_bytes() == body


def test_invalid_content_is_rejected_and_removed(server, tmp_path, monkeypatch):
    _, url = server
    _Handler.files["/mnist-784-euclidean.hdf5"] = b"<html>not a dataset</html>"
    monkeypatch.setenv(datasets.URL_ENV, url)
    with pytest.raises(DownloadError, match="not valid"):
        download_dataset("mnist-784-euclidean", tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_errors_are_reported(server, tmp_path):
    _, url = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{url}/missing.hdf5", tmp_path / "m.hdf5", progress=False)
    with pytest.raises(DownloadError):
        download("http://127.0.0.1:9/none.hdf5", tmp_path / "n.hdf5", progress=False, timeout=2)
