"""How godo tells a container runtime's processes from a container's workload,
and which container they act for: the argv shapes of shims, OCI runtimes and
monitors, and the cgroup path shapes of each engine (as measured here and read
from the runtimes' sources; see godo/tracker/runtimes.py)."""

import pytest

from godo.tracker.runtimes import (CgroupMatch, RuntimeCall, cgroup_container, program,
                                   runtime_call)
from godo.tracker.paths import real_exe

HEX = "4e2d7f0c9b1a" + "0" * 52
UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

SHIM = "/usr/bin/containerd-shim-runc-v2"


@pytest.mark.parametrize("exe, argv, call", [
    # ctr: the id is the name the user gave; the namespace `default`.
    (SHIM, [SHIM, "-namespace", "default", "-id", "webapp", "-address", "/run/c.sock"],
     RuntimeCall("containerd-shim-runc-v2", "webapp", None, "default", "containerd")),
    # Docker runs containerd's shim in the moby namespace, Kubernetes in k8s.io.
    (SHIM, [SHIM, "-namespace", "moby", "-id", HEX, "-address", "/run/c.sock"],
     RuntimeCall("containerd-shim-runc-v2", HEX, None, "moby", "docker")),
    (SHIM, [SHIM, "-namespace=k8s.io", "-id=" + HEX, "start"],
     RuntimeCall("containerd-shim-runc-v2", HEX, None, "k8s.io", "kubernetes")),
    # A shim with no id (or one no runtime would accept) names no container.
    (SHIM, [SHIM, "-namespace", "default", "-address", "/run/c.sock"],
     RuntimeCall("containerd-shim-runc-v2", None, None, "default", "containerd")),
    (SHIM, [SHIM, "-id", "../etc"], RuntimeCall("containerd-shim-runc-v2", None)),
    ("/usr/bin/docker-containerd-shim", ["docker-containerd-shim", "-namespace", "moby",
                                        "-id", HEX], RuntimeCall("docker-containerd-shim", HEX,
                                                                 None, "moby", "docker")),
])
def test_shim_argv(exe, argv, call):
    assert runtime_call(exe, argv) == call


RUNC = "/usr/sbin/runc"
ROOT = ["--root", "/run/containerd/runc/default", "--log", "/run/x/log.json",
        "--log-format", "json"]


@pytest.mark.parametrize("argv, cid", [
    ([RUNC] + ROOT + ["create", "--bundle", "/run/b", "--pid-file", "/run/b/init.pid",
                      "webapp"], "webapp"),
    ([RUNC] + ROOT + ["start", "webapp"], "webapp"),
    ([RUNC] + ROOT + ["delete", "--force", "webapp"], "webapp"),
    ([RUNC] + ROOT + ["kill", "webapp", "9"], "webapp"),
    ([RUNC, "--root=/run/r", "exec", "--process", "/tmp/p.json", "-d", HEX], HEX),
    ([RUNC, "--systemd-cgroup", "run", "-b", "/b", "web.app-1"], "web.app-1"),
    # runc init (the re-executed child that enters the container) names none.
    (["runc", "init"], None),
    ([RUNC, "--version"], None),
    ([RUNC] + ROOT + ["list"], None),
])
def test_runc_argv(argv, cid):
    call = runtime_call(RUNC, argv)
    assert call is not None and call.runtime == "runc" and call.container == cid


def test_crun_names_its_container_the_same_way():
    call = runtime_call("/usr/bin/crun", ["crun", "--cgroup-manager", "systemd", "create",
                                          "--bundle", "/b", HEX])
    assert (call.runtime, call.container) == ("crun", HEX)


def test_runc_reexecuted_through_its_own_copy_is_still_runc():
    # runc's exe in its own memfd or detached mount reads `/` or `/memfd:...`.
    assert program("/", ["runc", "init"]) == "runc"
    assert runtime_call("/memfd:runc_cloned:/proc/self/exe (deleted)",
                        ["runc", "init"]) == RuntimeCall("runc")
    assert real_exe("/", "/usr/sbin/runc") == "/usr/sbin/runc"
    assert real_exe("/memfd:runc_cloned:/proc/self/exe (deleted)", RUNC) == RUNC
    assert real_exe("/bin/busybox", RUNC) == "/bin/busybox"


CONMON = "/usr/bin/conmon"


def test_conmon_under_podman_names_id_name_and_engine():
    argv = [CONMON, "--api-version", "1", "-c", HEX, "-u", HEX, "-r", "/usr/bin/crun",
            "-b", "/var/lib/containers/x/userdata", "-p", "/run/x/pidfile", "-n", "webapp",
            "--exit-dir", "/run/libpod/exits", "--exit-command", "/usr/bin/podman",
            "--exit-command-arg", "container", "--exit-command-arg", "cleanup"]
    assert runtime_call(CONMON, argv) == RuntimeCall("conmon", HEX, "webapp", None, "podman")


def test_conmon_under_crio_names_the_kubernetes_container():
    argv = [CONMON, "-b", "/run/b", "-c", HEX, "--cid=" + HEX, "-n",
            "k8s_web_web-7d4_default_" + UID + "_0", "-r", "/usr/bin/runc"]
    call = runtime_call(CONMON, argv)
    assert (call.container, call.engine) == (HEX, "cri-o")


@pytest.mark.parametrize("exe, argv", [
    ("/usr/bin/containerd", ["containerd", "--root", "/r"]),
    ("/usr/bin/podman", ["podman", "container", "cleanup", HEX]),
    ("/usr/bin/ctr", ["ctr", "run", "--rm", "--rootfs", "/r", "webapp", "/bin/sh"]),
])
def test_plumbing_names_no_container(exe, argv):
    call = runtime_call(exe, argv)
    assert call is not None and call.container is None


@pytest.mark.parametrize("exe, argv", [
    ("/bin/busybox", ["sh", "-c", "runc start webapp"]),
    ("/usr/bin/python3", ["python3", "/srv/containerd-shim-runc-v2.py"]),
    ("/usr/local/bin/runcible", ["runcible", "start", "x"]),
    ("/bin/true", None),
])
def test_workload_programs_are_no_runtime(exe, argv):
    assert runtime_call(exe, argv) is None


# -- cgroup paths -----------------------------------------------------------------------

def _v2(path: str) -> str:
    return f"0::{path}\n"


@pytest.mark.parametrize("text, match", [
    # Docker, cgroupfs and systemd drivers.
    (_v2(f"/docker/{HEX}"), CgroupMatch(HEX, "docker")),
    (_v2(f"/system.slice/docker-{HEX}.scope"), CgroupMatch(HEX, "docker")),
    # Kubernetes with the cgroupfs driver, burstable and guaranteed.
    (_v2(f"/kubepods/burstable/pod{UID}/{HEX}"), CgroupMatch(HEX, "kubernetes", UID)),
    (_v2(f"/kubepods/pod{UID}/{HEX}"), CgroupMatch(HEX, "kubernetes", UID)),
    # Kubernetes with the systemd driver: the pod uid's dashes written as _.
    (_v2("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
         f"{UID.replace('-', '_')}.slice/cri-containerd-{HEX}.scope"),
     CgroupMatch(HEX, "kubernetes", UID)),
    # CRI-O: the container and its monitor.
    (_v2(f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/crio-{HEX}.scope"),
     CgroupMatch(HEX, "cri-o", UID)),
    (_v2(f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/crio-conmon-{HEX}.scope"),
     CgroupMatch(HEX, "cri-o", UID, monitor=True)),
    # podman: the container and its conmon.
    (_v2(f"/machine.slice/libpod-{HEX}.scope"), CgroupMatch(HEX, "podman")),
    (_v2(f"/machine.slice/libpod-conmon-{HEX}.scope"), CgroupMatch(HEX, "podman", monitor=True)),
    # cgroup v1: one line per hierarchy, any of them may tell.
    (f"12:cpuset:/\n11:memory:/docker/{HEX}\n1:name=systemd:/docker/{HEX}\n",
     CgroupMatch(HEX, "docker")),
    # A bare 64-hex path element: a container of an engine unnamed.
    (_v2(f"/some/agent/{HEX}"), CgroupMatch(HEX)),
])
def test_cgroup_shapes(text, match):
    assert cgroup_container(text) == match


@pytest.mark.parametrize("text", [
    _v2("/default/webapp"),                      # ctr's /NS/ID: the shim tells, not this
    _v2("/user.slice/user-0.slice/session-3.scope"),
    _v2("/system.slice/containerd.service"),
    _v2(f"/docker/{HEX[:63]}"),                 # not a whole id
    "garbage without colons\n",
    "",
])
def test_cgroups_that_name_no_container(text):
    assert cgroup_container(text) is None
