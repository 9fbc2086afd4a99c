"""What `loanchain deploy` (and `scripts/deploy.py`) deploys, in order, and how it is wired."""

from __future__ import annotations

from backend.chain.deploy import ContractSpec, DeployContext, WiringStep


def _role(ctx: DeployContext, contract: str, role: str) -> bytes:
    return ctx.contract(contract).functions[role]().call()


CONTRACTS: list[ContractSpec] = [
    ContractSpec("MockStablecoin", local_only=True),
    ContractSpec("DocumentAnchor", args=lambda ctx: [ctx.deployer.address]),
]

WIRING: list[WiringStep] = []
