"""Issue 15, item 9: a mapping's `file:` entries stay inside the input folder unless the config
allows otherwise (`ingest.allow_files_outside_input`)."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import BASE_EXTRACTS, write_extracts
from tests.security.runs import cli, config_file, run_args


def _mapping(tmp_path, file: str):
    path = tmp_path / "mapping.yaml"
    path.write_text(f"extracts:\n  labs:\n    file: {file!r}\n")
    return path


@pytest.mark.parametrize("file", ["../../etc/passwd", "/etc/passwd", "sub/../../labs.csv"])
def test_a_file_outside_the_input_folder_is_refused(tmp_path, capsys, file):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    mapping = _mapping(tmp_path, file)
    code, err = cli(
        run_args(folder, tmp_path / "w.duckdb", tmp_path / "out", "--mapping", str(mapping)),
        capsys,
    )
    assert code == 2
    assert err.strip() == (
        f"error: mapping: extracts.labs.file '{file}' is outside the input folder {folder}; "
        "set ingest.allow_files_outside_input: true in the config to allow it"
    )
    assert not (tmp_path / "w.duckdb").exists()


def test_a_file_in_a_subfolder_is_fine(tmp_path, capsys):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    (folder / "2024").mkdir()
    shutil.move(folder / "labs.csv", folder / "2024" / "labs_export.csv")
    mapping = _mapping(tmp_path, "2024/labs_export.csv")
    code, err = cli(
        run_args(folder, tmp_path / "w.duckdb", tmp_path / "out", "--mapping", str(mapping)),
        capsys,
    )
    assert code == 0, err


def test_the_config_may_allow_a_file_elsewhere(tmp_path, capsys):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    elsewhere = tmp_path / "shared" / "labs.csv"
    elsewhere.parent.mkdir()
    shutil.move(folder / "labs.csv", elsewhere)
    mapping = _mapping(tmp_path, str(elsewhere))
    config = config_file(tmp_path / "c.yaml", {"ingest": {"allow_files_outside_input": True}})
    code, err = cli(
        run_args(
            folder,
            tmp_path / "w.duckdb",
            tmp_path / "out",
            "--mapping",
            str(mapping),
            "--config",
            str(config),
        ),
        capsys,
    )
    assert code == 0, err
