"""Rebuild spikekit._C in place, swapping the new .so in atomically.

Used by `make build`: ninja recompiles only what changed; the finished library is renamed
over the old one, so processes that have the old one loaded keep working.
"""
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    build_lib = os.path.join(ROOT, "build", "lib")
    subprocess.check_call([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", build_lib], cwd=ROOT)
    for built in glob.glob(os.path.join(build_lib, "spikekit", "_C*.so")):
        dest = os.path.join(ROOT, "src", "spikekit", os.path.basename(built))
        tmp = dest + ".tmp"
        with open(built, "rb") as src, open(tmp, "wb") as dst:
            dst.write(src.read())
        os.replace(tmp, dest)


if __name__ == "__main__":
    main()
