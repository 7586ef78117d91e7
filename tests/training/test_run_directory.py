import json
import os
import subprocess
import sys

import pytest

from keras_vit.training._run_directory import (
    LOCK,
    MANIFEST,
    DirectoryLock,
    RunDirectory,
    RunDirectoryError,
    canonical,
    find_unfinished,
    plan_run,
)

pytestmark = pytest.mark.backend_independent  # plain Python and files

SETTINGS = {"crop_scale": (0.08, 1.0), "epochs": 3}


def started(path, state="training", settings=SETTINGS):
    run = RunDirectory(path)
    run.open()
    run.start(state)
    run.write_json("config.json", canonical(settings))
    return run


def test_settings_compare_after_a_json_round_trip(tmp_path):
    # The default --crop-scale is a tuple; config.json gives back a list.
    run = started(tmp_path / "run")
    run.close()
    again = RunDirectory(tmp_path / "run")
    again.open()
    plan = plan_run(again, SETTINGS, overwrite=False)
    assert plan.action == "resume"
    with pytest.raises(RunDirectoryError, match=r"other settings \(epochs\)"):
        plan_run(again, {**SETTINGS, "epochs": 4}, overwrite=False)
    again.close()


def test_a_second_lock_is_refused_naming_the_holder(tmp_path):
    first = DirectoryLock(str(tmp_path))
    first.acquire()
    assert first.is_held()
    with pytest.raises(RunDirectoryError, match=rf"in use by another keras-vit run \(pid {os.getpid()} on "):
        DirectoryLock(str(tmp_path)).acquire()
    first.release()
    assert not os.path.exists(tmp_path / LOCK) and not first.is_held()


def test_a_lock_left_by_a_dead_process_is_stale(tmp_path):
    # A process that takes the lock and is killed without releasing it.
    code = (
        "import os, signal, sys; from keras_vit.training._run_directory import DirectoryLock; "
        "DirectoryLock(sys.argv[1]).acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    process = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, timeout=300)
    assert process.returncode == -9, process.stderr[-2000:]
    holder = json.loads((tmp_path / LOCK).read_text())
    assert holder["pid"] != os.getpid()
    lock = DirectoryLock(str(tmp_path))
    assert not lock.is_held()
    lock.acquire()  # the dead process's lock does not block
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    lock.release()


def test_only_recorded_files_are_deleted(tmp_path):
    run = started(tmp_path / "run")
    run.write_text("history.csv", "epoch\n0\n")
    run.record("logs/train/events.out.tfevents.1")
    (tmp_path / "run" / "logs" / "train" / "events.out.tfevents.1").write_text("e")
    (tmp_path / "run" / "logs" / "mine").write_text("notes")
    (tmp_path / "run" / "paper.tex").write_text("draft")
    manifest = run.read_manifest()
    removed, kept = run.remove_owned(manifest)
    assert sorted(removed) == ["config.json", "history.csv", "logs/train/", "logs/train/events.out.tfevents.1"]
    assert kept == ["logs/mine", "paper.tex"]
    assert (tmp_path / "run" / "logs" / "mine").read_text() == "notes"
    assert not (tmp_path / "run" / MANIFEST).exists()
    with pytest.raises(ValueError, match="not written by this run"):
        started(tmp_path / "other").remove("paper.tex")
    run.close()


def test_a_directory_without_a_manifest_is_never_emptied(tmp_path):
    path = tmp_path / "mine"
    path.mkdir()
    (path / "config.json").write_text("{}")
    run = RunDirectory(path)
    run.open()
    with pytest.raises(RunDirectoryError, match="holds no keras-vit run"):
        plan_run(run, SETTINGS, overwrite=False)
    with pytest.raises(RunDirectoryError, match="holds config.json, which keras-vit did not write"):
        plan_run(run, SETTINGS, overwrite=True)
    os.remove(path / "config.json")
    (path / "notes.txt").write_text("x")
    assert plan_run(run, SETTINGS, overwrite=True).manifest is None  # nothing to delete
    run.close()
    assert sorted(os.listdir(path)) == ["notes.txt"]


@pytest.mark.parametrize("content, match", [("{broken", "is damaged"), ('{"format": "other"}', "not a keras-vit run manifest")])
def test_a_damaged_manifest_changes_nothing(tmp_path, content, match):
    path = tmp_path / "run"
    path.mkdir()
    (path / MANIFEST).write_text(content)
    (path / "best.keras").write_bytes(b"model")
    run = RunDirectory(path)
    run.open()
    for overwrite in (False, True):
        with pytest.raises(RunDirectoryError, match=match):
            plan_run(run, SETTINGS, overwrite)
    run.close()
    assert (path / "best.keras").read_bytes() == b"model"


def test_phases_decide_what_the_next_run_does(tmp_path):
    for state, action in (("training", "resume"), ("trained", "evaluate")):
        run = started(tmp_path / state, state)
        assert plan_run(run, SETTINGS, overwrite=False).action == action
        run.close()
    run = started(tmp_path / "finished", "finished")
    with pytest.raises(RunDirectoryError, match="finished run"):
        plan_run(run, SETTINGS, overwrite=False)
    assert plan_run(run, SETTINGS, overwrite=True).action == "fresh"
    run.close()


def test_the_default_directory_is_the_unfinished_run_of_the_same_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started("runs/digits-custom-20260101-000000", "finished").close()
    started("runs/digits-custom-20260102-000000", settings={**SETTINGS, "epochs": 9}).close()
    assert find_unfinished("runs", "digits-custom-", SETTINGS) is None
    started("runs/digits-custom-20260103-000000").close()
    assert find_unfinished("runs", "digits-custom-", SETTINGS) == os.path.join("runs", "digits-custom-20260103-000000")
    busy = RunDirectory("runs/digits-custom-20260103-000000")
    busy.open()  # a live run holds it
    assert find_unfinished("runs", "digits-custom-", SETTINGS) is None
    busy.close()


def test_a_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirectoryError, match="exists and is not a directory"):
        RunDirectory(tmp_path / "file").open()
