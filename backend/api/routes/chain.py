"""The deployment a wallet talks to. Public: it is on-chain anyway."""

from fastapi import APIRouter

from backend.api.deps import SettingsDep, allow
from backend.services.chain_info import ChainInfoPublic, chain_info

router = APIRouter(prefix="/api/v1/chain", tags=["chain"])


@router.get("", dependencies=allow("chain.info"), summary="Chain id, contract addresses and the loan token")
def info(settings: SettingsDep) -> ChainInfoPublic:
    return chain_info(settings)
