"""Public endpoints that read the node share one per-client limit, like the health report's: an
anonymous client may not spend a hosted RPC provider's quota (LOANCHAIN_CHAIN_READ_RATE_LIMIT)."""

from __future__ import annotations

from tests.identity.conftest import client_for, identity_settings

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
