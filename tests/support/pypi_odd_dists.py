#!/usr/bin/env python3
"""Write distributions with unusual core metadata into the folder given,
for the twine parity test: each METADATA text goes into a wheel
(*.dist-info/METADATA) and an sdist (<name>-<version>/PKG-INFO). twine only
reads the metadata, so the rest of each file is minimal.
"""
import io
import sys
import tarfile
import zipfile
from pathlib import Path

out = Path(sys.argv[1])

CASES = {
    # Metadata 1.2: UNKNOWN values, several platforms, old-style Description
    # header with 8-space continuations, project URLs, no body
    ("odd.pkg_Name", "1.0"): (
        "Metadata-Version: 1.2\n"
        "Name: odd.pkg_Name\n"
        "Version: 1.0\n"
        "Summary: A summary that\n"
        "    continues here\n"
        "Home-page: UNKNOWN\n"
        "Author: Zoë Ünïcode\n"
        "Author-email: zoe@example.invalid\n"
        "Maintainer: M\n"
        "License: UNKNOWN\n"
        "Description: First line\n"
        "        second line\n"
        "        \n"
        "        after a blank\n"
        "Keywords: a b c\n"
        "Platform: UNKNOWN\n"
        "Platform: linux\n"
        "Classifier: Topic :: Utilities\n"
        "Requires-Python: >=3.8\n"
        "Requires-External: libfoo (>=1)\n"
        "Obsoletes-Dist: old-pkg\n"
        "Project-URL: Home, https://example.invalid\n"
        "Project-URL: Docs, https://example.invalid/docs\n"
    ),
    # Metadata 2.2: Dynamic, extras, CRLF line ends, a body
    ("crlf_pkg", "2.0.post1"): (
        "Metadata-Version: 2.2\r\n"
        "Name: crlf_pkg\r\n"
        "Version: 2.0.post1\r\n"
        "Summary: crlf\r\n"
        "Dynamic: Version\r\n"
        "Dynamic: Summary\r\n"
        "Provides-Extra: fast\r\n"
        "Requires-Dist: numpy ; extra == 'fast'\r\n"
        "Description-Content-Type: text/x-rst\r\n"
        "\r\n"
        "Body line one\r\n"
        "\r\n"
        "Body: not a header\r\n"
    ),
}

for (name, version), text in CASES.items():
    norm = name.replace(".", "_").replace("-", "_")
    data = text.encode("utf-8")
    with zipfile.ZipFile(out / f"{norm}-{version}-py2.py3-none-any.whl", "w") as z:
        z.writestr(f"{norm}/__init__.py", "")
        z.writestr(f"{norm}-{version}.dist-info/METADATA", data)
        z.writestr(f"{norm}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
    with tarfile.open(out / f"{name}-{version}.tar.gz", "w:gz") as t:
        info = tarfile.TarInfo(f"{name}-{version}/PKG-INFO")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    print(name)
