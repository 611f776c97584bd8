"""FHIR R4 views of requests, validated with the maintained ``fhir.resources`` models (R4B package: the R4
resources used here are unchanged in 4.3)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from expertise import STATES, TASK_STATUS
from tests.server.expertise.test_requests_http import API, _create, _login, _people

TASK_CODES = {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress",
              "on-hold", "failed", "completed", "entered-in-error"}


def test_every_state_has_a_valid_task_status() -> None:
    assert set(TASK_STATUS) == STATES and set(TASK_STATUS.values()) <= TASK_CODES


async def test_service_request_task_and_communication_validate_and_follow_access(live_server: Any) -> None:
    await _people(live_server)
    gp, near, far = [await _login(live_server, n) for n in ("gpone", "near", "far")]
    try:
        rid = (await _create(gp, urgency="urgent"))["id"]
        response = await gp.api("GET", f"/fhir/ServiceRequest/{rid}")
        assert response.headers["Content-Type"].startswith("application/fhir+json")
        sr = ServiceRequest.model_validate(await response.json())
        assert (sr.status, sr.intent, sr.priority) == ("active", "order", "urgent")
        assert sr.performer[0].identifier.value == "20000000001"
        assert sr.contained[0].identifier[0].value == "171037512345678"  # qualified identity: INS shared
        task = Task.model_validate(await (await near.api("GET", f"/fhir/Task/{rid}")).json())
        assert (task.status, task.businessStatus.text, task.owner.identifier.value) == (
            "received", "offered", "20000000001")
        assert task.focus.reference == f"ServiceRequest/{rid}" and task.restriction.period.end is not None
        await near.api("POST", f"{API}/{rid}/accept")
        await near.api("POST", f"{API}/{rid}/info-request", json={"text": "Photo plus nette ?"})
        task = Task.model_validate(await (await gp.api("GET", f"/fhir/Task/{rid}")).json())
        assert (task.status, task.businessStatus.text) == ("on-hold", "info_requested")
        found = Bundle.model_validate(await (await gp.api("GET", "/fhir/Task?status=on-hold")).json())
        assert [e.resource.id for e in found.entry] == [rid]
        assert (await (await gp.api("GET", "/fhir/Task?status=completed")).json())["total"] == 0
        chat = Bundle.model_validate(await (await gp.api(
            "GET", f"/fhir/Communication?based-on=ServiceRequest/{rid}")).json())
        message = Communication.model_validate(chat.entry[0].resource.model_dump())
        assert message.payload[0].contentString == "Photo plus nette ?"
        searched = Bundle.model_validate(await (await gp.api("GET", "/fhir/ServiceRequest?status=active")).json())
        assert searched.total == 1 and searched.entry[0].resource.id == rid
        # Someone who holds nothing finds nothing and reads nothing.
        assert (await (await far.api("GET", "/fhir/ServiceRequest")).json())["total"] == 0
        denied = await far.api("GET", f"/fhir/Task/{rid}")
        assert denied.status == 404
        OperationOutcome.model_validate(await denied.json())
        assert (await far.api("GET", f"/fhir/Communication?based-on=ServiceRequest/{rid}")).status == 404
    finally:
        for browser in (gp, near, far):
            await browser.session.close()
