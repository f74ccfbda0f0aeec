"""The checksums of a registered model's files, and the checks before they are read."""

from __future__ import annotations

import pytest

from pipeline import model_files
from pipeline.errors import ModelUnavailableError

BOOSTER = "tree\nversion=v4\nnum_class=1\n\nTree=0\nnum_leaves=2\n\nend of trees\n\nparameters:\n"


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / "model"
    (folder / "artifacts" / "scorer" / "models").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "python_model.pkl").write_bytes(b"\x80\x05N.")
    (folder / "artifacts" / "scorer" / "scorer.json").write_text('{"decisions": {}}')
    (folder / "artifacts" / "scorer" / "models" / "defection.txt").write_text(BOOSTER)
    return folder


def test_the_record_names_every_file_but_mlflows_own_copy_note(model):
    (model / "registered_model_meta").write_text("model_name: x\nmodel_version: 1\n")
    sums = model_files.checksums(model)
    assert sorted(sums) == ["MLmodel", "artifacts/scorer/models/defection.txt",
                            "artifacts/scorer/scorer.json", "python_model.pkl"]
    assert all(len(v) == 64 for v in sums.values())
    assert model_files.decode(model_files.encode(sums), "m") == sums
    model_files.check(model, sums, "the model m")  # unchanged: no error


def test_a_truncated_overwritten_or_missing_file_is_named(model):
    sums = model_files.checksums(model)
    booster = model / "artifacts" / "scorer" / "models" / "defection.txt"
    booster.write_text(BOOSTER[:30])
    (model / "python_model.pkl").write_bytes(b"garbage")
    (model / "artifacts" / "scorer" / "scorer.json").unlink()
    with pytest.raises(ModelUnavailableError) as raised:
        model_files.check(model, sums, "the model models:/m/3")
    message = str(raised.value)
    assert message.startswith("the model models:/m/3: the model's files are not those "
                              "registered: missing artifacts/scorer/scorer.json; changed since "
                              "registration (truncated or overwritten) "
                              "artifacts/scorer/models/defection.txt, python_model.pkl.")


def test_a_deleted_artefact_is_said_as_such(model, tmp_path):
    sums = model_files.checksums(model)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelUnavailableError, match=r"none of the 4 files registered is in the "
                                                    r"artifact store"):
        model_files.check(empty, sums, "the model m")


def test_a_damaged_record_is_refused():
    with pytest.raises(ModelUnavailableError, match="tag file_sha256 is not the record"):
        model_files.decode('{"MLmodel": "ab', "the model m")
    with pytest.raises(ModelUnavailableError, match="tag file_sha256 is not the record"):
        model_files.decode("[1, 2]", "the model m")


def test_without_a_record_a_cut_booster_is_found_before_lightgbm_reads_it(model):
    model_files.check_unrecorded(model, "the model m")  # whole: no error
    booster = model / "artifacts" / "scorer" / "models" / "defection.txt"
    booster.write_text(BOOSTER[: BOOSTER.index("end of trees")])
    (model / "requirements.txt").write_text("lightgbm\n")  # text, not a booster: not read
    with pytest.raises(ModelUnavailableError, match=r"LightGBM model files cut short \(no 'end "
                                                    r"of trees' line\): artifacts/scorer/models/"
                                                    r"defection\.txt\."):
        model_files.check_unrecorded(model, "the model m")
