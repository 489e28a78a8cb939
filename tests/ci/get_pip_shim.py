"""Stand-in for the pip bootstrap script ansible-test downloads (that host is not reachable here).

ansible-test runs ``python get_pip.py <pip args>`` inside each fresh sanity venv; we bootstrap pip from
the interpreter's own ensurepip and then install the pip version ansible-test asked for from PyPI.
"""
import subprocess
import sys

ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
if ARGS:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall"] + ARGS)
