"""Time bounds of the Celery tasks, shared by the tasks and the settings that must outlast them.

With Redis as the broker a message that a worker has taken but not acknowledged comes
back to the queue after the visibility timeout (CELERY_VISIBILITY_TIMEOUT). Tasks are
acknowledged late, so a task still running — or a retry still waiting for its
countdown — must never be older than that timeout, or a second worker runs it too.
Pure constants: the settings module imports them before Django is set up.
"""

# Rebuilding every rollup, activating a weight set: the longest tasks.
LONG_TASK_SOFT_TIME_LIMIT = 50 * 60
LONG_TASK_TIME_LIMIT = 55 * 60
# The longest countdown a retry waits (exponential backoff, capped).
RETRY_BACKOFF_MAX = 600
