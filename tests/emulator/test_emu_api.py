"""Auth (observed §6), rate limit (§7), identifiers, pagination and routes (§8)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from plane_sync.emulator import Emulator
from tests.emulator.emu_helpers import api, attachments_path

ME = "/api/v1/users/me/"
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"error": "The requested resource does not exist."}


class TestAuth:
    def test_valid_key_any_header_case(self, emulator: Emulator) -> None:
        response = httpx.get(f"{emulator.url}{ME}", headers={"x-api-key": emulator.api_key})
        assert response.status_code == 200
        assert set(response.json()) == {"id", "first_name", "last_name", "email", "avatar",
                                        "avatar_url", "display_name"}

    @pytest.mark.parametrize(
        ("headers", "status", "detail"),
        [
            ({"X-API-Key": "plane_api_" + "0" * 32}, 403, "Given API token is not valid"),
            ({}, 401, "Authentication credentials were not provided."),
            ({"Authorization": "Bearer KEY"}, 401,
             "Authentication credentials were not provided."),
        ],
    )
    def test_refusals(
        self, emulator_factory: Any, headers: dict[str, str], status: int, detail: str
    ) -> None:
        emu = emulator_factory()  # rate limit on: refusals must not carry its headers
        headers = {k: v.replace("KEY", emu.api_key) for k, v in headers.items()}
        response = httpx.get(f"{emu.url}{ME}", headers=headers)
        assert (response.status_code, response.json()) == (status, {"detail": detail})
        assert "x-ratelimit-remaining" not in response.headers
        assert "www-authenticate" not in response.headers


class TestRateLimit:
    def test_window_headers_and_429(self, emulator_factory: Any) -> None:
        emu = emulator_factory(rate_limit=(5, 2.0))
        with api(emu) as client:
            remaining = []
            for _ in range(5):
                response = client.get(ME)
                assert response.status_code == 200
                remaining.append(int(response.headers["x-ratelimit-remaining"]))
                reset = int(response.headers["x-ratelimit-reset"])
                assert time.time() < reset <= time.time() + 3
            assert remaining == [4, 3, 2, 1, 0]
            throttled = client.get(attachments_path(emu, emu.work_items[0]["id"]))
            assert throttled.status_code == 429
            assert throttled.json() == {"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}
            assert 1 <= int(throttled.headers["retry-after"]) <= 2
            assert "x-ratelimit-remaining" not in throttled.headers
            other = emu.add_api_key()
            fresh = httpx.get(f"{emu.url}{ME}", headers={"X-API-Key": other})
            assert fresh.headers["x-ratelimit-remaining"] == "4"
            time.sleep(int(throttled.headers["retry-after"]) + 0.1)
            assert client.get(ME).status_code == 200

    def test_429s_do_not_consume_the_window(self, emulator_factory: Any) -> None:
        emu = emulator_factory(rate_limit=(1, 1.0))
        with api(emu) as client:
            assert client.get(ME).status_code == 200
            for _ in range(5):
                assert client.get(ME).status_code == 429
            time.sleep(1.1)
            assert client.get(ME).status_code == 200


class TestIdentifiers:
    @pytest.mark.parametrize("family", ["work-items", "issues"])
    def test_lookup(self, emulator: Emulator, family: str) -> None:
        with api(emulator) as client:
            response = client.get(f"/api/v1/workspaces/acme/{family}/PROJ-1/")
        assert response.status_code == 200
        body = response.json()
        assert body["sequence_id"] == 1 and body["project"] == emulator.project_id
        assert body["id"] == emulator.work_items[0]["id"]

    @pytest.mark.parametrize(
        ("identifier", "status", "answer"),
        [
            ("proj-1", 403, NO_PERMISSION),
            ("NOPE-1", 403, NO_PERMISSION),
            ("PROJ-x", 500, {"error": "Something went wrong please try again later"}),
            ("PROJ-999", 404, NOT_FOUND),
        ],
    )
    def test_refusals(
        self, emulator: Emulator, identifier: str, status: int, answer: dict[str, Any]
    ) -> None:
        with api(emulator) as client:
            response = client.get(f"/api/v1/workspaces/acme/work-items/{identifier}/")
        assert (response.status_code, response.json()) == (status, answer)

    @pytest.mark.parametrize("state", ["triage", "archived", "draft"])
    def test_hidden_items(self, emulator: Emulator, state: str) -> None:
        item = emulator.add_work_item(emulator.project_id, "Hidden", state=state)
        project = f"/api/v1/workspaces/acme/projects/{emulator.project_id}"
        with api(emulator) as client:
            by_identifier = client.get(f"/api/v1/workspaces/acme/work-items/{item['identifier']}/")
            by_id = client.get(f"{project}/work-items/{item['id']}/")
            listed = client.get(f"{project}/work-items/").json()["results"]
        assert by_identifier.status_code == 404 and by_id.status_code == 404
        assert item["id"] not in [row["id"] for row in listed]

    def test_identifier_with_dashes(self, emulator: Emulator) -> None:
        project = emulator.add_project("MY-P", "Dashed")
        item = emulator.add_work_item(project["id"], "x")
        with api(emulator) as client:
            response = client.get("/api/v1/workspaces/acme/work-items/MY-P-1/")
        assert response.json()["id"] == item["id"]


class TestWorkItemsAndProjects:
    def test_create_work_item(self, emulator: Emulator) -> None:
        path = f"/api/v1/workspaces/acme/projects/{emulator.project_id}/work-items/"
        with api(emulator) as client:
            created = client.post(path, json={"name": "First", "description_html": "<p>hi</p>"})
            plain = client.post(path.replace("work-items", "issues"), json={"name": "Second"})
            fetched = client.get(f"{path}{created.json()['id']}/")
        assert created.status_code == 201 and plain.status_code == 201
        assert created.json()["description_html"] == "<p>hi</p>"
        assert plain.json()["description_html"] == "<p></p>"
        assert plain.json()["sequence_id"] == 5
        assert fetched.json()["name"] == "First"

    def test_projects(self, emulator: Emulator) -> None:
        with api(emulator) as client:
            created = client.post("/api/v1/workspaces/acme/projects/",
                                  json={"name": "Other", "identifier": "OTH"})
            listed = client.get("/api/v1/workspaces/acme/projects/").json()
            one = client.get(f"/api/v1/workspaces/acme/projects/{emulator.project_id}/")
        assert created.status_code == 201
        assert created.json()["member_role"] == 20 and created.json()["is_member"] is True
        assert [p["identifier"] for p in listed["results"]] == ["PROJ", "OTH"]
        assert "sort_order" in listed["results"][0]
        assert one.json()["identifier"] == "PROJ"


class TestPagination:
    def _get(self, emu: Emulator, query: str) -> httpx.Response:
        with api(emu) as client:
            return client.get(
                f"/api/v1/workspaces/acme/projects/{emu.project_id}/work-items/?{query}")

    def test_default_envelope(self, emulator_factory: Any) -> None:
        emu = emulator_factory(work_items=2)
        body = self._get(emu, "").json()
        assert {k: v for k, v in body.items() if k != "results"} == {
            "grouped_by": None, "sub_grouped_by": None, "total_count": 2,
            "next_cursor": "1000:1:0", "prev_cursor": "1000:-1:1", "next_page_results": False,
            "prev_page_results": False, "count": 2, "total_pages": 1, "total_results": 2,
            "extra_stats": None,
        }
        assert [row["sequence_id"] for row in body["results"]] == [2, 1]  # newest first

    def test_walk_pages(self, emulator_factory: Any) -> None:
        emu = emulator_factory(work_items=2)
        first = self._get(emu, "per_page=1").json()
        assert (first["next_cursor"], first["next_page_results"], first["total_pages"]) == (
            "1:1:0", True, 2)
        second = self._get(emu, "per_page=1&cursor=1:1:0").json()
        assert [row["sequence_id"] for row in second["results"]] == [1]
        assert (second["next_cursor"], second["next_page_results"]) == ("1:2:0", False)
        beyond = self._get(emu, "per_page=1&cursor=1:2:0").json()
        assert (beyond["count"], beyond["results"], beyond["next_cursor"]) == (0, [], "1:3:0")

    @pytest.mark.parametrize(
        ("query", "detail"),
        [
            ("per_page=5000", "Invalid per_page value. Cannot exceed 1000."),
            ("cursor=garbage", "Invalid cursor parameter."),
        ],
    )
    def test_bad_parameters(self, emulator: Emulator, query: str, detail: str) -> None:
        response = self._get(emulator, query)
        assert (response.status_code, response.json()) == (400, {"detail": detail})


class TestRoutes:
    def test_missing_slash_redirects(self, emulator: Emulator) -> None:
        with api(emulator) as client:
            response = client.get("/api/v1/users/me?x=1")
        assert response.status_code == 301
        assert response.headers["location"] == "/api/v1/users/me/?x=1"

    def test_unknown_route_is_html_404(self, emulator: Emulator) -> None:
        with api(emulator) as client:
            response = client.get("/api/v1/nothing/here/")
            bad_uuid = client.get(attachments_path(emulator, "not-a-uuid"))
        for answer in (response, bad_uuid):
            assert answer.status_code == 404
            assert answer.headers["content-type"].startswith("text/html")

    def test_legacy_server_has_no_work_item_routes(self, emulator_factory: Any) -> None:
        emu = emulator_factory(rate_limit=None, legacy_routes=True)
        item_id = emu.work_items[0]["id"]
        with api(emu) as client:
            new = client.get(attachments_path(emu, item_id))
            old = client.get(attachments_path(emu, item_id, legacy=True))
            by_identifier = client.get("/api/v1/workspaces/acme/work-items/PROJ-1/")
        assert new.status_code == 404 and new.headers["content-type"].startswith("text/html")
        assert by_identifier.status_code == 404
        assert (old.status_code, old.json()) == (200, [])

    def test_method_not_allowed(self, emulator: Emulator) -> None:
        with api(emulator) as client:
            response = client.put(attachments_path(emulator, str(uuid.uuid4())), json={})
        assert response.status_code == 405
