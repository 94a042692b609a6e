"""Pulumi entry point: `pulumi up -s <stack>` runs this. The program lives in infra/program.py."""

from infra.program import run

run()
