#!/usr/bin/env python3
"""Write a tiny pure-Python wheel: aws_mkwheel.py NAME VERSION OUTDIR [EXTRA]; prints its path.
EXTRA goes into the module, so two wheels with equal names can differ in content."""
import sys, zipfile, hashlib, base64, os
name, version, out = sys.argv[1], sys.argv[2], sys.argv[3]
extra = sys.argv[4] if len(sys.argv) > 4 else ""
mod = name.replace("-", "_")
dist = f"{mod}-{version}.dist-info"
files = {
  f"{mod}/__init__.py": f"VERSION = {version!r}\nEXTRA = {extra!r}\n",
  f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: relrun test package\n",
  f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: relrun-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def rec(data):
    d = base64.urlsafe_b64encode(hashlib.sha256(data.encode()).digest()).rstrip(b"=").decode()
    return f"sha256={d},{len(data.encode())}"
record = "".join(f"{p},{rec(c)}\n" for p, c in files.items()) + f"{dist}/RECORD,,\n"
files[f"{dist}/RECORD"] = record
path = os.path.join(out, f"{mod}-{version}-py3-none-any.whl")
with zipfile.ZipFile(path, "w") as z:
    for p, c in files.items():
        zi = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
        z.writestr(zi, c)
print(path)
