"""The one settings object, read from the environment and `.env` (pydantic-settings).

Every variable is `LOANCHAIN_<FIELD>`; `DATABASE_URL` and `RPC_URL` are also accepted bare
because that is how hosting platforms hand them over.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

# Anvil's and Ganache's public development mnemonic. Its keys are published and only ever
# used against local chains (chain ids in LOCAL_CHAIN_IDS); see `chain/signers.py`.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
# How long after a disbursal the index keeps its borrower wallet's transfers of the loan token
# (`backend/chain/loan_token.py`): the monitoring windows that read them can be no longer. Part of the
# index's rule, so a change is a new rule (`indexer.TOKEN_TRANSFERS`), not a setting.
TOKEN_FOLLOW_DAYS = 30


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOANCHAIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    root: Path = ROOT
    var_dir: Path = ROOT / "var"

    # --- database -------------------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite:///{ROOT / 'var' / 'loanchain.db'}",
        validation_alias=AliasChoices("LOANCHAIN_DATABASE_URL", "DATABASE_URL"),
    )

    # --- chain ----------------------------------------------------------------------------
    rpc_url: str = Field(
        default="http://127.0.0.1:8545", validation_alias=AliasChoices("LOANCHAIN_RPC_URL", "RPC_URL")
    )
    chain_node: Literal["anvil", "ganache"] = "anvil"
    chain_host: str = "127.0.0.1"
    chain_port: int = 8545
    chain_id: int = 31337
    chain_block_time: int | None = None  # None = automine
    chain_state_interval: int = 1  # seconds between Anvil state dumps
    rpc_timeout: float = 10.0
    # Encrypted eth-account keystore (V3 JSON) for non-local chains; the password comes from
    # the environment or a file, never from the repo.
    deployer_keystore: Path | None = None
    deployer_password: SecretStr | None = None
    deployer_password_file: Path | None = None
    confirmations: int = 0  # blocks on top before the outbox and the indexer trust a block
    # The ERC-20 loans are made in, off a local chain (where MockStablecoin is deployed instead).
    loan_token_address: str | None = None

    # --- outbox and indexer (backend/chain/outbox.py, indexer.py) ---------------------------
    outbox_poll_interval: float = 0.5  # seconds between sender rounds when idle
    outbox_max_backoff: float = 30.0  # cap on the retry delay after transient errors
    outbox_batch: int = 50  # intents signed per round
    # A sent transaction still unmined after this many seconds is re-signed at the same nonce
    # with fees raised by 12.5% (replace-by-fee); 0 turns bumping off.
    outbox_fee_bump_after: float = 120.0
    outbox_max_fee_gwei: float = 1000.0  # never bump maxFeePerGas / gasPrice above this
    # Test-only crash drill: comma-separated points where the sender aborts the process
    # (before_sign, after_sign, after_broadcast, after_mined, after_bump_sign); never set in production.
    outbox_crash_at: str | None = None
    indexer_batch_blocks: int = 2000  # blocks per eth_getLogs range
    indexer_reorg_window: int = 64  # recent blocks whose hashes are kept to find a common ancestor
    indexer_poll_interval: float = 1.0
    # Seconds a confirmed block may wait for the index before traces and `index verify` call the
    # index stale (`index_current`): a running indexer takes a block within about a poll interval and
    # one round, so a minute is generous; an index left behind (stopped, or taken back) is not current.
    index_stale_after: float = Field(default=60.0, gt=0)

    # --- background workers (backend/workers/) ---------------------------------------------
    run_workers: bool = True  # `loanchain serve` runs the workers in-process (threads)

    # --- compiler -------------------------------------------------------------------------
    solc_version: str = "0.8.28"
    evm_version: str = "shanghai"  # the newest fork both Anvil and Ganache 7.9 run
    optimizer_runs: int = 200
    contracts_dir: Path = ROOT / "contracts"
    artifacts_dir: Path = ROOT / "artifacts"
    deployments_dir: Path = ROOT / "deployments"
    node_modules: Path = ROOT / "node_modules"

    # --- content store --------------------------------------------------------------------
    content_store: Literal["embedded", "ipfs"] = "embedded"
    ipfs_api: str = "/ip4/127.0.0.1/tcp/5002/http"
    ipfs_timeout: float = 30.0  # how long the node may look for content it lacks

    # --- anchoring and audit log (backend/anchoring/, backend/audit/) ----------------------
    anchor_batch_size: int = Field(default=256, ge=1)  # documents per Merkle root; 1 = one root each
    anchor_batch_interval: float = Field(default=60.0, ge=0)  # seconds a queued hash may wait for a full batch
    audit_anchor_interval: float = Field(default=600.0, ge=0)  # seconds between on-chain audit-head checkpoints
    # An idle log gets an `audit.heartbeat` entry once its last checkpoint is this old with nothing recorded
    # since, anchored like any other: `audit verify` then flags a newest on-chain checkpoint older than this plus the anchoring delay
    # (`stale`), so a tail rewritten after anchoring stopped cannot pass as young. 0: no heartbeat, no check.
    audit_heartbeat_interval: float = Field(default=86_400.0, ge=0)
    anchor_max_document_bytes: int = Field(default=50 * 1024 * 1024, ge=1)  # larger uploads get a 413

    # --- offers (backend/lending/) ----------------------------------------------------------
    offer_decision_ttl_days: int = Field(default=30, ge=1)  # an approval older than this needs a new application
    offer_ttl_hours: int = Field(default=72, ge=1)  # the borrower's signature must reach LoanBook in this time
    offer_funding_days: int = Field(default=14, ge=1)  # investors' funding window after the signing deadline
    installment_period_days: int = Field(default=30, ge=1)
    # What one borrower may owe the platform's investors at once, in whole tokens (the product's
    # largest loan by default): regulated P2P lending caps a borrower's balance per platform.
    borrower_max_outstanding: int = Field(default=20_000, ge=250)
    # How many new loans one borrower (a person: all their wallets) may take in 30 days: a bust-out
    # takes many loans at once before anyone sees the first one go unpaid.
    borrower_max_new_loans_30d: int = Field(default=2, ge=1)

    # --- investor diversification (backend/lending/portfolio.py) -------------------------------
    diversification_max_share: float = Field(default=0.05, gt=0, le=1)  # warn above this share in one loan
    diversification_min_loans: int = Field(default=20, ge=1)  # warn below this many loans

    # --- the notes' secondary market (backend/market/) ----------------------------------------
    market_keeper: bool = True  # match crossed listings and bids (NoteMarket.matchOrders) through the outbox
    market_keeper_interval: float = Field(default=15.0, gt=0)  # seconds between the keeper's passes
    market_keeper_max_per_pass: int = Field(default=20, ge=1)  # matches queued per pass (the platform pays their gas)
    mandate_keeper: bool = True  # fund standing instructions' matches under investors' signed mandates
    mandate_keeper_interval: float = Field(default=15.0, gt=0)  # seconds between its passes
    mandate_keeper_max_per_pass: int = Field(default=20, ge=1)  # fundings queued per pass (the platform pays their gas)
    # --- transaction monitoring of notes (backend/audit/monitoring.py) -------------------------
    monitoring_round_trip_days: int = Field(default=30, ge=1)  # notes back to where they came from within this
    monitoring_price_low: float = Field(default=0.5, gt=0)  # a trade under this x the principal outstanding it buys
    monitoring_price_high: float = Field(default=1.5, gt=0)  # ... or over this x
    monitoring_gift_threshold: int = Field(default=10_000, ge=0)  # whole tokens of outstanding moved off-market
    monitoring_structuring_days: int = Field(default=30, ge=1)  # gifts each under the threshold, summed over this
    monitoring_cycle_max_hops: int = Field(default=4, ge=3, le=6)  # A -> B -> C (-> ...) -> A up to this many moves
    monitoring_answers_changed_days: int = Field(default=30, ge=1)  # a person's applications compared within this
    # A borrower's onward transfers counted this long after a disbursal (the index keeps TOKEN_FOLLOW_DAYS of them).
    monitoring_collection_days: int = Field(default=7, ge=1, le=TOKEN_FOLLOW_DAYS)
    monitoring_collection_share: float = Field(default=0.5, gt=0, le=1)  # ... reaching this share of it, to one wallet
    monitoring_collection_piece_share: float = Field(default=0.1, gt=0, le=1)  # ... this, to a wallet, makes a piece
    # The API's alert reads share one computation this long while what the rules read looks unchanged (0: never).
    monitoring_alerts_cache_seconds: int = Field(default=30, ge=0, le=3600)
    # --- servicing (backend/servicing/) -------------------------------------------------------
    servicing_interval: float = Field(default=60.0, gt=0)  # seconds between servicing passes
    servicing_reminder_days: int = Field(default=3, ge=0)  # "due soon" notice this many days ahead
    servicing_auto_default: bool = True  # queue markDefault once the contract allows it
    # Open promises to pay hold that automatic default this many days past LoanBook's defaultableAt
    # in all, however many are chained: past it, only a payment (which moves defaultableAt) does.
    servicing_promise_hold_max_days: int = Field(default=60, ge=0)
    # A borrower's hardship request unanswered, or a dispute staff recorded and have not followed up,
    # pauses reminders, texts and the automatic default this many days at most (and within the
    # promise cap past defaultableAt): staff answer by recording `contacted` or `promise_to_pay`
    # (a `no_answer` or a `note` is no answer).
    servicing_hardship_hold_days: int = Field(default=30, ge=0)
    # The right to cure: the automatic default waits this many days after the borrower's first written
    # warning of the late installment (the `collections` notice, else the `default` notice a pass gives
    # when it first finds the loan defaultable, after a worker outage). 0: no wait.
    servicing_cure_days: int = Field(default=14, ge=0, le=60)
    # A hardship plan two staff agreed (servicing/plans.py) holds reminders, texts and the automatic
    # default while the chain shows it kept, up to this many days past LoanBook's defaultableAt (longer
    # than a promise, which one staff member records alone); a proposal nobody confirms lapses after
    # `servicing_plan_confirm_days`.
    servicing_plan_hold_max_days: int = Field(default=180, ge=0, le=365)
    servicing_plan_confirm_days: int = Field(default=7, ge=1, le=30)
    disclosure_publish_monthly: bool = True  # the servicing worker publishes last month's report
    servicing_auto_cancel: bool = True  # queue cancel for loans that missed full funding by their deadline
    servicing_auto_disburse: bool = True  # queue disburse for fully funded loans still unpaid at their deadline
    # E-mail for borrower and investor notices; without a host, notices stay in-app (GET /api/v1/servicing/notices).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "loanchain <no-reply@localhost>"
    smtp_timeout: float = 10.0
    # Text messages through Twilio's Messages API or a gateway that speaks it (None: no SMS)
    sms_api_url: str | None = None  # e.g. https://api.twilio.com
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from: str | None = None  # the sender number (E.164) or alphanumeric id
    sms_timeout: float = 10.0

    # --- backups (backend/backup/) ------------------------------------------------------------
    # AES-256 key (base64) for `loanchain backup`; on a local chain var/keys/backup.key is made on
    # first use. Keep it, and the KYC master keys, apart from the backups themselves.
    backup_key: SecretStr | None = None
    # The `backup` worker (backend/backup/schedule.py): one backup every N hours (0: off) into
    # `backup_dir` (default var/backups), verified, the newest `backup_keep` kept.
    backup_interval_hours: float = Field(default=24.0, ge=0)
    backup_dir: Path | None = None
    backup_keep: int = Field(default=14, ge=1)
    # After erasures, rotate the KYC master key before the next scheduled backup and delete the old
    # one once no kept backup predates the rotation (backend/backup/shredding.py): erasures then
    # reach every backup within backup_keep x backup_interval_hours (14 days by default).
    backup_shred_erasures: bool = True

    # --- API ------------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # --- identity -------------------------------------------------------------------------
    # Sign-In with Ethereum: the `domain` a message may name (host[:port] the wallet saw).
    siwe_domains: Annotated[list[str], NoDecode] = ["127.0.0.1:8000", "localhost:8000"]
    siwe_nonce_ttl: int = 300  # seconds a sign-in nonce stays usable (once)
    siwe_clock_skew: int = 60  # seconds an `Issued At` may lie in the future
    # JWT signing secret; when unset, a random one is generated once under var/keys/.
    jwt_secret: SecretStr | None = None
    access_token_ttl: int = 900
    refresh_token_ttl: int = 7 * 24 * 3600
    # Absolute session age: refreshing stops this long after the SIWE sign-in, whatever the refreshes.
    session_max_age: int = Field(default=30 * 24 * 3600, ge=60)
    # Seconds since the SIWE sign-in within which reading or erasing KYC data, or changing roles, is
    # allowed (a step-up: older sessions sign in again for these; see FRESH_SIGN_IN in api/deps.py).
    fresh_sign_in_max_age: int = Field(default=600, ge=1)
    # Wallets that are admins by configuration (comma-separated in the environment).
    admin_wallets: Annotated[list[str], NoDecode] = []
    # Seconds a staff role proposed through the API waits for another admin's confirmation.
    role_grant_ttl: int = Field(default=48 * 3600, ge=60)
    # KYC master keys as "kid:base64key,kid2:base64key" (first is active); when unset, the
    # keyring is the directory var/keys/kyc (generated on first use on a local chain only).
    kyc_master_keys: SecretStr | None = None
    kyc_keyring_dir: Path | None = None
    # The erasure log (backend/identity/kyc/erasures.py): var/keys/kyc-erasures.jsonl when unset.
    # Keep it with the master keys, apart from the backups: a restore re-applies what it lists.
    kyc_erasure_log: Path | None = None
    # Key of the blind index (HMAC-SHA256 of normalised national IDs); var/keys/ when unset.
    kyc_blind_index_key: SecretStr | None = None
    kyc_validity_days: int = 365
    # AML record keeping (AMLD art. 40): a wallet that borrowed or held notes keeps its KYC data this
    # many days after the business relationship ended; an erasure asked for before then is scheduled
    # (backend/identity/kyc/erasure_requests.py). 0: erased at once once no debt is open.
    aml_retention_days: int = Field(default=1825, ge=0)
    # Storage limitation (GDPR art. 5(1)(e)): KYC records rejected or superseded, and declined credit
    # applications, are erased this many days after (backend/identity/kyc/retention.py).
    retention_rejected_days: int = Field(default=180, ge=0)
    retention_declined_days: int = Field(default=180, ge=0)
    # A wallet that never borrowed nor invested (or whose AML period is over and that came back since)
    # is erased, unasked, once it has neither verified, applied nor signed in for this many days:
    # three years, the general limitation period for a claim about its onboarding or an application,
    # and three KYC validity periods (backend/identity/kyc/retention.py).
    retention_inactive_days: int = Field(default=1095, ge=0)
    retention_interval: float = Field(default=3600.0, gt=0)  # seconds between retention rounds
    # Fair-lending checks of live decisions, one a UTC day, over this many trailing days
    # (backend/scoring/fair_lending_checks.py); the worker looks whether today's is due every interval.
    fair_lending_window_days: int = Field(default=90, ge=1)
    fair_lending_interval: float = Field(default=3600.0, gt=0)
    kyc_min_age: int = 18
    kyc_investor_min_level: int = 1  # level 1: identity data checked
    kyc_borrower_min_level: int = 2  # level 2: plus an identity document
    kyc_max_document_bytes: int = 5 * 1024 * 1024
    kyc_max_documents: int = 4
    kyc_watchlist_path: Path = ROOT / "data" / "watchlist_sample.csv"
    kyc_watchlist_threshold: float = 88.0  # rapidfuzz token_sort_ratio, 0-100
    kyc_velocity_window: int = 24 * 3600  # seconds
    kyc_velocity_per_wallet: int = 3  # submissions per wallet per window
    # Submissions naming one national ID per window from one wallet (429 beyond). Counted per wallet:
    # a count over all wallets let whoever knows someone's ID number use up its owner's quota.
    kyc_velocity_per_id: int = 3
    # Other wallets that may name one national ID within the window before a submission goes to
    # review (SHARED_ID; never a refusal): a person's second wallet is one, a stolen ID passed round more.
    kyc_id_max_wallets: int = Field(default=1, ge=0)
    # Other wallets that may apply from one network address (IPv4, or an IPv6 /56) within the
    # window before a submission goes to review: a household shares a connection, a farm more so.
    kyc_origin_max_wallets: int = Field(default=3, ge=0)
    # Other persons (national IDs) whose KYC records may give one address before a submission giving
    # it too goes to review (SHARED_CONTACT; a phone or e-mail counts from the first): a family or
    # flat-share is common, a dozen residents of one flat an identity farm.
    kyc_address_max_persons: int = Field(default=3, ge=0)
    kyc_origin_window: int = Field(default=30 * 86_400, gt=0)  # seconds
    # Largest request body any endpoint reads (413 beyond, by Content-Length or as it streams in): the
    # JSON endpoints, the public sign-in among them, were read and parsed whatever their size. KYC
    # and /verify uploads set larger bounds of their own (routes/kyc.py, routes/verify.py). Read when
    # the app is built.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    auth_rate_limit: int = 30  # sign-in requests per client address per minute
    health_rate_limit: int = 120  # health reports per client address per minute
    # Public reads that call the node (a loan's position, /verify by CID and its proof, a market quote,
    # /chain, the disclosure), per client address per minute, one count for them all: an anonymous
    # client may not spend a hosted RPC provider's quota.
    chain_read_rate_limit: int = 120
    verify_rate_limit: int = 20  # document uploads to verify per client address per minute (public, unauthenticated)
    kyc_rate_limit: int = 20  # KYC requests per wallet per minute
    # Credit applications per wallet per hour: enough to try a few amounts and terms, not to probe
    # the model for the answers that pass (application shopping).
    score_rate_limit: int = 10
    # ... and per client address, whichever wallets send them (a wallet is free and scoring needs no
    # KYC): a household or office behind one address still gets three wallets' worth.
    score_address_rate_limit: int = 30
    # Offers per borrower per hour: each one stores and anchors an agreement document.
    offer_rate_limit: int = 20

    @field_validator("siwe_domains", "admin_wallets", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _local_addresses_follow_the_ports(self):
        # Moving the local chain or the API to other ports moves what reaches them, unless set apart.
        if "rpc_url" not in self.model_fields_set:
            self.rpc_url = f"http://{self.chain_host}:{self.chain_port}"
        if "siwe_domains" not in self.model_fields_set:
            self.siwe_domains = [f"127.0.0.1:{self.api_port}", f"localhost:{self.api_port}"]
        return self

    @model_validator(mode="after")
    def _sms_gateway_complete(self):
        missing = [name for name in ("sms_account_sid", "sms_auth_token", "sms_from") if not getattr(self, name)]
        if self.sms_api_url and missing:
            raise ValueError(f"LOANCHAIN_SMS_API_URL is set, so set {', '.join('LOANCHAIN_' + m.upper() for m in missing)} too")
        return self

    @model_validator(mode="after")
    def _funding_window_within_loanbooks(self):
        # An offer's funding deadline is its signing deadline plus the funding days; LoanBook refuses
        # one more than MAX_FUNDING_WINDOW (30 days) past the block that creates the loan.
        if self.offer_ttl_hours * 3600 + self.offer_funding_days * 86_400 > 30 * 86_400:
            raise ValueError("LOANCHAIN_OFFER_TTL_HOURS and LOANCHAIN_OFFER_FUNDING_DAYS together must stay within "
                             "LoanBook's 30-day MAX_FUNDING_WINDOW")  # fmt: skip
        return self

    @property
    def chain_dir(self) -> Path:
        return self.var_dir / "chain"

    @property
    def content_dir(self) -> Path:
        return self.var_dir / "content"

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def is_local_chain(self) -> bool:
        return self.chain_id in LOCAL_CHAIN_IDS


@lru_cache
def get_settings() -> Settings:
    return Settings()
