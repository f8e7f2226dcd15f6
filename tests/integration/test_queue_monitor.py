"""SAQ's web UI inside the service: operators with QUEUE_READ see the queues and jobs; its buttons need
QUEUE_MANAGE; without a token, nothing."""

from __future__ import annotations

import httpx
from saq import Queue
from saq.web import starlette as saq_web

from service.settings import Settings

Client = httpx.AsyncClient


async def test_the_queue_monitor_needs_a_token(api: Client) -> None:
    for path in ("/queues/", "/queues/api/queues"):
        response = await api.get(path)
        assert response.status_code == 401, path
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_viewer_reads_the_queues_and_jobs(api: Client, as_viewer: dict[str, str], settings: Settings) -> None:
    page = await api.get("/queues/", headers=as_viewer)
    assert page.status_code == 200
    assert '<script src="/queues/static/app.js">' in page.text
    assert (await api.get("/queues/static/app.js", headers=as_viewer)).status_code == 200
    queues = await api.get("/queues/api/queues", headers=as_viewer)
    assert queues.status_code == 200
    assert settings.queue_name in [q["name"] for q in queues.json()["queues"]]


async def test_retrying_or_aborting_a_job_needs_queue_manage(api: Client, as_viewer: dict[str, str],
                                                             settings: Settings) -> None:
    path = f"/queues/api/queues/{settings.queue_name}/jobs/nothing/abort"
    response = await api.post(path, headers=as_viewer)
    assert response.status_code == 403
    assert response.json()["permission"] == "QUEUE_MANAGE"


async def test_the_monitor_shows_the_answering_apps_queue_only(api: Client, as_viewer: dict[str, str],
                                                               settings: Settings) -> None:
    # another app of this process (a sandbox that has stopped) left its closed queue in SAQ's table
    saq_web.QUEUES["stopped-sandbox"] = Queue.from_url("redis://127.0.0.1:1/0", name="stopped-sandbox")
    queues = await api.get("/queues/api/queues", headers=as_viewer)
    assert queues.status_code == 200
    assert [q["name"] for q in queues.json()["queues"]] == [settings.queue_name]
