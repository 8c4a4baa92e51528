"""Long work off the web request: tasks queued in the database and run by `fundapp worker`.

A web request validates what it can, enqueues a task (`operations.enqueue`) and answers at once:
a page redirects to /tasks/<id>, the API answers 202 with the task's address. The worker claims
the oldest queued task (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, a conditional UPDATE on
SQLite), runs the registered function of its kind with a progress callback, and records the
result or the error. Domains register their kinds with `operations.register_task`.
"""
