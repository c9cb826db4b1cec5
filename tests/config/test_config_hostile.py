"""What people and machines really put in a config: each gives a ConfigError naming its place,
never another exception, never the key, never a stall."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plane_sync.config.load import (
    INTERNAL_ERROR,
    MAX_CONFIG_BYTES,
    Config,
    load_config,
    parse_config,
    parse_subfolder_name,
)
from plane_sync.config.plain_yaml import MAX_DEPTH, MAX_VALUES, load_plain_yaml
from plane_sync.errors import ConfigError

KEY = "plane_api_0123456789abcdef0123456789abcdef"
ENV = {"PLANE_API_KEY": KEY, "HOME": "/home/user"}


def config_text(*, url: str = "https://plane.example.com", api_key: str = "${PLANE_API_KEY}",
                timeout: str = "30s", rate_limit: str = "60/minute", size: str = "5MiB",
                work_item: str = "PROJ-1", path: str = "/data/a", folder_extra: str = "",
                top_extra: str = "") -> str:
    return (f"plane:\n  url: {url}\n  api_key: {api_key}\n  workspace: acme\n"
            f"  timeout: {timeout}\n  rate_limit: {rate_limit}\n  file_size_limit: {size}\n"
            f"folders:\n  - path: {path}\n    work_item: {work_item}\n{folder_extra}"
            f"{top_extra}")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="test.yaml", env=ENV, base_dir=Path("/cfg"))
    problems = caught.value.problems
    assert not any(INTERNAL_ERROR in p for p in problems), problems
    return problems


def test_the_skeleton_itself_is_valid() -> None:
    config = parse_config(config_text(), env=ENV)
    assert config.plane.url == "https://plane.example.com"


# -- 1. tags: refused with their place; the tagged value is never read ----------------------

TAGGED = [
    ("    settle: !!int abc\n", "line 11, column 13: the tag !!int is not accepted"),
    ("    settle: !!float x\n", "line 11, column 13: the tag !!float is not accepted"),
    ("    settle: !!timestamp 2020-13-45\n",
     "line 11, column 13: the tag !!timestamp is not accepted"),
    ("    settle: !!python/object/apply:os.system [echo]\n",
     "line 11, column 13: the tag !!python/object... is not accepted"),
    ("    settle: !!binary aGVsbG8=\n", "line 11, column 13: the tag !!binary is not accepted"),
    ("    exclude: !!set {a, b}\n", "line 11, column 14: the tag !!set is not accepted"),
    ("    settle: !custom 3\n", "line 11, column 13: the tag !custom is not accepted"),
    ("    settle: !!str 3\n", "line 11, column 13: the tag !!str is not accepted"),
]


@pytest.mark.parametrize(("extra", "expected"), TAGGED)
def test_a_tag_is_refused_with_its_place(extra: str, expected: str) -> None:
    problems = problems_of(config_text(folder_extra=extra))
    assert len(problems) == 1
    assert problems[0].startswith(expected), problems


def test_every_tag_is_listed_at_once() -> None:
    text = config_text(timeout="!!float x", folder_extra="    settle: !!int abc\n")
    assert [p.split(":")[0] for p in problems_of(text)] == ["line 5, column 12",
                                                           "line 11, column 13"]


def test_a_tagged_api_key_is_never_shown() -> None:
    problems = problems_of(config_text(api_key=f"!!int {KEY}"))
    assert problems == ["line 3, column 12: the tag !!int is not accepted: write the value "
                        "without it (quote it to make it text)"]
    secret_tag = problems_of(config_text(api_key=f"!{KEY} x"))
    assert KEY not in " ".join(secret_tag) and "a custom tag" in secret_tag[0]


def test_the_non_specific_tag_makes_text() -> None:
    config = parse_config(config_text(folder_extra="    settle: ! 3\n"), env=ENV)
    assert config.folders[0].settle == 3.0  # "3" as text, read as a duration


@pytest.mark.parametrize(("value", "expected"), [
    ("2020-13-45", '"2020-13-45" is not a duration'),  # an impossible date is text
    ("2020-01-02", '"2020-01-02" is not a duration'),  # a date stays text too
    ("1" * 200, "a number of more than 100 characters"),
    ("0x" + "f" * 120, "a number of more than 100 characters"),
    ("1.0e+400", "must be a finite duration"),
    ("1e400", '"1e400" is not a duration'),  # YAML 1.1: no dot, no float
    (".nan", "must be a finite duration"),
])
def test_implicit_scalars_never_crash(value: str, expected: str) -> None:
    problems = problems_of(config_text(folder_extra=f"    settle: {value}\n"))
    assert len(problems) == 1 and expected in problems[0], problems


# -- YAML structure caps -------------------------------------------------------------------


def billion_laughs(levels: int, width: int) -> str:
    lines = ["l0: &l0 [lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + f"\nfolders: *l{levels}\n"


@pytest.mark.parametrize(("text", "expected"), [
    (billion_laughs(9, 10), f"more than {MAX_VALUES} values"),
    ("f: &f {path: /a, work_item: P-1}\nfolders: [" + ", ".join(["*f"] * 5000) + "]\n",
     f"more than {MAX_VALUES} values"),
    ("x: &x\n  <<: *x\n", "recursive structure"),
    ("x: &x [*x]\n", "recursive structure"),
    # libyaml stops at its own limit (1000 levels) while scanning; the loader stops at 32.
    ("folders: " + "[" * 100_000 + "]" * 100_000 + "\n", "maximum nesting depth"),
    ("folders: " + "[" * 900 + "]" * 900 + "\n", f"nested deeper than {MAX_DEPTH}"),
    ("folders: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n", "nest"),
    ("folders:\n" + "".join("  " * i + "- \n" for i in range(500)), "nested deeper than"),
    ("a: 1\n---\nb: 2\n", "a second YAML document"),
    ("a: *nowhere\n", "refers to no anchor"),
    ("? [a, b]\n: 1\n", "a key must be a plain value"),
    ("a: {<<: [1, 2]}\n", "<< merges a mapping or a list of mappings only"),
])
def test_yaml_structures_that_would_stall_or_crash_are_refused(text: str,
                                                               expected: str) -> None:
    data, problems, _ = load_plain_yaml(text)
    assert data is None
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("line ") for p in problems)


def test_anchors_aliases_and_merges_still_work() -> None:
    text = ("defaults: &d {settle: 5s, exclude: ['*.bak']}\n"
            "folders:\n  - {<<: *d, path: /a, work_item: P-1}\n"
            "  - <<: *d\n    path: /b\n    work_item: P-2\n    settle: 1s\n")
    data, problems, _ = load_plain_yaml(text)
    assert problems == []
    assert data["folders"][0] == {"settle": "5s", "exclude": ["*.bak"], "path": "/a",
                                  "work_item": "P-1"}
    assert data["folders"][1]["settle"] == "1s"  # a key written here wins over the merge


def test_yaml_1_1_plain_scalars_keep_their_meaning() -> None:
    data, problems, _ = load_plain_yaml("a: yes\nb: off\nc: ~\nd: 0x1f\ne: 1:30\nf: 1.5\n")
    assert problems == []
    assert data == {"a": True, "b": False, "c": None, "d": 31, "e": 90, "f": 1.5}


# -- 2. bounds on durations and sizes ------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (config_text(folder_extra="    poll_interval: 200000d\n"),
     'folders[0].poll_interval: "200000d" is more than the longest allowed, 1 day (86400 s)'),
    (config_text(timeout="200000d"),
     'plane.timeout: "200000d" is more than the longest allowed, 1 hour (3600 s)'),
    (config_text(folder_extra="    settle: 2d\n"),
     'folders[0].settle: "2d" is more than the longest allowed, 1 hour (3600 s)'),
    (config_text(folder_extra="    rescan_interval: 1.0e+12\n"),
     "folders[0].rescan_interval: 1000000000000.0 is more than the longest allowed, "
     "7 days (604800 s)"),
    (config_text(top_extra="defaults:\n  poll_interval: 9999999999999999999\n"),
     "defaults.poll_interval: 9999999999999999999 is more than the longest allowed, "
     "1 day (86400 s)"),
    (config_text(rate_limit="60/200000d"),
     'plane.rate_limit: "60/200000d": the period may be at most 1 day (86400 s)'),
    (config_text(rate_limit="99999999999999999999/1s"),
     'plane.rate_limit: "99999999999999999999/1s": at most 1000000 requests per period'),
    (config_text(size="9" * 90 + "GB"), "plane.file_size_limit: "),
    (config_text(size="6GiB"), 'plane.file_size_limit: "6GiB" is more than 5 GiB'),
])
def test_durations_and_sizes_are_bounded_at_load(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


# -- 3. the URL ----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8O80", "the port must be a number from 1 to 65535"),
    ('"http://[::1"', "an IPv6 address needs its closing ]"),
    ("http://127.0.0.1:99999", "the port must be a number from 1 to 65535"),
    ("http://host:0", "port 0 is not a port"),
    ('"http://a b.example"', "contains a space"),
    ("http://[not-ipv6]", "what is in [ ] must be an IPv6 address"),
    ("http://[::1]x:80", "nothing but a :port may follow the ]"),
    ("http://999.1.1.1", "999.1.1.1 is not an IPv4 address"),
    ("http://-bad-.example", "is not a host name"),
    ("https://plane.example.com/acme/projects", 'has a path ("/acme/projects")'),
    ("ftp://plane.example.com", "is not an http(s) URL"),
    ("https://plane.example.com/?x=1", "must not have a query or fragment"),
])
def test_a_bad_url_is_refused_at_load(url: str, expected: str) -> None:
    problems = problems_of(config_text(url=url))
    assert len(problems) == 1 and problems[0].startswith("plane.url: "), problems
    assert expected in problems[0], problems


@pytest.mark.parametrize(("url", "base"), [
    ("https://plane.example.com/", "https://plane.example.com"),
    ("https://plane.example.com/api/v1/", "https://plane.example.com"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://plane_api:8000", "https://plane_api:8000"),  # a compose service name
    ("https://bücher.example", "https://bücher.example"),
])
def test_good_urls_are_kept(url: str, base: str) -> None:
    assert parse_config(config_text(url=url), env=ENV).plane.url == base


def test_url_credentials_are_kept_for_requests_but_never_shown() -> None:
    config = parse_config(config_text(url="http://u:s3cr3t@plane.example.com/api/v1"),
                          env=ENV)
    assert config.plane.url == "http://u:s3cr3t@plane.example.com"
    assert config.warnings and not any("s3cr3t" in w for w in config.warnings)
    assert any("http://***@plane.example.com" in w for w in config.warnings)
    problems = problems_of(config_text(url="http://u:s3cr3t@plane.example.com:99999"))
    assert "s3cr3t" not in problems[0] and "***@" in problems[0]


# -- 8. smaller ----------------------------------------------------------------------------


@pytest.mark.parametrize(("work_item", "expected"), [
    ("PROJ-0", 'folders[0].work_item: "PROJ-0": work item numbers start at 1'),
    ("PROJ-000", 'folders[0].work_item: "PROJ-000": work item numbers start at 1'),
    ("PROJ-12345678901234567890123", 'folders[0].work_item: "PROJ-12345678901234567890123": '
     "the number is larger than any work item's (at most 2147483647)"),
    ("PROJ-2147483648", "at most 2147483647"),
])
def test_identifiers_out_of_range_are_refused(work_item: str, expected: str) -> None:
    problems = problems_of(config_text(work_item=work_item))
    assert len(problems) == 1 and expected in problems[0], problems


def test_the_largest_identifier_is_fine_and_subfolders_out_of_range_map_to_nothing() -> None:
    assert parse_config(config_text(work_item="PROJ-2147483647"), env=ENV).folders
    assert parse_subfolder_name("PROJ-0 notes") is None
    assert parse_subfolder_name("PROJ-99999999999") is None


def test_tilde_of_an_unknown_user_is_refused() -> None:
    problems = problems_of(config_text(path="~nosuchuser-plane-sync/x"))
    assert problems == ['folders[0].path: "~nosuchuser-plane-sync/x": there is no user '
                        '"nosuchuser-plane-sync" on this machine (~user means that user\'s '
                        "home directory)"]


def test_too_many_patterns_are_refused_with_a_message() -> None:
    patterns = "".join(f"      - '*.x{i}'\n" for i in range(1001))
    problems = problems_of(config_text(folder_extra="    exclude:\n" + patterns))
    assert problems == ['folders[0].exclude: 1001 patterns; at most 1000 are accepted (every '
                        'file is matched against each; use wider patterns like "*.log" or '
                        '"build/**")']


def test_a_huge_config_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    with path.open("w", encoding="utf-8") as out:
        out.write(config_text(folder_extra="    exclude:\n"))
        line = "      - '*.tmp'\n"
        out.write(line * (50 * 1024 * 1024 // len(line)))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert caught.value.problems == ["the file is 50.0 MiB; a configuration may be at most "
                                     "1 MiB (is this the right file?)"]
    with pytest.raises(ConfigError):
        parse_config("#" * (MAX_CONFIG_BYTES + 1), env=ENV)


def test_a_fifo_in_place_of_the_config_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as caught:
        load_config(fifo, env=ENV)
    assert caught.value.problems == ["not a regular file (a pipe, device or socket cannot be "
                                     "a configuration)"]


def test_thousands_of_folders_are_checked_without_comparing_every_pair() -> None:
    folders = "".join(f"  - {{path: /data/f{i}, work_item: P-{i + 1}}}\n" for i in range(1500))
    text = ("plane: {url: 'https://x.example', api_key: k, workspace: a}\nfolders:\n" + folders
            + "  - {path: /data/f7, work_item: P-1}\n  - {path: /data/f9/in, work_item: Q-1}\n"
            + "  - {path: /data, work_item: Q-2}\n")
    problems = problems_of(text)
    assert problems[:2] == [  # in the order of the folders they conflict with
        "folders[1500]: maps to the same work item as folders[0] (P-1); two folders would "
        "fight over which files are deleted",
        "folders[1500].path: /data/f7 is already folders[7].path"]
    assert problems[2].startswith("folders[1501].path: /data/f9/in is inside folders[9]")
    assert problems[3].startswith("folders[1502].path: /data contains folders[0]")
    assert len(problems) == 4


# -- any document at all -------------------------------------------------------------------

_TAGS = ["", "", "", "!!int ", "!!float ", "!!timestamp ", "!!str ", "!!binary ", "!!set ",
         "!!python/object:os.system ", "! ", "!local "]
_WORDS = ["plane", "url", "folders", "path", "work_item", "settle", "exclude", "defaults",
          "poll_interval", "timeout", "api_key", "workspace", "<<", "abc", "~", "PROJ-1",
          "PROJ-0", "2020-13-45", "1e400", ".nan", "0x1f", "1:30", "yes", "null", "'q q'",
          "http://[::1", "200000d", "${X}", "${", "/data/a", "~nosuchuser/x"]
_scalars = st.one_of(
    st.sampled_from(_WORDS),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=1, max_value=400).map(lambda n: "9" * n),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8).map(
        lambda t: "'" + t.replace("'", "''") + "'"),
)
_anchors = st.sampled_from(["", "", "&a ", "&b "])


def _tagged(parts: tuple[str, str, str]) -> str:
    return parts[0] + parts[1] + parts[2]


_leaf = st.one_of(st.tuples(_anchors, st.sampled_from(_TAGS), _scalars).map(_tagged),
                  st.sampled_from(["*a", "*b"]))
_node = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.tuples(_anchors, st.sampled_from(_TAGS),
                  st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"))
        .map(_tagged),
        st.tuples(_anchors, st.sampled_from(_TAGS),
                  st.lists(st.tuples(st.one_of(st.sampled_from(_WORDS), inner), inner),
                           max_size=4)
                  .map(lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"))
        .map(_tagged)),
    max_leaves=12,
)
_bombs = st.one_of(
    st.builds(billion_laughs, st.integers(1, 12), st.integers(1, 12)),
    st.integers(0, 50_000).map(lambda n: "folders: " + "[" * n + "]" * n),
    st.integers(0, 50_000).map(lambda n: "plane: " + "{a: " * n + "1" + "}" * n),
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A config-shaped flow mapping of random nodes, sometimes with a bomb in front."""
    keys = draw(st.lists(st.sampled_from(["plane", "folders", "defaults", "log",
                                          "state_dir", "x"]), min_size=1, max_size=5))
    body = "{" + ", ".join(f"{key}: {draw(_node)}" for key in keys) + "}"
    if draw(st.booleans()):
        return draw(_bombs) + "\n"
    return body + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_document_gives_a_config_or_a_config_error(text: str) -> None:
    """Nothing but ConfigError escapes, and no problem is the loader's safety net (which would
    mean a bug). The time each takes is bounded by the loader's caps (values, depth, number
    length, file size), not measured here."""
    try:
        result = parse_config(text, source="fuzz.yaml", env=ENV, base_dir=Path("/cfg"))
    except ConfigError as error:
        assert error.problems
        assert all(isinstance(p, str) and p for p in error.problems)
        assert not any(INTERNAL_ERROR in p for p in error.problems), error.problems
        assert KEY not in str(error)
    else:
        assert isinstance(result, Config)
