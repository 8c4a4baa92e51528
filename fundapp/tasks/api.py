"""API routes of tasks: GET /api/v1/tasks/<id> (status, progress, result and links)."""

from __future__ import annotations

from typing import Any

from flask import g, url_for
from marshmallow import Schema, fields

from fundapp.api import bp
from fundapp.api.core import api_route
from fundapp.extensions import db
from fundapp.tasks.models import Task
from fundapp.tasks.operations import result_of, task_for
from fundapp.tasks.views import result_link


class TaskSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String(metadata={"enum": ["queued", "running", "done", "failed"]})
    done = fields.Integer()
    total = fields.Integer()
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    requested_by = fields.String()
    requested_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    error = fields.String()
    result = fields.Dict()
    links = fields.Dict()


def task_body(task: Task) -> dict[str, Any]:
    links = {"self": url_for("api.get_task", task_id=task.id),
             "page": url_for("tasks.task_page", task_id=task.id)}
    if link := result_link(task):
        links["result"] = link
    result = result_of(task).get("data", {}) if task.status == "done" else {}
    return TaskSchema().dump({
        "id": task.id, "kind": task.kind, "status": task.status, "done": task.done,
        "total": task.total, "attempts": task.attempts, "max_attempts": task.max_attempts,
        "requested_by": task.requested_by, "requested_at": task.requested_at,
        "finished_at": task.finished_at, "error": task.error if task.status == "failed" else "",
        "result": result, "links": links})


def accepted(task: Task):
    """What an API POST that enqueued long work answers: 202, the task, and where to poll it."""
    return task_body(task), 202, {"Location": url_for("api.get_task", task_id=task.id)}


@api_route(bp, "/v1/tasks/<int:task_id>", "GET", response=TaskSchema,
           summary="A task's status and progress (done / total); when done, its result and a "
                   "link to it")
def get_task(task_id: int):
    return task_body(task_for(db.session, task_id, g.user))
