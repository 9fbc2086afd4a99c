"""Idempotent deployment with a manifest per chain id (`deployments/<chainId>.json`).

A contract is reused when the manifest has it, its code is still on chain, and its fingerprint
(creation bytecode + constructor arguments) is unchanged. A changed fingerprint redeploys it and
records the replaced entry in the manifest's history; since a fingerprint includes the addresses
it was constructed with, dependants of a redeployed contract follow automatically. A contract
bound once and for good to one deployed after it (`bound_to`: ReserveFund to its LoanBook) follows
that one the other way: it is redeployed whenever that one would be.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Collection

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from backend.chain.client import contract_at, get_web3
from backend.chain.compiler import load_artifact
from backend.chain.signers import platform_account
from backend.chain.tx import send_and_wait
from backend.config import Settings
from backend.errors import ConfigurationError, DeploymentError


@dataclass
class DeployContext:
    settings: Settings
    w3: Web3
    deployer: LocalAccount
    addresses: dict[str, str] = field(default_factory=dict)

    def contract(self, name: str):
        return self.w3.eth.contract(address=self.addresses[name], abi=load_artifact(self.settings, name)["abi"])


@dataclass(frozen=True)
class ContractSpec:
    name: str
    args: Callable[[DeployContext], list[Any]] = lambda ctx: []
    local_only: bool = False
    external_setting: str | None = None  # off a local chain: the setting naming the contract in its place
    check: Callable[[DeployContext], None] | None = None  # refuses the contract in its place, before any deploy
    bound_to: str | None = None  # a later contract this one is bound to for good (set once, after both deploy)


@dataclass(frozen=True)
class WiringStep:
    """A post-deploy call (role grant, link). `done` makes it idempotent."""

    description: str
    done: Callable[[DeployContext], bool]
    call: Callable[[DeployContext], Any]  # returns a ContractFunction


@dataclass
class DeployReport:
    chain_id: int
    deployed: list[str]
    reused: list[str]
    wired: list[str]
    manifest_path: Path
    manifest: dict


def manifest_path(settings: Settings, chain_id: int) -> Path:
    return settings.deployments_dir / f"{chain_id}.json"


def load_manifest(settings: Settings, chain_id: int) -> dict:
    path = manifest_path(settings, chain_id)
    if path.exists():
        return json.loads(path.read_text())
    return {"chainId": chain_id, "contracts": {}, "history": []}


def _constructor_types(abi: list[dict]) -> list[str]:
    for item in abi:
        if item.get("type") == "constructor":
            return [inp["type"] for inp in item["inputs"]]
    return []


def fingerprint(artifact: dict, args: list[Any]) -> str:
    encoded = encode(_constructor_types(artifact["abi"]), args) if args else b""
    return hashlib.sha256(bytes.fromhex(artifact["bytecode"][2:]) + encoded).hexdigest()


def code_hash(w3: Web3, address: str) -> str:
    return Web3.keccak(w3.eth.get_code(Web3.to_checksum_address(address))).hex()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _reusable(w3: Web3, entry: dict | None, fp: str) -> bool:
    return bool(entry) and entry["fingerprint"] == fp and code_hash(w3, entry["address"]) == entry["codeHash"]


def _bound_one_redeploys(ctx: DeployContext, manifest: dict, plan: list[ContractSpec], spec: ContractSpec,
                         address: str) -> bool:  # fmt: skip
    """Whether the contract `spec` is bound to would be redeployed, were `spec` reused at `address`."""
    bound = next(s for s in plan if s.name == spec.bound_to)
    ctx.addresses[spec.name] = address  # the bound contract's arguments name this one
    try:
        fp = fingerprint(load_artifact(ctx.settings, bound.name), bound.args(ctx))
    except KeyError:  # it needs a contract not deployed yet: it is new too
        return True
    return not _reusable(ctx.w3, manifest["contracts"].get(bound.name), fp)


def _external_address(w3: Web3, settings: Settings, spec: ContractSpec, chain_id: int) -> str:
    """The contract standing in for a local-only one (the real loan token for MockStablecoin)."""
    setting = spec.external_setting
    value = getattr(settings, setting, None) if setting else None
    env = f"LOANCHAIN_{setting.upper()}" if setting else None
    if not value:
        raise DeploymentError(f"{spec.name} is local-only: on chain {chain_id} set {env} to the contract in its place")
    if not Web3.is_address(value):
        raise DeploymentError(f"{env} is not an address: {value!r}")
    address = Web3.to_checksum_address(value)
    if not w3.eth.get_code(address):
        raise DeploymentError(f"{env}: no contract at {address} on chain {chain_id}")
    return address


def replacements(ctx: DeployContext, plan: list[ContractSpec], manifest: dict) -> dict[str, str]:
    """The contracts of the manifest a deploy would replace though their code is on chain, with why,
    read without sending anything: those replaced only because a contract they name (or are bound to)
    is replaced too say so ("follows X")."""
    sim = DeployContext(ctx.settings, ctx.w3, ctx.deployer, dict(ctx.addresses))
    old = {name: entry["address"] for name, entry in manifest["contracts"].items()}
    found: dict[str, str] = {}
    for spec in plan:
        if spec.local_only and not ctx.settings.is_local_chain:
            sim.addresses[spec.name] = _external_address(ctx.w3, ctx.settings, spec, manifest["chainId"])
            continue
        artifact, entry = load_artifact(ctx.settings, spec.name), manifest["contracts"].get(spec.name)
        if not entry or code_hash(ctx.w3, entry["address"]) != entry["codeHash"]:  # new, or its code is gone:
            sim.addresses[spec.name] = _stand_in(len(found) + len(sim.addresses))  # nothing on it to strand
            continue
        args = spec.args(sim)
        fp = fingerprint(artifact, args)
        follows = bool(spec.bound_to and fp == entry["fingerprint"]
                       and _bound_one_redeploys(sim, manifest, plan, spec, entry["address"]))  # fmt: skip
        if fp == entry["fingerprint"] and not follows:
            sim.addresses[spec.name] = entry["address"]
            continue
        before = DeployContext(ctx.settings, ctx.w3, ctx.deployer, {**sim.addresses, **old})
        if follows:
            found[spec.name] = f"follows {spec.bound_to}, to which it is bound"
        elif fingerprint(artifact, spec.args(before)) == entry["fingerprint"]:
            named = [name for name in found if sim.addresses[name] in args]
            found[spec.name] = f"follows {', '.join(named) or 'a contract replaced'}, which its constructor names"
        else:
            found[spec.name] = "bytecode or constructor arguments changed"
        sim.addresses[spec.name] = _stand_in(len(found) + len(sim.addresses))
    return found


def _stand_in(n: int) -> str:
    """An address no contract has, for a contract a dry run would deploy anew."""
    return Web3.to_checksum_address(f"0x{0xdead:04x}{n:036x}")


def _refuse_replacing(settings: Settings, planned: dict[str, str], replace: Collection[str], plan: list[ContractSpec]) -> None:
    """Off a local chain, a contract holding state is replaced only when named (`--replace`): the
    platform then follows the new one only, and what lives on the old one (loans and their notes,
    orders, mandates, attestations, the reserve) is no longer indexed nor serviced."""
    unknown = sorted(set(replace) - {spec.name for spec in plan})
    if unknown:
        raise DeploymentError(f"--replace {', '.join(unknown)}: no such contract in the deployment plan")
    refused = {name: why for name, why in planned.items() if name not in replace and not why.startswith("follows ")}
    if refused and not settings.is_local_chain:
        listed = "; ".join(f"{name} ({why})" for name, why in refused.items())
        raise DeploymentError(
            f"refused, nothing sent: this deploy would replace {listed} on chain {settings.chain_id}. The platform then "
            "follows the new contract only: what lives on the old one (loans and their notes, orders, mandates, "
            "attestations, the reserve) is no longer indexed, serviced or counted by erasure's guards. Replace it on "
            f"purpose with `loanchain deploy {' '.join(f'--replace {n}' for n in refused)}`",
            replacing=sorted(refused),
        )  # fmt: skip


def deploy_all(settings: Settings, plan: list[ContractSpec] | None = None, wiring: list[WiringStep] | None = None,
               replace: Collection[str] = ()) -> DeployReport:  # fmt: skip
    """Deploy what is missing or changed, and wire it. Off a local chain, a contract with code on chain
    is replaced only if `replace` names it (or it follows one that is): refused before anything is sent."""
    from backend.chain import deploy_plan

    plan = deploy_plan.CONTRACTS if plan is None else plan
    wiring = deploy_plan.WIRING if wiring is None else wiring
    w3 = get_web3(settings)
    chain_id = w3.eth.chain_id
    if chain_id != settings.chain_id:
        from backend.db.migrate import where

        raise DeploymentError(f"node at {where(settings.rpc_url)} has chain id {chain_id}, settings say {settings.chain_id}")
    ctx = DeployContext(settings, w3, platform_account(settings, "deployer"))
    manifest = load_manifest(settings, chain_id)
    if not settings.is_local_chain or replace:
        _refuse_replacing(settings, replacements(ctx, plan, manifest), replace, plan)
    deployed, reused = [], []

    for spec in plan:
        if spec.local_only and not settings.is_local_chain:
            ctx.addresses[spec.name] = _external_address(w3, settings, spec, chain_id)
            if spec.check is not None:
                spec.check(ctx)
            continue
        artifact = load_artifact(settings, spec.name)
        args = spec.args(ctx)
        fp = fingerprint(artifact, args)
        entry = manifest["contracts"].get(spec.name)
        reusable = _reusable(w3, entry, fp)
        follows = bool(reusable and spec.bound_to and _bound_one_redeploys(ctx, manifest, plan, spec, entry["address"]))
        if reusable and not follows:
            ctx.addresses[spec.name] = entry["address"]
            reused.append(spec.name)
            continue
        if entry:
            reason = ("bytecode or constructor arguments changed" if entry["fingerprint"] != fp
                      else f"{spec.bound_to} is redeployed" if follows else "code missing on chain")  # fmt: skip
            manifest["history"].append({"contract": spec.name, "replaced": entry, "reason": reason, "at": _now()})
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx = factory.constructor(*args).build_transaction({"from": ctx.deployer.address})
        receipt = send_and_wait(w3, ctx.deployer, tx)
        address = receipt["contractAddress"]
        manifest["contracts"][spec.name] = {
            "address": address,
            "txHash": receipt["transactionHash"].to_0x_hex(),
            "block": receipt["blockNumber"],
            "artifactHash": artifact["artifactHash"],
            "fingerprint": fp,
            "codeHash": code_hash(w3, address),
            "args": [a if isinstance(a, (int, str, bool)) else str(a) for a in args],
            "deployedAt": _now(),
        }
        ctx.addresses[spec.name] = address
        deployed.append(spec.name)
        _write(settings, chain_id, manifest)  # after every deploy, so a crash mid-way loses nothing

    wired = []
    for step in wiring:
        if step.done(ctx):
            continue
        fn = step.call(ctx)
        receipt = send_and_wait(w3, ctx.deployer, fn.build_transaction({"from": ctx.deployer.address}))
        wired.append(step.description)
        # The deployment's own role grants: monitoring flags every role change outside these.
        manifest.setdefault("wiring", []).append({"step": step.description, "txHash": receipt["transactionHash"].to_0x_hex(),
                                                  "block": receipt["blockNumber"], "at": _now()})  # fmt: skip
    manifest["deployer"] = ctx.deployer.address
    path = _write(settings, chain_id, manifest)
    return DeployReport(chain_id, deployed, reused, wired, path, manifest)


def _write(settings: Settings, chain_id: int, manifest: dict) -> Path:
    path = manifest_path(settings, chain_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)
    return path


def deployment_transactions(settings: Settings) -> set[str]:
    """The transactions of the deployment itself (contracts created, and wired by the deployer),
    including those of contracts since replaced."""
    manifest = load_manifest(settings, settings.chain_id)
    entries = [*manifest["contracts"].values(), *(h["replaced"] for h in manifest.get("history", [])),
               *manifest.get("wiring", [])]  # fmt: skip
    return {entry["txHash"] for entry in entries if entry.get("txHash")}


def platform_addresses(settings: Settings) -> set[str]:
    """Every contract of the deployment (lowercased), those it replaced included: money sent to one
    goes to the platform's own rules (a repayment, an autopay pull), not to a person."""
    manifest = load_manifest(settings, settings.chain_id)
    entries = [*manifest["contracts"].values(), *(h["replaced"] for h in manifest.get("history", []))]
    return {entry["address"].lower() for entry in entries if entry.get("address")}


def deployed_addresses(settings: Settings, chain_id: int | None = None) -> dict[str, str]:
    manifest = load_manifest(settings, chain_id or settings.chain_id)
    return {name: entry["address"] for name, entry in manifest["contracts"].items()}


def deployed_contract(settings: Settings, name: str):
    """The deployed `name` (web3 Contract), or ConfigurationError when this chain has none."""
    address = deployed_addresses(settings).get(name)
    if not address:
        raise ConfigurationError(f"{name} is not deployed on this chain: run `loanchain deploy`")
    return contract_at(settings, name, address)
