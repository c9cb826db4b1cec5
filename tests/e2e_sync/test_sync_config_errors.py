"""Bad configurations: each gives its message with its place, exit 2 and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e_sync.conftest import World

PLANE = 'plane: {url: "URL", api_key: "${PLANE_API_KEY}", workspace: acme}\n'
FOLDER = "folders: [{path: FOLDER, work_item: PROJ-1}]\n"

# (name, config text, text stderr must contain)
CASES = [
    ("unknown key", PLANE + "foldrs: []\n",
     'unknown top-level key "foldrs" (did you mean "folders"?)'),
    ("not a URL", PLANE.replace('"URL"', '"ftp://x"') + FOLDER,
     'plane.url: "ftp://x" is not an http(s) URL'),
    ("unset variable", PLANE.replace("PLANE_API_KEY", "E2E_NOT_SET_ANYWHERE") + FOLDER,
     "plane.api_key: environment variable E2E_NOT_SET_ANYWHERE is not set"),
    ("bad rate", PLANE.replace("}", ", rate_limit: fast}") + FOLDER,
     'plane.rate_limit: "fast" is not a rate'),
    ("bad identifier", PLANE + FOLDER.replace("PROJ-1", '"PROJ-x"'),
     'folders[0].work_item: "PROJ-x" is not an identifier'),
    ("bad choice", PLANE + FOLDER.replace("}]", ", on_change: overwrite}]"),
     'folders[0].on_change: "overwrite" is not one of: replace, keep'),
    ("nested folders", PLANE + "folders: [{path: FOLDER, work_item: PROJ-1}, "
     "{path: FOLDER/sub, work_item: PROJ-2}]\n",
     "folders[1].path: FOLDER/sub is inside folders[0]"),
    ("no target", PLANE + "folders: [{path: FOLDER}]\n",
     "folders[0]: missing work_item (e.g. PROJ-12) or work_items: subfolders"),
    ("bad duration", PLANE + FOLDER.replace("}]", ", settle: soon}]"),
     'folders[0].settle: "soon" is not a duration'),
    ("bad slug", PLANE.replace("acme", '"ac me"') + FOLDER,
     'plane.workspace: "ac me" is not a workspace slug'),
    ("YAML syntax", PLANE.replace("}", "") + "folders: [\n",
     "line 2, column 8: YAML syntax error"),
    ("state inside a folder", PLANE + "state_dir: FOLDER/state\n" + FOLDER,
     "state_dir: FOLDER/state is inside folders[0]"),
    ("bad size", PLANE.replace("}", ", file_size_limit: huge}") + FOLDER,
     'plane.file_size_limit: "huge" is not a size in bytes'),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_bad_config_exits_2_with_its_problem(world: World, text: str,
                                               expected: str) -> None:
    folder = str(world.folder)
    world.config_path.write_text(text.replace("URL", world.emu.url)
                                 .replace("FOLDER", folder), encoding="utf-8")
    world.emu.clear_requests()
    run = world.cli("sync")
    assert run.code == 2, str(run)
    assert expected.replace("FOLDER", folder) in run.stderr, str(run)
    assert f"Invalid configuration in {world.config_path}" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert world.emu.requests() == []  # nothing was asked of Plane


def test_every_problem_is_listed_at_once(world: World) -> None:
    world.config_path.write_text(
        PLANE.replace('"URL"', '"ftp://x"').replace("acme", '"a b"')
        + f"folders: [{{path: {world.folder}, work_item: PROJ-x, recurse: maybe}}]\n",
        encoding="utf-8")
    run = world.cli("check")
    assert run.code == 2, str(run)
    assert run.stderr.count("\n  - ") == 4, str(run)
    for place in ("plane.url", "plane.workspace", "folders[0].work_item",
                  "folders[0].recurse"):
        assert f"  - {place}: " in run.stderr


def test_a_missing_config_file_exits_2(world: World) -> None:
    run = world.cli("sync", config=Path(world.root / "nowhere.yaml"))
    assert run.code == 2, str(run)
    assert "nowhere.yaml: not found (given by -c)" in run.stderr
    assert "Traceback" not in run.stderr


def test_usage_errors_exit_2(world: World) -> None:
    run = world.cli("sync", "--no-such-option")
    assert run.code == 2
    assert "unrecognized arguments: --no-such-option" in run.stderr
