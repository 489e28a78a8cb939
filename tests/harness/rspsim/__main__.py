"""python -m harness.rspsim --layout runbook|rsp_code --auth-port N --policy-port N (--policies-dir D | --policy-file F)"""

import argparse
import os

from .app import serve


def main():
    parser = argparse.ArgumentParser(prog="python -m harness.rspsim")
    parser.add_argument("--layout", required=True, choices=["runbook", "rsp_code"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--auth-port", type=int, required=True)
    parser.add_argument("--policy-port", type=int, required=True)
    parser.add_argument("--policy-file", help="rsp_code: the one Cedar file policy-service reads at start-up")
    parser.add_argument("--policies-dir", help="runbook: the directory of *.cedar files (ConfigMap policy-service-policies)")
    args = parser.parse_args()
    if args.layout == "rsp_code" and not args.policy_file:
        parser.error("--policy-file is required in the rsp_code layout")
    if args.layout == "runbook" and not args.policies_dir:
        parser.error("--policies-dir is required in the runbook layout")
    # as the code reads it: METRICS_PUBLIC=true opens /metrics
    public = os.environ.get("METRICS_PUBLIC", "").lower() == "true"
    serve(args.layout, args.host, args.auth_port, args.policy_port, args.policy_file, args.policies_dir, public)


if __name__ == "__main__":
    main()
