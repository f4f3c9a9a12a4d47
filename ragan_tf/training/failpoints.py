"""Fault injection for the crash tests: kill this process at a named point of training.

`RAGAN_TF_KILL_AT=NAME:KEY` makes `reach("NAME:KEY")` send SIGKILL to the
current process (no cleanup, no flush: what a power cut or the OOM killer
does). Points: `train_step:N` (after training step N), `backup_weights:E`
and `backup_metadata:E` (the epoch-E backup's file written and flushed but
not yet renamed into place), `final_weights:0` and `inference_model:0` (the
same for the final files). Without the variable, `reach` does nothing.
`tests/test_crash_resume.py` uses it; see docs/RELIABILITY.md.
"""

import os
import signal

ENVIRONMENT_VARIABLE = "RAGAN_TF_KILL_AT"


def reach(point):
    """SIGKILLs this process if `RAGAN_TF_KILL_AT` names `point`."""
    if os.environ.get(ENVIRONMENT_VARIABLE) == point:
        os.kill(os.getpid(), signal.SIGKILL)
