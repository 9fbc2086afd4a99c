"""Public endpoints that read the node share one per-client limit, like the health report's: an
anonymous client may not spend a hosted RPC provider's quota (LOANCHAIN_CHAIN_READ_RATE_LIMIT).
Credit applications, open to any signed-in wallet, are counted per client address as well as per
wallet (LOANCHAIN_SCORE_ADDRESS_RATE_LIMIT)."""

from __future__ import annotations

from eth_account import Account

from tests.identity.conftest import client_for, identity_settings, login
from tests.scoring.conftest import SAMPLE

CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
NODE_READS = [
    "/api/v1/loans/1/position",
    f"/api/v1/verify?cid={CID}",
    f"/api/v1/verify/proof?cid={CID}",
    "/api/v1/market/quote?loan_id=1&notes=1&price_bps=9000",
    "/api/v1/chain",
    "/api/v1/disclosure",
]


def test_public_node_reads_are_rate_limited_per_client(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'limits.db'}", chain_read_rate_limit=len(NODE_READS))
    client = client_for(settings, address="81.2.69.142")
    answered = [client.get(url).status_code for url in NODE_READS]  # each answered as before, whatever it says
    assert 429 not in answered, answered
    for url in NODE_READS:  # one quota for them all
        refused = client.get(url)
        assert refused.status_code == 429, (url, refused.status_code)
        assert "at most 6 per minute" in refused.json()["detail"]
        assert 0 < int(refused.headers["Retry-After"]) <= 60  # the fixed window's end
    assert client_for(settings, address="81.2.69.160").get(NODE_READS[0]).status_code != 429  # its own quota
    # The page polls the index position every few seconds; it reads the database alone, so it stays open.
    assert all(client.get("/api/v1/chain/index").status_code != 429 for _ in range(10))


def test_fresh_wallets_from_one_address_share_its_credit_application_limit(tmp_path):
    """Regression of the security review's L1: scoring needs no KYC and a wallet is free, so a new
    key and a sign-in reset the per-wallet limit, and the model could be probed without end. The
    address's count stops the sixth fresh wallet; a request one count refuses spends none of the
    other's allowance (the wallets' third tries leave the address at 10), and others keep theirs."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'probe.db'}", score_rate_limit=2,
                                 score_address_rate_limit=10)  # fmt: skip
    client = client_for(settings, "81.2.69.160")

    def apply(amount: int):
        wallet = Account.create()
        headers = {"Authorization": f"Bearer {login(client, wallet).json()['access_token']}"}
        return [client.post("/api/v1/score", json={**SAMPLE, "amount": amount + i}, headers=headers) for i in range(3)]

    tries = [r for n in range(5) for r in apply(1000 + 10 * n)]  # real SIWE sign-ins, no KYC
    assert [r.status_code for r in tries] == [201, 201, 429] * 5
    assert "at most 2 per hour" in tries[2].json()["detail"]
    sixth = apply(2000)[0]
    assert sixth.status_code == 429, sixth.json()
    assert "network address: at most 10 per hour" in sixth.json()["detail"]
    assert 0 < int(sixth.headers["Retry-After"]) <= 3600
    other = client_for(settings, "81.2.69.161")
    fresh = {"Authorization": f"Bearer {login(other, Account.create()).json()['access_token']}"}
    assert other.post("/api/v1/score", json=SAMPLE, headers=fresh).status_code == 201


def test_an_ipv6_host_is_counted_by_its_56_and_a_private_address_by_its_wallets_only(tmp_path):
    """An IPv6 host moves among the /64s of its home's /56 at will; a private address is a proxy not
    listed in FORWARDED_ALLOW_IPS (everyone's count), so only the wallets' counts apply to it."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'v6.db'}", score_rate_limit=5, score_address_rate_limit=2)

    def first_try(host: str):
        client = client_for(settings, host)
        headers = {"Authorization": f"Bearer {login(client, Account.create()).json()['access_token']}"}
        return client.post("/api/v1/score", json=SAMPLE, headers=headers).status_code

    assert [first_try(host) for host in ("2a00:1450:4001:81c::1", "2a00:1450:4001:81d::1", "2a00:1450:4001:8ff::1")] == [201, 201, 429]
    assert first_try("2a00:1450:4001:91c::1") == 201  # another /56
    assert [first_try("10.0.0.7") for _ in range(3)] == [201, 201, 201]
