"""The child's file system: a fresh scratch directory, the Python library read-only, nothing else.

Built inside the child's own mount namespace, while it is still root there (issue 9):

- ``/`` is an empty, read-only tmpfs, so a path names nothing of the host;
- ``SCRATCH`` (``/tmp``, so that ``tempfile`` finds it unaided) is a tmpfs of the run's
  ``disk_mb``, owned by the run's uid, ``nosuid,nodev,noexec``, and the working directory.
  Its pages are memory, charged to the run's memory cgroup; the mount namespace dies with
  the child, and the scratch directory with it: nothing survives the run;
- each library directory (the standard library and site-packages, never the project
  directory beside ``var/``) is bind-mounted read-only at its own path, so lazy imports and
  package data (matplotlib's fonts, tzdata, faker's locales) work. Public code only.

Landlock (landlock.py) then allows reading the library directories and reading and writing
under ``SCRATCH``, and nothing else, even should a mount be missing.
"""

from __future__ import annotations

import os

from sandbox.isolation._libc import check, libc

SCRATCH = "/tmp"
SCRATCH_INODES = 16384  # files and directories a run may make: kernel memory, bounded
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
_ROOT_CANDIDATES = ("/proc", "/mnt", "/tmp")  # any existing directory will do: it is covered
_ROOT_OPTIONS = b"size=64k,nr_inodes=512,mode=755"


def library_dirs(path: list[str], project: str) -> tuple[str, ...]:
    """The directories of ``path`` (``sys.path``) a child may read: existing absolute
    directories that neither are nor hold ``project`` (the checkout, with ``var/``)."""
    project = os.path.realpath(project)
    dirs: list[str] = []
    for entry in path:
        if not entry or not os.path.isabs(entry) or not os.path.isdir(entry):
            continue
        real = os.path.realpath(entry)
        if real == project or project.startswith(real.rstrip("/") + "/") or real == "/":
            continue
        if real not in dirs:
            dirs.append(real)
    return tuple(dirs)


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    check(
        libc.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            flags,
            data.encode() if data is not None else None,
        ),
        f"mount {target}",
    )


def build_root(*, disk_mb: int, uid: int, gid: int, libraries: tuple[str, ...]) -> None:
    """Make the new root described above, chroot into it and enter ``SCRATCH``."""
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount private")
    target = next(
        path
        for path in _ROOT_CANDIDATES
        if os.path.isdir(path) and not any(lib.startswith(path + "/") for lib in libraries)
    )
    _mount("sandbox", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, _ROOT_OPTIONS.decode())
    # The scratch directory first: a library that lives under SCRATCH's path (a checkout in
    # /tmp) is then mounted on top of it, not hidden by it.
    scratch = target + SCRATCH
    os.makedirs(scratch, mode=0o755, exist_ok=True)
    owner = f",uid={uid},gid={gid}" if uid >= 0 else ""
    options = f"size={disk_mb}m,nr_inodes={SCRATCH_INODES},mode=700{owner}"
    _mount("scratch", scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)
    for library in libraries:
        inside = target + library
        os.makedirs(inside, mode=0o755, exist_ok=True)
        _mount(library, inside, None, MS_BIND | MS_REC, None)
        _mount(None, inside, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    _mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    os.chroot(target)
    os.chdir(SCRATCH)
