#!/usr/bin/env python3
"""Write hostile archives for archive_spec.lua into the folder given.

Made with Python's own zipfile and tarfile, the way an attacker's archive
would be: nothing here goes through relrun.
"""
import io
import sys
import tarfile
import zipfile
from pathlib import Path

out = Path(sys.argv[1])
outside = sys.argv[2]  # an absolute path outside the destination


def tar(name, members):
    with tarfile.open(out / name, "w:gz") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)


def member(name, data=b"x", **kw):
    info = tarfile.TarInfo(name)
    info.size = len(data) if data is not None else 0
    for k, v in kw.items():
        setattr(info, k, v)
    return info, data


with zipfile.ZipFile(out / "traversal.zip", "w") as z:
    z.writestr("ok.txt", "fine")
    z.writestr("../../escaped.txt", "evil")
with zipfile.ZipFile(out / "absolute.zip", "w") as z:
    z.writestr(zipfile.ZipInfo(outside + "/absolute.txt"), "evil")
tar("traversal.tar.gz", [member("pkg/../../escaped.txt", b"evil")])
tar("absolute.tar.gz", [member(outside + "/absolute.txt", b"evil")])
# a symlink to the outside, then a file written through it
tar("symlink.tar.gz", [member("link", None, type=tarfile.SYMTYPE, linkname=outside),
                       member("link/through.txt", b"evil")])
tar("symlink-up.tar.gz", [member("a/link", None, type=tarfile.SYMTYPE, linkname="../../.."),
                          member("a/link/x.txt", b"evil")])
# a symlink that stays inside, then a file written through it: our checks
# let the link pass; libarchive's SECURE_SYMLINKS refuses the write
tar("through-link.tar.gz", [member("sub/", None, type=tarfile.DIRTYPE),
                            member("link", None, type=tarfile.SYMTYPE, linkname="sub"),
                            member("link/x.txt", b"data")])
# "." components do not make a folder deeper
tar("symlink-dot.tar.gz", [member("./x/./link", None, type=tarfile.SYMTYPE, linkname="../../escaped.txt")])
tar("hardlink.tar.gz", [member("hard", None, type=tarfile.LNKTYPE, linkname="../outside.txt")])
tar("device.tar.gz", [member("null", None, type=tarfile.CHRTYPE)])
# symlinks that stay inside are fine
tar("inside-link.tar.gz", [member("d/file.txt", b"data"),
                           member("d/link", None, type=tarfile.SYMTYPE, linkname="file.txt"),
                           member("up", None, type=tarfile.SYMTYPE, linkname="d/../d/file.txt")])
# a zip bomb: 64 MiB of zeros that deflate to about 64 KiB
with zipfile.ZipFile(out / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("zeros.bin", b"\0" * (64 << 20))
with zipfile.ZipFile(out / "many.zip", "w") as z:
    for i in range(50):
        z.writestr(f"f{i:02d}.txt", str(i))
