"""Container runtimes as the tracker meets them: which program is a runtime's
(its plumbing, not a container's workload), which container it acts for, and
which container a cgroup path names.

The shapes are data, measured on containerd 1.6 / runc 1.1 / podman 4.3 / conmon
2.1 and read from the runtimes' sources for the rest (the process trees they make:
README.md, `godo tree --runtime`; tests/support/runtimes.py runs them for real):

    containerd-shim-runc-v2 -namespace NS -id ID -address SOCK [start|delete]
    runc|crun [global opts] create|run|start|delete|kill|... [opts] ID
    conmon ... -c|--cid ID ... -n|--name NAME ... [--exit-command /usr/bin/podman]

The id is any `^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$` (a name such as `webapp` under
ctr, 64 hex under Docker, Kubernetes and podman).
"""

from __future__ import annotations

import re
from collections import namedtuple

# Program names (the exe's, else argv[0]'s base name) and what each is.
SHIMS = ("containerd-shim",)          # containerd-shim, -runc-v1, -runc-v2, docker-containerd-shim
OCI_RUNTIMES = ("runc", "crun", "youki")
MONITORS = ("conmon",)
# Runtime programs that never name one container in their argv, but are plumbing
# when they run under one (podman's `container cleanup`, a shim's containerd).
PLUMBING = ("containerd", "ctr", "podman", "dockerd", "docker-init", "catatonit")

# The engine a containerd namespace belongs to.
NAMESPACE_ENGINES = {"moby": "docker", "k8s.io": "kubernetes"}

CONTAINER_ID = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")

# runc/crun options that take a value (as `--opt VALUE`; `--opt=VALUE` is one word):
# the global ones and those of the subcommands that name a container.
_OCI_VALUE_OPTIONS = frozenset({
    "--root", "--log", "--log-format", "--criu", "--rootless", "--cgroup-manager",
    "--bundle", "-b", "--console-socket", "--pid-file", "--preserve-fds", "--pidfd-socket",
    "--process", "-p", "--cwd", "--env", "-e", "--user", "-u", "--additional-gids", "-g",
    "--cap", "-c", "--apparmor", "--process-label", "--format", "-f", "--signal", "-s",
    "--image-path", "--work-path", "--parent-path", "--page-server", "--manage-cgroups-mode",
    "--empty-ns", "--status-fd", "--lsm-profile", "--lsm-mount-context",
})
_OCI_SUBCOMMANDS_WITH_ID = frozenset({
    "create", "run", "start", "delete", "kill", "state", "exec", "pause", "resume", "ps",
    "events", "update", "checkpoint", "restore",
})


# Named tuples, not frozen dataclasses: `dataclasses` costs every command's start-up.
class RuntimeCall(namedtuple("RuntimeCall", ("runtime", "container", "name", "namespace", "engine"),
                             defaults=(None, None, None, None))):
    """What one exec of a runtime program says: the program (`runtime`), the
    container it acts for (None: it names none, e.g. `runc init`), and what the
    argv tells of it."""

    __slots__ = ()


def _kind(name: str) -> str | None:
    """Which of the tables above a program name is in, if any."""
    if any(shim in name for shim in SHIMS):
        return "shim"
    if name in OCI_RUNTIMES:
        return "oci"
    if name in MONITORS:
        return "monitor"
    if name in PLUMBING:
        return "plumbing"
    return None


def program(exe: str | None, argv: list[str] | None) -> str:
    """The program's name: the exe's base name, else argv[0]'s (the exe of a
    runtime re-executed through /proc/self/exe can be `/` or a memfd)."""
    name = (exe or "").rsplit("/", 1)[-1]
    if argv and _kind(name) is None:
        name = argv[0].rsplit("/", 1)[-1]
    return name


def runtime_call(exe: str | None, argv: list[str] | None) -> RuntimeCall | None:
    """The runtime program this exec runs and the container it names; None when
    it is no runtime's."""
    name = program(exe, argv)
    kind = _kind(name) if argv else None
    if kind == "shim":
        namespace = _option(argv, ("-namespace", "--namespace"))
        cid = _valid(_option(argv, ("-id", "--id")))
        return RuntimeCall(name, cid, None, namespace, _engine(namespace))
    if kind == "oci":
        return RuntimeCall(name, _valid(_oci_container(argv)))
    if kind == "monitor":
        cid = _valid(_option(argv, ("-c", "--cid")))
        cname = _option(argv, ("-n", "--name"))
        exit_command = _option(argv, ("--exit-command",)) or ""
        engine = ("cri-o" if cname and cname.startswith("k8s_") else
                  "podman" if exit_command.endswith("podman") else None)
        return RuntimeCall(name, cid, cname, None, engine)
    if kind == "plumbing":
        return RuntimeCall(name)
    return None


def _option(argv: list[str], flags: tuple[str, ...]) -> str | None:
    """The value of the first of `flags` (`-f V` or `-f=V`)."""
    for i, arg in enumerate(argv[1:], 1):
        if arg in flags:
            return argv[i + 1] if i + 1 < len(argv) else None
        head, eq, value = arg.partition("=")
        if eq and head in flags:
            return value
    return None


def _oci_container(argv: list[str]) -> str | None:
    """runc/crun: the first positional argument after a subcommand that names a
    container (`runc --root R create --bundle B ID`, `runc kill ID 9`)."""
    words = iter(argv[1:])
    subcommand = None
    for word in words:
        if word.startswith("-"):
            if word in _OCI_VALUE_OPTIONS:
                next(words, None)
            continue
        if subcommand is None:
            if word not in _OCI_SUBCOMMANDS_WITH_ID:
                return None        # init, spec, list, features, ...: no container
            subcommand = word
            continue
        return word
    return None


def _valid(cid: str | None) -> str | None:
    return cid if cid and CONTAINER_ID.fullmatch(cid) else None


def _engine(namespace: str | None) -> str | None:
    if namespace is None:
        return None
    return NAMESPACE_ENGINES.get(namespace, "containerd")


# -- cgroup paths ---------------------------------------------------------------------

class CgroupMatch(namedtuple("CgroupMatch", ("id", "engine", "pod_uid", "monitor"),
                             defaults=(None, None, False))):
    """The container a cgroup path names: its id, the engine the shape belongs
    to, the Kubernetes pod uid when there is one, and whether it is the cgroup
    of the container's monitor (conmon), not of the container itself."""

    __slots__ = ()


_HEX = r"([0-9a-f]{64})"
# (pattern on a cgroup path, engine, monitor), most specific first.
CGROUP_SHAPES = [
    (re.compile(rf"cri-containerd-{_HEX}\.scope"), "kubernetes", False),
    (re.compile(rf"crio-conmon-{_HEX}"), "cri-o", True),
    (re.compile(rf"crio-{_HEX}"), "cri-o", False),
    (re.compile(rf"libpod-conmon-{_HEX}"), "podman", True),
    (re.compile(rf"libpod-{_HEX}"), "podman", False),
    (re.compile(rf"docker-{_HEX}\.scope"), "docker", False),
    (re.compile(rf"/kubepods[^/]*(?:/[^/]+)*/pod[0-9a-f_-]+(?:\.slice)?/{_HEX}(?:/|$)"),
     "kubernetes", False),
    (re.compile(rf"/docker/{_HEX}(?:/|$)"), "docker", False),
    (re.compile(rf"(?:^|/){_HEX}(?:\.scope)?(?:/|$)"), None, False),
]
_POD_UID = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")


def cgroup_container(text: str) -> CgroupMatch | None:
    """The container named by /proc/PID/cgroup (every hierarchy's line, v1 and v2:
    `ID:CONTROLLERS:PATH`), by the shapes of Docker, Kubernetes (cgroupfs and
    systemd drivers), CRI-O and podman; None when no line has one (a ctr container's
    `/NS/ID` is told by its shim, not by its cgroup)."""
    paths = [line.split(":", 2)[2] for line in text.splitlines() if line.count(":") >= 2]
    for pattern, engine, monitor in CGROUP_SHAPES:
        for path in paths:
            found = pattern.search(path)
            if found:
                if engine is None and "kubepods" in path:
                    engine = "kubernetes"
                pod = _POD_UID.search(path) if engine == "kubernetes" or "kubepods" in path else None
                return CgroupMatch(found.group(1), engine,
                                   pod.group(1).replace("_", "-") if pod else None, monitor)
    return None


def cgroup_of(pid: int) -> CgroupMatch | None:
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return cgroup_container(f.read())
    except OSError:
        return None
