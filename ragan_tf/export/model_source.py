"""Models from anywhere: a folder, a `.zip` / `.tar.gz` / `.tgz` / `.tar` archive of one, or its URL.

`resolve_model` turns what the user named (`ragan-tf age --model`,
`ragan-tf evaluate --model`, `Ager(...)`) into a local folder:

- a local folder is returned as it is (the command then checks that it is an
  export, or a run);
- a local archive is unpacked once into the cache, under the archive's
  SHA-256 (`<cache>/extracted/<sha256>/`); the model is the archive's single
  top-level folder, or its root when the files lie there. Unpacking is safe
  (members with absolute paths or `..`, links that point outside, devices are
  refused; tar archives are read with `filter="data"`) and atomic (into a
  hidden `.partial-*` folder of the cache, renamed when complete, so an
  interrupted unpacking never leaves a folder a later call trusts);
- an `http://`, `https://` or `file://` URL is downloaded, only because the
  user named it, with a progress line on stderr, into
  `<cache>/downloads/<sha256 of the URL>/` (reused by the next call, without
  the network), then treated as an archive.

With `sha256` the archive (downloaded or local) is checked first; a
mismatch is a one-line error naming the source and both digests, and a
downloaded file is removed (a local file is the user's and is left alone).

The cache is `cache_dir`, else `$RAGAN_TF_CACHE`, else
`~/.cache/ragan_tf/models`. Only the standard library is used.

`write_model_archive` writes the archive `resolve_model` reads:
`<folder>.tar.gz` with the folder as its single top-level folder, and
`<folder>.tar.gz.sha256` in `sha256sum`'s format (`ragan-tf export --archive`).
"""

import hashlib
import http.client
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from ragan_tf.errors import RaganError

CACHE_ENV = "RAGAN_TF_CACHE"
DEFAULT_CACHE = Path("~/.cache/ragan_tf/models")
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
URL_SCHEMES = ("http", "https", "file")
#: Files that mark a model folder: a `ragan-tf export` (the first two) or a `ragan-tf train` run.
MARKERS = ("saved_model.pb", "signature.json", "config.yaml")
#: What archivers add beside the content; not counted when looking for the single top-level folder.
IGNORED_ENTRIES = ("__MACOSX", ".DS_Store")
DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20

# kind -> (the noun a missing path is said not to be, what to pass instead)
KINDS = {
    "export": ("folder", "the folder written by `ragan-tf export RUN_DIR --out DIR`"),
    "run or export": ("run folder or export", "a `ragan-tf train` run folder or a `ragan-tf export` folder"),
}


class ModelSourceError(RaganError):
    """A model source that is missing, not a folder, archive or URL, unsafe, unreachable or mismatched."""


def resolve_model(source, *, sha256=None, cache_dir=None, progress=True, kind="export"):
    """The local folder of the model `source` names: a folder, an archive of one, or its URL.

    Args:
        source: a folder; a `.zip`, `.tar.gz`, `.tgz` or `.tar` archive (recognised by its
            content, whatever its name); or an `http://`, `https://` or `file://` URL of one.
        sha256: the archive's expected SHA-256 (64 hex digits, optionally `sha256:`-prefixed);
            None: not checked. Refused for a folder, which has no single digest.
        cache_dir: where downloads and unpacked archives go (default: `$RAGAN_TF_CACHE`,
            else `~/.cache/ragan_tf/models`).
        progress: print a download progress line (bytes, and percent when the size is
            known) and where an archive was unpacked, on stderr.
        kind: `"export"` or `"run or export"`: what the caller takes, for the wording of
            the error about a missing path.

    Returns:
        The `Path` of the folder: `source` itself for a folder, else the archive's single
        top-level folder (or its root) in the cache, holding `saved_model.pb`,
        `signature.json` or `config.yaml`.

    Raises:
        ModelSourceError: a missing path, a file that is not an archive, a damaged or
            unsafe archive, one without an export or run inside, an unsupported or
            unreachable URL, a malformed `sha256`, or a digest mismatch (the message
            names the source, the expected and the actual digest).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}.")
    text = os.fspath(source)
    expected = _check_digest(sha256)
    cache = _cache_root(cache_dir)
    if _is_url(text):
        archive = _download(text, cache, expected, progress)
        return _unpacked(archive, text, cache, progress, digest=expected or file_sha256(archive))
    path = Path(text)
    noun, what = KINDS[kind]
    if path.is_dir():
        if expected:
            raise ModelSourceError(f"{source}: is a folder; --sha256 checks an archive or a download, not a folder "
                                   "(leave it out, or pass the archive).")
        return path
    if not path.exists():
        raise ModelSourceError(f"{source}: no such {noun}; pass {what}, a .zip, .tar.gz, .tgz or .tar archive of "
                               "one, or its http(s):// or file:// URL.")
    if not _is_archive(path):
        named = any(path.name.lower().endswith(suffix) for suffix in ARCHIVE_SUFFIXES)
        problem = ("is not a readable archive (damaged or incomplete?)" if named else
                   "is a file, not a folder or an archive (.zip, .tar.gz, .tgz, .tar)")
        raise ModelSourceError(f"{source}: {problem}; pass {what}, an archive of one, or its URL.")
    digest = file_sha256(path)
    if expected and digest != expected:
        raise ModelSourceError(f"{source}: SHA-256 mismatch: expected {expected}, got {digest}; the archive is not "
                               "the one expected (nothing was unpacked).")
    return _unpacked(path, text, cache, progress, digest=digest)


def file_sha256(path):
    """The SHA-256 of the file `path`, as 64 lower-case hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def archive_paths(folder):
    """`(<folder>.tar.gz, <folder>.tar.gz.sha256)`: where `write_model_archive` writes."""
    archive = Path(folder).with_name(Path(folder).name + ".tar.gz")
    return archive, archive.with_name(archive.name + ".sha256")


def write_model_archive(folder):
    """Writes `<folder>.tar.gz` (the folder as its single top-level folder) and
    `<folder>.tar.gz.sha256` (`<hex>  <name>`, the `sha256sum` format) beside `folder`.

    Both are written to hidden temporary files and renamed into place when complete;
    existing ones are replaced. Owners are not recorded (uid/gid 0, no names).

    Returns:
        `(archive path, digest file path, hex digest)`.

    Raises:
        ModelSourceError: `folder` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelSourceError(f"{folder}: not a folder; nothing to archive.")
    archive, digest_file = archive_paths(folder)

    def anonymous(member):
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        return member

    staging = _temporary_file(archive)
    try:
        with tarfile.open(staging, "w:gz") as tar:
            tar.add(folder, arcname=folder.name, filter=anonymous)
        digest = file_sha256(staging)
        os.replace(staging, archive)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    staging = _temporary_file(digest_file)
    try:
        staging.write_text(f"{digest}  {archive.name}\n", encoding="utf-8")
        os.replace(staging, digest_file)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return archive, digest_file, digest


# ------------------------------------------------------------------ checks
def _check_digest(sha256):
    if sha256 is None:
        return None
    text = str(sha256).strip().lower()
    text = text[len("sha256:"):] if text.startswith("sha256:") else text
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ModelSourceError(f"--sha256 {sha256}: not a SHA-256 digest; give its 64 hexadecimal digits "
                               "(as `sha256sum FILE` prints them).")
    return text


def _cache_root(cache_dir):
    return Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def _is_url(text):
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


def _is_archive(path):
    if not path.is_file():
        return False
    try:
        return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
    except (OSError, EOFError, tarfile.TarError):
        return False


def _temporary_file(final):
    """A new hidden file beside `final` (same file system: renaming it is atomic)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.partial-", dir=final.parent)
    os.close(handle)
    return Path(name)


# ------------------------------------------------------------------ download
def _download(url, cache, expected, progress):
    """The cached copy of `url`, downloaded when not there yet; checked against `expected`."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in URL_SCHEMES:
        raise ModelSourceError(f"{url}: {scheme}:// URLs are not supported; use http://, https:// or file://, "
                               "or download the archive yourself and pass the file.")
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name or "model"
    target = cache / "downloads" / hashlib.sha256(url.encode("utf-8")).hexdigest()[:32] / name
    if target.is_file():
        if expected:
            _verify_download(target, url, expected)
        return target
    staging = _temporary_file(target)
    try:
        _fetch(url, staging, progress)
        if expected:
            _verify_download(staging, url, expected)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def _verify_download(path, url, expected):
    actual = file_sha256(path)
    if actual != expected:
        path.unlink(missing_ok=True)
        raise ModelSourceError(f"{url}: SHA-256 mismatch: expected {expected}, got {actual}; the download was "
                               "removed (check the digest, or the URL's file changed).")


def _fetch(url, path, progress):
    """Copies `url` into the file `path`, printing a progress line on stderr when `progress`."""
    try:
        response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)  # noqa: S310 (scheme checked)
    except urllib.error.HTTPError as error:
        raise ModelSourceError(f"{url}: the server answered HTTP {error.code} {error.reason}; check the URL.") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise ModelSourceError(f"{url}: cannot download ({reason}); check the URL and the network, or download "
                               "the archive yourself and pass the file.") from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        done, shown = 0, 0.0
        try:
            with open(path, "wb") as file:
                while chunk := response.read(_CHUNK):
                    file.write(chunk)
                    done += len(chunk)
                    if progress and time.monotonic() - shown > 0.2:
                        _show_progress(url, done, total)
                        shown = time.monotonic()
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
            raise ModelSourceError(f"{url}: the download broke off after {_size(done)} ({error}); run the "
                                   "command again.") from None
    if total is not None and done != total:
        raise ModelSourceError(f"{url}: the download broke off at {_size(done)} of {_size(total)}; run the command "
                               "again.")
    if progress:
        _show_progress(url, done, total)
        print(file=sys.stderr)


def _show_progress(url, done, total):
    line = f"Downloading {url}: {_size(done)}"
    if total:
        line += f" of {_size(total)} ({100 * done / total:.0f}%)"
    print(f"\r{line}", end="", file=sys.stderr, flush=True)


def _size(count):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


# ------------------------------------------------------------------ unpacking
def _unpacked(archive, source, cache, progress, digest):
    """The model folder of `archive` (SHA-256 `digest`), unpacked into the cache unless it is there."""
    final = cache / "extracted" / digest
    if not final.is_dir():
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}.partial-", dir=final.parent))
        try:
            _extract(archive, staging, source)
            _model_root(staging, source)  # refuse an archive without a model before it enters the cache
            try:
                staging.rename(final)
            except OSError:
                if not final.is_dir():  # not another process having unpacked it meanwhile
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        if progress:
            print(f"Unpacked {source} into {final}", file=sys.stderr)
    return _model_root(final, source)


def _model_root(folder, source):
    """The archive's single top-level folder, or `folder` itself; it must hold a model."""
    entries = [entry for entry in folder.iterdir() if entry.name not in IGNORED_ENTRIES]
    root = folder
    if len(entries) == 1 and entries[0].is_dir() and not any((folder / marker).exists() for marker in MARKERS):
        root = entries[0]
    if not any((root / marker).is_file() for marker in MARKERS):
        found = sorted(entry.name for entry in root.iterdir())
        listing = ", ".join(found[:6]) + (", ..." if len(found) > 6 else "") if found else "nothing"
        raise ModelSourceError(
            f"{source}: the archive holds no ragan-tf export (saved_model.pb, signature.json) or training run "
            f"(config.yaml), at its root or in a single top-level folder (found: {listing}); archive the folder "
            "written by `ragan-tf export` (e.g. `ragan-tf export RUN --out DIR --archive`).")
    return root


def _unsafe_name(name):
    """Why the member name `name` may not be unpacked, or None."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "a '..' component"
    return None


def _extract(archive, destination, source):
    """Unpacks `archive` into `destination`, refusing any member that could land outside it."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as package:
                for info in package.infolist():
                    problem = _unsafe_name(info.filename)
                    if problem is None and stat.S_ISLNK(info.external_attr >> 16):
                        problem = "a symbolic link"
                    if problem:
                        raise ModelSourceError(f"{source}: unsafe archive member {info.filename!r} ({problem}); "
                                               "nothing was unpacked.")
                package.extractall(destination)
            return
        with tarfile.open(archive, "r:*") as package:
            members = package.getmembers()
            for member in members:
                problem = _unsafe_tar_member(member)
                if problem:
                    raise ModelSourceError(f"{source}: unsafe archive member {member.name!r} ({problem}); "
                                           "nothing was unpacked.")
            if hasattr(tarfile, "data_filter"):
                package.extractall(destination, members=members, filter="data")
            else:  # Python < 3.11.4 / 3.10.12: the checks above are the whole guard
                package.extractall(destination, members=members)
    except ModelSourceError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError) as error:  # FilterError is a TarError
        raise ModelSourceError(f"{source}: cannot unpack the archive ({error}); it is damaged or incomplete, "
                               "download or copy it again.") from None


def _unsafe_tar_member(member):
    """Why the tar member may not be unpacked, or None."""
    problem = _unsafe_name(member.name)
    if problem:
        return problem
    if member.issym() or member.islnk():
        # A symbolic link is relative to its own folder, a hard link to the archive's root.
        base = PurePosixPath(member.name.replace("\\", "/")).parent if member.issym() else PurePosixPath()
        target = member.linkname.replace("\\", "/")
        if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
            return f"a link to the absolute path {member.linkname!r}"
        depth = 0
        for part in (base / target).parts:
            depth += -1 if part == ".." else 0 if part == "." else 1
            if depth < 0:
                return f"a link to {member.linkname!r}, outside the archive"
        return None
    if not (member.isfile() or member.isdir()):
        return "a device or pipe"
    return None
