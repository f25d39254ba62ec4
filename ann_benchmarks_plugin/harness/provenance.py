"""Where a benchmark number came from: machine, date, load, package versions, git revision and
command, for the header of every results file (the benchmark scripts and the reproduce command).
"""

import os
import platform
import subprocess
import time
from importlib import metadata


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions(names):
    """{distribution name: version} of the installed ones among names."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_state(root):
    """Commit of the checkout at root, "-dirty" only for uncommitted changes outside results/ (a
    benchmark run rewrites the committed results files itself); "-" outside a git checkout."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=root).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:
        return "-"
    dirty = git("status", "--porcelain", "--", ".", ":(exclude)results").strip()
    return commit + ("-dirty" if dirty else "")


def machine_info(command, packages=(), root=None):
    """Machine, date (UTC), 1-min load, versions of ``packages`` and git state of ``root``."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {"cpu": cpu_model(), "nproc": os.cpu_count(), "mem_gib": round(mem / 2 ** 30),
            "python": platform.python_version(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_avg": round(os.getloadavg()[0], 2),
            "git": git_state(root) if root is not None else "-",
            "versions": package_versions(packages), "command": command}


def versions_text(info):
    """"python X, numpy Y, ..." from a machine_info dict."""
    return ", ".join([f"python {info['python']}"] +
                     [f"{name} {version}" for name, version in info["versions"].items()])
