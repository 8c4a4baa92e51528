"""A task's page (/tasks/<id>): what it is, its progress, and what it produced."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from fundapp.errors import NotFound
from fundapp.extensions import db
from fundapp.tasks.models import Task
from fundapp.tasks.operations import result_of, task_for, title_of

bp = Blueprint("tasks", __name__)

STATUS_LABELS = {"queued": _l("Waiting for a worker"), "running": _l("Running"),
                 "done": _l("Done"), "failed": _l("Failed to finish")}
REFRESH_SECONDS = 2


def result_link(task: Task) -> str:
    """The address of what the task produced ('' while it is not done)."""
    if task.status != "done":
        return ""
    if task.file_name:
        return url_for("tasks.download", task_id=task.id)
    result = result_of(task)
    if not result.get("endpoint"):
        return ""
    try:
        return url_for(result["endpoint"], **result.get("values", {}))
    except BuildError:
        return ""


def redirect_to(task: Task):
    """What a page answers after enqueueing: the task's page."""
    return redirect(url_for("tasks.task_page", task_id=task.id))


@bp.get("/tasks/<int:task_id>")
def task_page(task_id: int):
    task = task_for(db.session, task_id, g.user)
    result = result_of(task)
    return render_template("tasks/task.html", task=task, title=title_of(task),
                           status_label=STATUS_LABELS.get(task.status, task.status),
                           link=result_link(task), label=result.get("label", ""),
                           refresh=REFRESH_SECONDS if task.status in ("queued", "running")
                           else None)


@bp.get("/tasks/<int:task_id>/file")
def download(task_id: int):
    task = task_for(db.session, task_id, g.user)
    if task.status != "done" or not task.file_name or task.file_bytes is None:
        raise NotFound(_l("This task has produced no file."))
    disposition = "inline" if task.file_type == "application/pdf" else "attachment"
    response = Response(task.file_bytes, mimetype=task.file_type or "application/octet-stream",
                        headers={"Content-Disposition":
                                 f'{disposition}; filename="{task.file_name}"'})
    return response
