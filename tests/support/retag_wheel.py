#!/usr/bin/env python3
"""Copy a real wheel under other tags, as a build matrix would have made it
on other machines: retag_wheel.py WHEEL OUTDIR PY-ABI-PLATFORM [NAME VERSION]

The members are the wheel's own; WHEEL's Tag lines become the expanded tag
set (a compressed set such as cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64
gives two), Root-Is-Purelib false, and RECORD is written again. With NAME
and VERSION the .dist-info folder and the METADATA's Name / Version change
too (a wheel of another project or version). Prints the new wheel's path.
"""
import base64
import hashlib
import os
import re
import sys
import zipfile

src, out, tag = sys.argv[1], sys.argv[2], sys.argv[3]
python, abi, platform = tag.split("-")
old_name, old_version = os.path.basename(src).split("-")[:2]
name = sys.argv[4].replace("-", "_") if len(sys.argv) > 4 else old_name
version = sys.argv[5] if len(sys.argv) > 5 else old_version
old_info, info = f"{old_name}-{old_version}.dist-info", f"{name}-{version}.dist-info"


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


members = {}
with zipfile.ZipFile(src) as z:
    for item in z.infolist():
        if item.filename.endswith("/RECORD"):
            continue
        data = z.read(item)
        path = item.filename.replace(old_info + "/", info + "/", 1)
        if path == f"{info}/WHEEL":
            text = re.sub(r"(?m)^(Tag|Root-Is-Purelib):.*\n", "", data.decode())
            tags = [f"{p}-{a}-{pl}" for p in python.split(".") for a in abi.split(".") for pl in platform.split(".")]
            text += "Root-Is-Purelib: false\n" + "".join(f"Tag: {t}\n" for t in tags)
            data = text.encode()
        if path == f"{info}/METADATA":
            text = re.sub(r"(?m)^Version: .*$", f"Version: {version}", data.decode(), count=1)
            if len(sys.argv) > 4:
                text = re.sub(r"(?m)^Name: .*$", f"Name: {sys.argv[4]}", text, count=1)
            data = text.encode()
        members[path] = (item.date_time, data)

target = os.path.join(out, f"{name}-{version}-{tag}.whl")
record = "".join(record_line(p, d) for p, (_, d) in members.items()) + f"{info}/RECORD,,\n"
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
    for path, (date_time, data) in members.items():
        z.writestr(zipfile.ZipInfo(path, date_time=date_time), data)
    z.writestr(zipfile.ZipInfo(f"{info}/RECORD", date_time=(2026, 1, 2, 3, 4, 5)), record)
print(target)
