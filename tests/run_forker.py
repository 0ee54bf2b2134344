"""Starts `watchkeeper run` processes on request, forked from one interpreter that imported watchkeeper
once: the kill tests' source of victims, each a whole `run` (the CLI's own `main`) in a process of its
own, started in a fraction of the seconds a fresh interpreter spends importing on a loaded machine.

Reads lines on stdin: `run` forks one and prints its pid; `wait PID` reaps it and prints its exit status.
"""

import os
import sys

from watchkeeper.faces.cli import main, make_cli

config = sys.argv[1]
make_cli(config=config)  # imports every command's and plugin's modules here, before any fork
print("ready", flush=True)
for line in sys.stdin:
    command, *args = line.split()
    if command == "run":
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)  # this process's stdout is the forker's answer pipe
                sys.argv = ["watchkeeper", "--config", config, "run", "--no-web", "--log-level", "WARNING"]
                main()
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
            finally:
                os._exit(code)
        print(pid, flush=True)
    elif command == "wait":
        _pid, status = os.waitpid(int(args[0]), 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
