"""Models from anywhere: a folder, a .zip / .tar.gz / .tgz / .tar archive of one, or its URL.

Most tests use fake export folders (a `signature.json` and a `saved_model.pb`
of a few bytes: the files `resolve_model` recognises an export by) and
`file://` URLs, which take the download path without a network. The last
tests export the tiny model with `--archive` and load it back with `Ager`.
"""

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from ragan_tf.cli import main
from ragan_tf.export import model_source
from ragan_tf.export.model_source import ModelSourceError, file_sha256, resolve_model, write_model_archive

import fake_photos

FILES = {"signature.json": '{"image_size": 32}', "saved_model.pb": "not really a graph",
         "variables/variables.index": "index"}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own cache (never the user's ~/.cache)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(model_source.CACHE_ENV, str(folder))
    return folder


def fake_export(folder, files=FILES):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def pack(archive, folder, top_level=True):
    """Writes `folder` into `archive` (kind from its name): as its single top-level folder, or its files at the root."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    names = [(path, (Path(folder.name) if top_level else Path()) / path.relative_to(folder)) for path in files]
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as package:
            for path, name in names:
                package.write(path, name.as_posix())
    else:
        mode = "w" if archive.suffix == ".tar" else "w:gz"
        with tarfile.open(archive, mode) as package:
            for path, name in names:
                package.add(path, name.as_posix())
    return archive


@pytest.fixture
def export(tmp_path):
    return fake_export(tmp_path / "model")


@pytest.fixture
def archive(tmp_path, export):
    return pack(tmp_path / "model.tar.gz", export)


def read_files(folder):
    return {path.relative_to(folder).as_posix(): path.read_text() for path in folder.rglob("*") if path.is_file()}


def extracted(cache):
    """The entries of the cache's unpacked-archives folder (hidden staging folders included)."""
    folder = cache / "extracted"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def tar_with(archive, member, data=b"x"):
    """A tar.gz holding a fake export plus the one `member` (a `TarInfo`)."""
    with tarfile.open(archive, "w:gz") as package:
        for name, text in FILES.items():
            info = tarfile.TarInfo(f"model/{name}")
            info.size = len(text)
            package.addfile(info, io.BytesIO(text.encode()))
        if member.isfile():
            member.size = len(data)
            package.addfile(member, io.BytesIO(data))
        else:
            package.addfile(member)
    return archive


# ---------------------------------------------------------------------------
# Folders and local archives


def test_a_local_folder_is_returned_as_it_is(export, cache):
    assert resolve_model(export) == export
    assert resolve_model(str(export)) == export
    assert not cache.exists()  # nothing copied


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz", ".tgz", ".tar"])
@pytest.mark.parametrize("top_level", [True, False], ids=["top-level folder", "files at the root"])
def test_an_archive_is_unpacked_into_the_cache(suffix, top_level, tmp_path, export, cache):
    archive = pack(tmp_path / f"packed{suffix}", export, top_level)
    folder = resolve_model(archive, progress=False)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    root = cache / "extracted" / digest
    assert folder == (root / "model" if top_level else root)
    assert read_files(folder) == FILES
    assert extracted(cache) == [digest]  # no staging folder left behind


def test_an_archive_is_recognised_by_its_content_not_its_name(tmp_path, export):
    archive = pack(tmp_path / "model.tar.gz", export)
    renamed = archive.rename(tmp_path / "download")
    assert read_files(resolve_model(renamed, progress=False)) == FILES


def test_the_second_call_reuses_the_unpacked_archive(archive, monkeypatch):
    folder = resolve_model(archive, progress=False)
    before = (folder / "signature.json").stat().st_mtime_ns

    def no_extraction(*args):
        raise AssertionError("unpacked a second time")

    monkeypatch.setattr(model_source, "_extract", no_extraction)
    assert resolve_model(archive, progress=False) == folder
    assert (folder / "signature.json").stat().st_mtime_ns == before


def test_a_changed_archive_is_unpacked_again(tmp_path, export, cache):
    archive = pack(tmp_path / "model.tar.gz", export)
    first = resolve_model(archive, progress=False)
    (export / "signature.json").write_text('{"image_size": 64}')
    second = resolve_model(pack(archive, export), progress=False)
    assert second != first and (second / "signature.json").read_text() == '{"image_size": 64}'
    assert (first / "signature.json").read_text() == FILES["signature.json"]


def test_an_interrupted_unpacking_leaves_nothing_a_later_call_trusts(archive, cache, monkeypatch):
    real_extract = model_source._extract

    def interrupted(path, destination, source):
        (destination / "model").mkdir()
        (destination / "model" / "signature.json").write_text("{")  # half written
        raise KeyboardInterrupt

    monkeypatch.setattr(model_source, "_extract", interrupted)
    with pytest.raises(KeyboardInterrupt):
        resolve_model(archive, progress=False)
    assert extracted(cache) == []
    monkeypatch.setattr(model_source, "_extract", real_extract)
    assert read_files(resolve_model(archive, progress=False)) == FILES


def test_the_cache_is_the_argument_then_the_environment_then_home(archive, tmp_path, monkeypatch, cache):
    chosen = tmp_path / "chosen"
    assert chosen in resolve_model(archive, cache_dir=chosen, progress=False).parents
    assert cache in resolve_model(archive, progress=False).parents  # $RAGAN_TF_CACHE
    monkeypatch.delenv(model_source.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tmp_path / "home" / ".cache" / "ragan_tf" / "models" in resolve_model(archive, progress=False).parents


def test_the_unpacking_is_reported_only_with_progress(archive, capsys):
    resolve_model(archive, progress=False)
    assert capsys.readouterr().err == ""
    resolve_model(archive, cache_dir=archive.parent / "other")
    assert f"Unpacked {archive} into " in capsys.readouterr().err


# ---------------------------------------------------------------------------
# SHA-256


def test_a_matching_sha256_is_accepted_in_any_spelling(archive):
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    for spelling in (digest, digest.upper(), f"sha256:{digest}", f" {digest}\n"):
        assert read_files(resolve_model(archive, sha256=spelling, progress=False)) == FILES


def refusal_for_digest(source, archive, wrong):
    """The one-line error `resolve_model(source, sha256=wrong)` raises, and the archive's real digest."""
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(ModelSourceError) as error:
        resolve_model(source, sha256=wrong, progress=False)
    message = str(error.value)
    assert "\n" not in message
    return message, actual


def test_a_local_archive_with_the_wrong_sha256_is_refused_and_kept(archive, cache):
    wrong = "0" * 64
    message, actual = refusal_for_digest(archive, archive, wrong)
    assert message.startswith(f"{archive}: SHA-256 mismatch: expected {wrong}, got {actual}")
    assert archive.is_file()  # the user's own file is not deleted
    assert extracted(cache) == []  # and nothing was unpacked


@pytest.mark.parametrize("sha256", ["abc", "g" * 64, "0" * 63])
def test_a_malformed_sha256_is_refused(archive, sha256):
    with pytest.raises(ModelSourceError, match="not a SHA-256 digest; give its 64 hexadecimal digits"):
        resolve_model(archive, sha256=sha256)


def test_a_sha256_for_a_folder_is_refused(export):
    with pytest.raises(ModelSourceError, match=r"model: is a folder; --sha256 checks an archive"):
        resolve_model(export, sha256="0" * 64)


# ---------------------------------------------------------------------------
# URLs (file:// takes the download path without a network)


def test_a_file_url_is_downloaded_with_progress_then_reused_without_the_source(archive, cache, capsys):
    url = archive.as_uri()
    folder = resolve_model(url)
    assert read_files(folder) == FILES
    err = capsys.readouterr().err
    size = archive.stat().st_size
    assert f"Downloading {url}: {size} B of {size} B (100%)" in err
    downloads = [path for path in (cache / "downloads").rglob("*") if path.is_file()]
    assert [path.name for path in downloads] == ["model.tar.gz"]
    assert downloads[0].read_bytes() == archive.read_bytes()
    archive.unlink()  # the next call needs neither the source nor the network
    assert resolve_model(url) == folder
    assert "Downloading" not in capsys.readouterr().err


def test_no_progress_line_without_progress(archive, capsys):
    resolve_model(archive.as_uri(), progress=False)
    assert capsys.readouterr().err == ""


def test_a_download_with_the_wrong_sha256_is_refused_and_removed(archive, cache):
    url, wrong = archive.as_uri(), "f" * 64
    message, actual = refusal_for_digest(url, archive, wrong)
    assert message.startswith(f"{url}: SHA-256 mismatch: expected {wrong}, got {actual}; the download was removed")
    assert [path for path in (cache / "downloads").rglob("*") if path.is_file()] == []
    assert extracted(cache) == []
    assert read_files(resolve_model(url, sha256=actual, progress=False)) == FILES  # the right digest works


def test_a_cached_download_is_checked_again_against_a_sha256(archive, cache):
    url = archive.as_uri()
    resolve_model(url, progress=False)
    with pytest.raises(ModelSourceError, match="SHA-256 mismatch"):
        resolve_model(url, sha256="1" * 64, progress=False)
    assert [path for path in (cache / "downloads").rglob("*") if path.is_file()] == []


@pytest.mark.parametrize("make_url, message", [
    (lambda tmp: (tmp / "gone.tar.gz").as_uri(), "cannot download"),
    (lambda tmp: "ftp://example.org/model.tar.gz", "ftp:// URLs are not supported; use http://, https:// or file://"),
])
def test_an_unreachable_or_unsupported_url_is_one_line_naming_it(make_url, message, tmp_path, cache):
    url = make_url(tmp_path)
    with pytest.raises(ModelSourceError) as error:
        resolve_model(url, progress=False)
    assert str(error.value).startswith(f"{url}: ") and message in str(error.value)
    assert "\n" not in str(error.value)
    assert not (cache / "downloads").exists() or not [p for p in (cache / "downloads").rglob("*") if p.is_file()]


# ---------------------------------------------------------------------------
# Unsafe, damaged, empty archives; missing paths; other files


def _member(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


@pytest.mark.parametrize("member, problem", [
    (_member("../evil"), "a '..' component"),
    (_member("model/../../evil"), "a '..' component"),
    (_member("/tmp/evil"), "an absolute path"),
    (_member("model/link", tarfile.SYMTYPE, "../../evil"), "outside the archive"),
    (_member("model/link", tarfile.SYMTYPE, "/etc/passwd"), "a link to the absolute path"),
    (_member("model/hard", tarfile.LNKTYPE, "../evil"), "outside the archive"),
    (_member("model/fifo", tarfile.FIFOTYPE), "a device or pipe"),
], ids=["dotdot", "nested dotdot", "absolute", "symlink out", "absolute symlink", "hard link out", "fifo"])
def test_an_unsafe_tar_member_is_refused_and_nothing_is_unpacked(member, problem, tmp_path, cache):
    name = member.name
    archive = tar_with(tmp_path / "bad.tar.gz", member)
    with pytest.raises(ModelSourceError) as error:
        resolve_model(archive, progress=False)
    message = str(error.value)
    assert message.startswith(f"{archive}: unsafe archive member {name!r} (") and problem in message
    assert message.endswith("; nothing was unpacked.") and "\n" not in message
    assert not (tmp_path / "evil").exists() and not (cache / "evil").exists()
    assert extracted(cache) == []


def test_an_inside_symlink_is_allowed(tmp_path):
    archive = tar_with(tmp_path / "ok.tar.gz", _member("model/alias.json", tarfile.SYMTYPE, "signature.json"))
    folder = resolve_model(archive, progress=False)
    assert (folder / "alias.json").read_text() == FILES["signature.json"]


@pytest.mark.parametrize("name", ["../evil", "/evil", "model/../../evil"])
def test_an_unsafe_zip_member_is_refused(name, tmp_path, cache):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("model/signature.json", "{}")
        package.writestr(zipfile.ZipInfo(name), "x")
    with pytest.raises(ModelSourceError, match=f"unsafe archive member '{name}'"):
        resolve_model(archive, progress=False)
    assert not (tmp_path / "evil").exists() and extracted(cache) == []


def test_a_zip_symlink_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("model/link")
    info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("model/signature.json", "{}")
        package.writestr(info, "/etc/passwd")
    with pytest.raises(ModelSourceError, match="'model/link' \\(a symbolic link\\)"):
        resolve_model(archive, progress=False)


@pytest.mark.parametrize("kind", ["export", "run or export"])
def test_a_missing_path_is_one_line_naming_it(kind, tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(ModelSourceError) as error:
        resolve_model(missing, kind=kind)
    message = str(error.value)
    noun = "folder" if kind == "export" else "run folder or export"
    assert message.startswith(f"{missing}: no such {noun}; pass ") and "archive" in message and "URL" in message
    assert "\n" not in message


@pytest.mark.parametrize("name, text, problem", [
    ("notes.txt", "hello", "is a file, not a folder or an archive (.zip, .tar.gz, .tgz, .tar)"),
    ("model.tar.gz", "truncated", "is not a readable archive (damaged or incomplete?)"),
])
def test_a_file_that_is_not_an_archive_is_one_line_naming_it(name, text, problem, tmp_path):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ModelSourceError) as error:
        resolve_model(path)
    assert str(error.value).startswith(f"{path}: {problem}; pass the folder written by `ragan-tf export")
    assert "\n" not in str(error.value)


def test_a_truncated_archive_is_refused(tmp_path, archive, cache):
    truncated = tmp_path / "cut.tar"
    pack(truncated, archive.parent / "model")
    truncated.write_bytes(truncated.read_bytes()[:520])  # the first member's header and 8 bytes of its data
    with pytest.raises(ModelSourceError, match="cut.tar: (cannot unpack the archive|is not a readable archive)"):
        resolve_model(truncated, progress=False)
    assert extracted(cache) == []


def test_an_archive_without_a_model_is_refused_and_not_cached(tmp_path, cache):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("photos/me.jpg", "jpeg")
        package.writestr("photos/notes.txt", "text")
    with pytest.raises(ModelSourceError) as error:
        resolve_model(archive, progress=False)
    assert str(error.value).startswith(f"{archive}: the archive holds no ragan-tf export (saved_model.pb, "
                                       "signature.json) or training run (config.yaml)")
    assert "(found: me.jpg, notes.txt)" in str(error.value)
    assert extracted(cache) == []


def test_an_archived_run_folder_is_found_by_its_config(tmp_path):
    run = fake_export(tmp_path / "run", {"config.yaml": "model: {}\n", "inference_model.keras": "zip"})
    folder = resolve_model(pack(tmp_path / "run.zip", run), progress=False, kind="run or export")
    assert folder.name == "run" and read_files(folder) == read_files(run)


# ---------------------------------------------------------------------------
# Writing the archive (`export --archive`)


def test_write_model_archive_writes_a_tar_gz_and_its_sha256sum_line(export):
    archive, digest_file, digest = write_model_archive(export)
    assert archive == export.parent / "model.tar.gz" and digest_file == export.parent / "model.tar.gz.sha256"
    assert digest == hashlib.sha256(archive.read_bytes()).hexdigest() == file_sha256(archive)
    assert digest_file.read_text() == f"{digest}  model.tar.gz\n"
    with tarfile.open(archive) as package:
        names = package.getnames()
        assert {name.split("/")[0] for name in names} == {"model"}
        assert {member.uname for member in package.getmembers()} == {""}
    assert sorted(name for name in names if "/" in name) == sorted(f"model/{name}" for name in [*FILES, "variables"])
    assert sorted(path.name for path in export.parent.iterdir()) == ["model", "model.tar.gz", "model.tar.gz.sha256"]
    # what `export --archive` writes is what `resolve_model` reads, digest checked
    assert read_files(resolve_model(archive, sha256=digest, progress=False)) == FILES


def test_write_model_archive_replaces_an_earlier_archive(export):
    first = write_model_archive(export)[2]
    (export / "signature.json").write_text('{"image_size": 64}')
    archive, digest_file, second = write_model_archive(export)
    assert second != first and digest_file.read_text().startswith(second)


def test_write_model_archive_refuses_a_missing_folder(tmp_path):
    with pytest.raises(ModelSourceError, match="nothing to archive"):
        write_model_archive(tmp_path / "missing")


# ---------------------------------------------------------------------------
# The commands: --model and --sha256 reach the resolver (no model is loaded)


def test_age_refuses_a_missing_archive_in_one_line(tmp_path, capsys):
    missing = tmp_path / "model.tar.gz"
    assert main(["age", str(tmp_path / "me.png"), "--model", str(missing), "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"ragan-tf age: error: {missing}: no such folder; pass the folder written by")
    assert not (tmp_path / "out").exists()


def test_age_passes_sha256_to_the_check(archive, tmp_path, capsys):
    argv = ["age", str(tmp_path / "me.png"), "--model", str(archive), "--sha256", "a" * 64,
            "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"{archive}: SHA-256 mismatch: expected {'a' * 64}, got " in line


def test_evaluate_takes_an_archive_and_passes_sha256(archive, tmp_path, capsys):
    argv = ["evaluate", "--model", archive.as_uri(), "--sha256", "b" * 64, "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"Downloading {archive.as_uri()}: " in err  # the URL was downloaded, then checked
    line = err.splitlines()[-1]
    assert line.startswith(f"ragan-tf evaluate: error: {archive.as_uri()}: SHA-256 mismatch: expected {'b' * 64}")
    assert not (tmp_path / "out").exists()


def test_evaluate_refuses_a_missing_source_naming_it(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "nope.zip"), "--out", str(tmp_path / "out")]) == 2
    assert "nope.zip: no such run folder or export; pass " in capsys.readouterr().err


def test_the_help_texts_name_archives_urls_and_sha256(capsys):
    for command, option in (("age", "--sha256"), ("evaluate", "--sha256"), ("export", "--archive")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert option in text, command
        if command != "export":
            assert "file:// URL" in text and "$RAGAN_TF_CACHE" in text


# ---------------------------------------------------------------------------
# End to end: `export --archive` of the tiny model, loaded back by `Ager` from the archive and its URL


@pytest.fixture(scope="module")
def archived_export(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("archived") / "tiny"
    assert main(["export", str(tiny_run), "--out", str(out), "--archive"]) == 0
    return out


def test_export_archive_writes_the_archive_and_its_digest(archived_export, capsys):
    archive = archived_export.with_name("tiny.tar.gz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert archived_export.with_name("tiny.tar.gz.sha256").read_text() == f"{digest}  tiny.tar.gz\n"
    with tarfile.open(archive) as package:
        assert {name.split("/")[0] for name in package.getnames()} == {"tiny"}
        assert "tiny/saved_model.pb" in package.getnames()


def test_export_archive_refuses_an_existing_archive_before_exporting(tiny_run, archived_export, tmp_path, capsys):
    out = tmp_path / "again"
    out.with_name("again.tar.gz").write_text("an earlier archive")
    assert main(["export", str(tiny_run), "--out", str(out), "--archive"]) == 2
    assert f"{out.with_name('again.tar.gz')} exists; pass --overwrite" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["again.tar.gz"]


def test_ager_loads_the_model_from_the_archive_and_its_url(archived_export):
    from ragan_tf.inference.ager import Ager

    archive = archived_export.with_name("tiny.tar.gz")
    digest = archived_export.with_name("tiny.tar.gz.sha256").read_text().split()[0]
    card = json.loads((archived_export / "signature.json").read_text())
    for source in (archive, archive.as_uri()):
        ager = Ager(source, sha256=digest)
        assert ager.card == card and ager.model_dir.name == "tiny" and ager.model_dir != archived_export
    result = ager.age_image(fake_photos.photo_with_face(11, 128, (200, 280)), [10, 60])
    direct = Ager(archived_export).age_image(fake_photos.photo_with_face(11, 128, (200, 280)), [10, 60])
    assert result.photos.shape == (2, 200, 280, 3)
    assert (result.photos == direct.photos).all()  # the same model as the folder it was packed from
