"""The deployment a wallet talks to. Public: it is on-chain anyway."""

from fastapi import APIRouter, Depends

from backend.api.deps import SettingsDep, allow, chain_read_rate_limit
from backend.services.chain_info import ChainInfoPublic, IndexPublic, chain_info, index_position

router = APIRouter(prefix="/api/v1/chain", tags=["chain"])


@router.get("", dependencies=[*allow("chain.info"), Depends(chain_read_rate_limit)], summary="Chain id, contract addresses and the loan token")
def info(settings: SettingsDep) -> ChainInfoPublic:
    return chain_info(settings)


@router.get("/index", dependencies=allow("chain.info"), summary="How far the chain index has read (what lists and figures reflect)")
def index(settings: SettingsDep) -> IndexPublic:
    return index_position(settings)
