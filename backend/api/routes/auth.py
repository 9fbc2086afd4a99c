"""Sign-In with Ethereum and session tokens."""

from fastapi import APIRouter, Depends

from backend.api.deps import CurrentUser, SessionDep, SettingsDep, allow, auth_rate_limit
from backend.identity import siwe_login, tokens
from backend.identity.schemas import LoginCreate, LogoutPublic, MePublic, NoncePublic, RefreshCreate, TokenPublic

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
limited = [Depends(auth_rate_limit)]


def _tokens(pair: tokens.TokenPair) -> TokenPublic:
    return TokenPublic(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.get("/nonce", dependencies=[*allow("auth.nonce"), *limited], summary="A single-use nonce for an EIP-4361 message")
def nonce(session: SessionDep, settings: SettingsDep, address: str | None = None, domain: str | None = None) -> NoncePublic:
    issued = siwe_login.issue_nonce(session, settings)
    message = siwe_login.sign_in_message(issued, address, domain or issued.domains[0]) if address else None
    return NoncePublic(nonce=issued.nonce, expires_at=issued.expires_at, chain_id=issued.chain_id, domains=issued.domains,
                       message=message)  # fmt: skip


@router.post("/login", dependencies=[*allow("auth.login"), *limited], summary="Exchange a signed SIWE message for tokens")
def login(body: LoginCreate, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    return _tokens(siwe_login.login(session, settings, body.message, body.signature))


@router.post("/refresh", dependencies=[*allow("auth.refresh"), *limited], summary="Exchange a refresh token (once) for new tokens")
def refresh(body: RefreshCreate, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    return _tokens(tokens.refresh(session, settings, body.refresh_token))


@router.post("/logout", dependencies=allow("auth.logout"), summary="End every session of the caller (access tokens included)")
def logout(user: CurrentUser, session: SessionDep) -> LogoutPublic:
    return LogoutPublic(revoked=tokens.end_sessions(session, user.wallet))


@router.get("/me", dependencies=allow("auth.me"), summary="The signed-in wallet and its roles")
def me(user: CurrentUser) -> MePublic:
    return MePublic(wallet=user.wallet, roles=sorted(user.roles))
