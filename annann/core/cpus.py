"""How many CPUs this process may run on, for sizing build thread pools.

The affinity mask, not the machine's core count: a process pinned to one core (the benchmark
runner's lanes, ``taskset``, ``docker --cpuset-cpus``) should not start a thread per machine core.
"""

import os


def usable_cpus():
    """CPUs in this process's affinity mask (all CPUs where the OS has no such mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
