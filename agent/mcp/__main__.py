"""``python -m agent.mcp``: the same server as ``ae mcp``, for MCP client configs and tests."""

from __future__ import annotations

import argparse
import sys

from agent.exit_codes import for_error
from agent.mcp.cli import configure_mcp_parser
from tools.errors import AeError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.mcp")
    configure_mcp_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mcp", *(sys.argv[1:] if argv is None else argv)])
    try:
        code: int = args.handler(args)
    except AeError as exc:
        print(f"ae mcp: error: {exc}", file=sys.stderr)
        return int(for_error(exc))
    return code


if __name__ == "__main__":
    sys.exit(main())
