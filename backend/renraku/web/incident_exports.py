"""`GET /incidents/{id}/priority.csv` and `.geojson`: the priority list as a file, for the planner
who may see it (the same decision as `priorityList`), each download audited as one read of the
people it lists."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renraku.access.gate import Gate
from renraku.access.vocabulary import Act, Obj
from renraku.accounts.http import error_response, resolve_actor, runtime_of
from renraku.errors import BadInput, Forbidden, NotFound, RenrakuError, Unauthenticated
from renraku.ids import decode_id
from renraku.overlay import exports
from renraku.overlay.priority import access_priority_list
from renraku.overlay.safety import checks_of

_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "BAD_USER_INPUT": 413}
# A file for a call sheet or a GIS; a list longer than this is read in pages.
MAX_ROWS = 20_000


class TooMany(BadInput):
    pass


_TYPES = {
    "csv": ("text/csv; charset=utf-8", exports.to_csv),
    "geojson": ("application/geo+json", exports.to_geojson),
}


def _failure(error: RenrakuError) -> Response:
    return error_response(error, _STATUS.get(error.code, 400))


async def priority_file(request: Request) -> Response:
    runtime = runtime_of(request)
    kind = request.path_params["kind"]
    if kind not in _TYPES:
        return _failure(NotFound())
    actor = await resolve_actor(request)
    if actor is None:
        return _failure(Unauthenticated())
    gate = Gate(actor, runtime.db)
    try:
        incident_id = decode_id("Incident", request.path_params["id"])
        async with runtime.db.session() as session:
            incident, ranking = await access_priority_list(
                session, actor=actor, incident_id=incident_id
            )
            assert incident.id is not None
            if ranking.total > MAX_ROWS:
                raise TooMany(
                    f"The list holds {ranking.total} people, over the {MAX_ROWS} a file may; "
                    "use priorityList's pages."
                )
            entries, _more = await ranking.page(session, after=None, size=ranking.total)
            ids = [e.patient.id for e in entries if e.patient.id is not None]
            checks = await checks_of(session, incident.id, ids)
        await gate.touched(ids, action=f"incident.priority.{kind}")
        contacts = {pid for pid in ids if await gate.may(pid, Obj.PATIENT_CONTACTS, Act.READ)}
    except (NotFound, Forbidden, TooMany) as error:
        return _failure(error)
    finally:
        if gate.has_touched:
            await gate.flush(runtime.read_auditor, operation=f"incident.priority.{kind}")
    media_type, write = _TYPES[kind]
    body = write(
        entries,
        phone=contacts.__contains__,
        safety={pid: c.status for pid, c in checks.items()},
    )
    name = f"priority-{request.path_params['id'][:40]}.{kind}"
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


routes = [Route("/incidents/{id}/priority.{kind}", priority_file, methods=["GET"])]
