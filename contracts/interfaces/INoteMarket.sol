// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title INoteMarket
/// @notice A secondary market for LoanBook's ERC-1155 notes, so an investor can leave a loan
///         before it ends, or buy into one already running.
///
///         Prices are in basis points of the principal the notes still stand for: a note is one
///         base unit of the principal funded, every repayment of principal goes to whoever holds
///         the note then, so at a fill `notes` stand for `notes * principalOutstanding / principal`
///         of the loan's outstanding principal (LoanBook's, read at the fill), and 9_700 pays 97%
///         of that. An order thereby keeps its meaning as the loan amortizes: a bid left standing
///         across installments or a prepayment never pays for principal already repaid (which
///         stayed with the seller), and a listing that survives its seller moving the notes out and
///         back in never charges for it either. Escrowless on both sides:
///         - a listing (ask) is an offer to sell; the notes stay in the seller's wallet until a
///           buyer takes them, and the buyer pays
///           `ceil(notes * priceBps * principalOutstanding / (principal * 10_000))`;
///         - a bid is an offer to buy; the money stays in the bidder's wallet until a holder
///           sells into it, and the seller receives the same, rounded down (`floor`).
///         Rounding always goes against the taker, so splitting a fill never costs the maker.
///         A maker can reprice its order in place at any time, so a taker names its own limit
///         (`maxCost` to {buy}, `minProceeds` to {sell}): the amount it was quoted, not whatever
///         the order comes to when the transaction lands. A repayment landing first lowers that
///         amount too (a sale then reverts and is quoted again; the seller keeps the repayment).
///         Sellers approve this contract as an ERC-1155 operator once, buyers approve it for the
///         loan asset; money goes straight from buyer to seller and the notes move in the same
///         transaction. Nothing is ever held here, so there is no pool to lose; a bid the bidder
///         can no longer pay simply fails when hit (the ERC-20's own error) and changes nothing.
///
///         LoanBook still rules every transfer: the buyer must be a KYC-verified investor and
///         never the loan's own borrower, and repayments already received stay with the seller
///         (the per-note accumulator's correction on transfer); the buyer earns from the next
///         payment on. Only notes of `Active` loans trade: a loan still funding, repaid,
///         defaulted or cancelled has a better exit (refund or claim) than a sale; nor does an
///         Active loan past `defaultableAt` ({NoteMarketLoanDefaultable}), which anyone may mark
///         defaulted.
interface INoteMarket {
    /// @notice An open offer to sell notes of one loan.
    /// @param seller Wallet whose notes are for sale.
    /// @param priceBps Price per note in basis points of the principal it still stands for (1 note
    ///        = 1 base unit of the principal funded, of which `principalOutstanding / principal` is
    ///        still owed); 9_500 sells at 95% of that.
    /// @param loanId The loan (ERC-1155 id) the notes belong to.
    /// @param notes Notes still for sale.
    /// @param expiresAt Block time from which the listing can no longer be bought; 0: until withdrawn.
    /// @dev Two storage slots: LoanBook's ids are sequential (uint80 is ample), a loan's notes
    ///      never exceed its uint128 principal, and uint40 seconds outlast any loan.
    struct Listing {
        address seller;
        uint16 priceBps;
        uint80 loanId;
        uint128 notes;
        uint40 expiresAt;
    }

    /// @notice An open offer to buy notes of one loan.
    /// @param bidder Wallet that pays and receives the notes.
    /// @param priceBps Price per note in basis points of the principal it still stands for, as {Listing}.
    /// @param loanId The loan (ERC-1155 id) whose notes are wanted.
    /// @param notes Notes still wanted.
    /// @param expiresAt Block time from which the bid can no longer be sold into; 0: until cancelled.
    /// @dev Packed as {Listing}.
    struct Bid {
        address bidder;
        uint16 priceBps;
        uint80 loanId;
        uint128 notes;
        uint40 expiresAt;
    }

    // ------------------------------------------------------------------ events

    /// @notice `seller` offers `notes` notes of `loanId` at `priceBps` of the principal they stand
    ///         for until `expiresAt` (0: no end).
    event Listed(
        uint256 indexed listingId,
        address indexed seller,
        uint256 indexed loanId,
        uint256 notes,
        uint16 priceBps,
        uint40 expiresAt
    );

    /// @notice The seller withdrew the offer (what was left of it).
    event Delisted(uint256 indexed listingId, uint256 notesLeft);

    /// @notice `buyer` bought `notes` notes of `loanId` from `seller` for `cost`, paid to the
    ///         seller; `notesLeft` remain listed. Self-contained, so a trade is rebuilt from it alone.
    event Sold(
        uint256 indexed listingId,
        uint256 indexed loanId,
        address indexed buyer,
        address seller,
        uint256 notes,
        uint256 cost,
        uint256 notesLeft
    );

    /// @notice The seller changed the listing's price per note.
    event Repriced(uint256 indexed listingId, uint16 priceBps);

    /// @notice `bidder` offers to buy `notes` notes of `loanId` at `priceBps` of the principal they
    ///         stand for until `expiresAt` (0: no end).
    event BidPlaced(
        uint256 indexed bidId,
        address indexed bidder,
        uint256 indexed loanId,
        uint256 notes,
        uint16 priceBps,
        uint40 expiresAt
    );

    /// @notice The bidder withdrew the bid (what was left of it).
    event BidCancelled(uint256 indexed bidId, uint256 notesLeft);

    /// @notice `seller` sold `notes` notes of `loanId` into a bid of `buyer` for `proceeds`, paid by
    ///         the buyer; `notesLeft` are still wanted. Self-contained, as {Sold}.
    event BidFilled(
        uint256 indexed bidId,
        uint256 indexed loanId,
        address indexed buyer,
        address seller,
        uint256 notes,
        uint256 proceeds,
        uint256 notesLeft
    );

    /// @notice The bidder changed the bid's price per note.
    event BidRepriced(uint256 indexed bidId, uint16 priceBps);

    /// @notice A crossed listing and bid were matched: `buyer` (the bidder) paid `cost` to `seller`
    ///         for `notes` notes of `loanId`; `listingNotesLeft` stay listed and `bidNotesLeft` wanted.
    ///         Self-contained, as {Sold}.
    event Matched(
        uint256 indexed listingId,
        uint256 indexed bidId,
        uint256 indexed loanId,
        address buyer,
        address seller,
        uint256 notes,
        uint256 cost,
        uint256 listingNotesLeft,
        uint256 bidNotesLeft
    );

    // ------------------------------------------------------------------ errors

    /// @notice A zero admin, LoanBook or asset given to the constructor.
    error NoteMarketZeroAddress();
    /// @notice The asset given is not LoanBook's loan asset: buyers would pay in another token.
    error NoteMarketAssetMismatch(address asset, address loanBookAsset);
    /// @notice An order or a fill of no notes.
    error NoteMarketZeroNotes(uint256 loanId);
    /// @param priceBps The price asked.
    /// @param maxBps The highest price accepted (a typo guard: twice the principal the notes stand for).
    error NoteMarketPriceOutOfRange(uint16 priceBps, uint16 maxBps);
    /// @param status The loan's LoanBook status (2 = Active is the only tradable one).
    error NoteMarketLoanNotActive(uint256 loanId, uint8 status);
    /// @notice An Active loan whose principal is all repaid and that owes late fees only: every
    ///         price is a share of the principal outstanding, so its notes would trade for nothing.
    /// @param feesDue The late fees it still owes (LoanBook's last word on it, read before any accrual).
    error NoteMarketNothingOutstanding(uint256 loanId, uint256 feesDue);
    /// @notice An Active loan already past LoanBook's `defaultableAt`: anyone may mark it
    ///         defaulted now, so its notes stand for a debt the borrower stopped paying, of which
    ///         the reserve covers only a part. Trading stops there, whether or not `markDefault`
    ///         was called; a payment that moves `defaultableAt` forward reopens it.
    /// @param defaultableAt LoanBook's `defaultableAt(loanId)`: an order still fills at that very
    ///        second, as `markDefault` still reverts then, and no longer a second later.
    error NoteMarketLoanDefaultable(uint256 loanId, uint256 defaultableAt);
    /// @notice A listing of more notes than the seller holds.
    /// @param held The seller's notes of the loan.
    /// @param listed The notes it tried to list.
    error NoteMarketInsufficientNotes(uint256 loanId, uint256 held, uint256 listed);
    /// @notice The seller has not approved this contract as an ERC-1155 operator on LoanBook.
    error NoteMarketNotApproved(address seller);
    /// @notice The listing was never placed, or is closed (sold out or delisted).
    error NoteMarketListingClosed(uint256 listingId);
    /// @notice Only the listing's seller may delist or reprice it.
    error NoteMarketNotSeller(uint256 listingId, address caller);
    /// @notice A fill of more notes than the listing has left.
    /// @param listed The notes still listed.
    /// @param asked The notes the fill wanted.
    error NoteMarketNotEnoughListed(uint256 listingId, uint256 listed, uint256 asked);
    /// @param orderId The listing bought from, or the bid sold into.
    error NoteMarketSelfTrade(uint256 orderId);
    /// @notice {matchOrders} of a listing and a bid that `maker` placed both.
    error NoteMarketSelfMatch(uint256 listingId, uint256 bidId, address maker);
    /// @notice The bid was never placed, or is closed (filled or cancelled).
    error NoteMarketBidClosed(uint256 bidId);
    /// @notice Only the bid's bidder may cancel or reprice it.
    error NoteMarketNotBidder(uint256 bidId, address caller);
    /// @notice A fill of more notes than the bid still wants.
    /// @param wanted The notes the bid still wants.
    /// @param offered The notes the fill offered.
    error NoteMarketNotEnoughBid(uint256 bidId, uint256 wanted, uint256 offered);
    /// @param expiresAt The expiry asked for, not after the current block time.
    error NoteMarketExpiryInPast(uint40 expiresAt, uint256 blockTime);
    /// @param orderId The listing or bid whose time ran out at `expiresAt`.
    error NoteMarketOrderExpired(uint256 orderId, uint40 expiresAt);
    /// @param allowance What the bidder lets this contract take of the loan asset.
    /// @param needed What the bid would cost in full now (no later fill costs more: the principal
    ///        outstanding only falls).
    error NoteMarketAllowanceTooLow(address bidder, uint256 allowance, uint256 needed);
    /// @param listingLoanId The loan the listing sells notes of.
    /// @param bidLoanId The loan the bid wants notes of.
    error NoteMarketLoanMismatch(uint256 listingId, uint256 bidId, uint256 listingLoanId, uint256 bidLoanId);
    /// @param askBps The listing's price; it must not be above `bidBps`, the bid's, to match.
    error NoteMarketNotCrossed(uint256 listingId, uint256 bidId, uint16 askBps, uint16 bidBps);
    /// @notice A bidder LoanBook would not let receive the notes: not KYC-verified at `minLevel`
    ///         (LoanBook's `investorKycLevel`) in its registry.
    error NoteMarketBidderNotVerified(address bidder, uint8 minLevel);
    /// @notice The loan's own borrower bid for its notes, which LoanBook never lets it hold.
    error NoteMarketBidderIsBorrower(uint256 loanId, address bidder);
    /// @notice No whole amount pays the seller at least what buying these notes from its listing
    ///         would (`minCost`, rounded up) and costs the bidder at most what selling them into its
    ///         bid would (`maxCost`, rounded down): the prices are equal, or cross by less than one
    ///         unit over these notes, and neither maker may lose to rounding. A number of notes whose
    ///         cost at the ask is a whole amount always matches.
    error NoteMarketSpreadTooThin(uint256 listingId, uint256 bidId, uint256 minCost, uint256 maxCost);
    /// @notice The order now comes to more than the taker's limit (a purchase) or less (a sale):
    ///         the maker repriced it since the taker was quoted, or, for a sale, a repayment
    ///         lowered the principal the notes stand for (the seller keeps that repayment).
    /// @param orderId The listing bought from, or the bid sold into.
    /// @param amount What the fill moves at the order's price now: a purchase's cost (above `limit`,
    ///        the buyer's `maxCost`) or a sale's proceeds (below `limit`, the seller's `minProceeds`).
    error NoteMarketPriceMoved(uint256 orderId, uint256 amount, uint256 limit);

    // ------------------------------------------------------------------ functions

    /// @notice Offer `notes` of `loanId` for sale at `priceBps` of the principal they stand for
    ///         (see {INoteMarket}) until `expiresAt` (a block
    ///         time in the future, or 0 for until withdrawn). The caller must hold the notes, and
    ///         have approved this contract as operator (`LoanBook.setApprovalForAll`).
    /// @return listingId Sequential, from 1.
    function list(uint256 loanId, uint256 notes, uint16 priceBps, uint40 expiresAt) external returns (uint256 listingId);

    /// @notice Withdraw the caller's own listing.
    function delist(uint256 listingId) external;

    /// @notice Change the price of the caller's own open listing (its id, notes and expiry stay).
    function reprice(uint256 listingId, uint16 priceBps) external;

    /// @notice Buy `notes` of a listing (all or part): pays the seller and takes the notes. The
    ///         caller must have approved this contract for the cost in the loan asset.
    /// @param maxCost The most the caller will pay: the cost it was quoted. The seller can
    ///        {reprice} at any time, also between the quote and this call (ahead of it in the same
    ///        block), so a cost above this reverts with {NoteMarketPriceMoved} and changes nothing.
    /// @return cost What was paid, `ceil(notes * priceBps * principalOutstanding / (principal * 10_000))`.
    function buy(uint256 listingId, uint256 notes, uint256 maxCost) external returns (uint256 cost);

    /// @notice Offer to buy `notes` of `loanId` at `priceBps` of the principal they stand for until
    ///         `expiresAt` (as for {list}). The caller must have approved this contract for the full
    ///         price in the loan asset (checked now, at the principal outstanding now, which only
    ///         falls; and again by the token when the bid is hit). LoanBook's rules for
    ///         receiving notes are checked now, so no bid that could never fill is placed (a KYC-
    ///         verified investor at LoanBook's `investorKycLevel`, never the loan's borrower), and
    ///         again by LoanBook at the fill (an attestation can lapse or be revoked meanwhile). An
    ///         expiry guards a bidder against a bid left standing while the loan's prospects change
    ///         (a borrower falling behind); its repayments need none, the price follows them. Past the
    ///         loan's `defaultableAt` the bid no longer fills ({NoteMarketLoanDefaultable}).
    /// @return bidId Sequential, from 1 (its own sequence, apart from listings).
    function bid(uint256 loanId, uint256 notes, uint16 priceBps, uint40 expiresAt) external returns (uint256 bidId);

    /// @notice Withdraw the caller's own bid.
    function cancelBid(uint256 bidId) external;

    /// @notice Change the price of the caller's own open bid (its id, notes and expiry stay); the
    ///         allowance must cover the bid at the new price and the principal outstanding now, as for {bid}.
    function repriceBid(uint256 bidId, uint16 priceBps) external;

    /// @notice Sell `notes` of the caller's notes into a bid (all or part of it): the bidder pays the
    ///         caller and takes the notes. The caller must have approved this contract as operator.
    /// @param minProceeds The least the caller will accept: the proceeds it was quoted. The bidder
    ///        can {repriceBid} at any time, also just ahead of this call, so proceeds below this
    ///        revert with {NoteMarketPriceMoved} and change nothing.
    /// @return proceeds What the caller received,
    ///         `floor(notes * priceBps * principalOutstanding / (principal * 10_000))`.
    function sell(uint256 bidId, uint256 notes, uint256 minProceeds) external returns (uint256 proceeds);

    /// @notice Match a listing with a bid for the same loan priced at or above it: `notes` move from
    ///         the seller to the bidder, who pays the seller the midpoint of the two prices, each of
    ///         the principal the notes stand for (`f = principalOutstanding / principal`),
    ///         `floor(notes * f * (askBps + bidBps) / 20_000)`, but never less than a buyer taking the
    ///         listing would pay, `ceil(notes * f * askBps / 10_000)`. Anyone may call it (the platform's
    ///         keeper does), and it needs no custody: both makers approved this contract when they
    ///         placed their orders. Neither order came to take the other, so they split the gap
    ///         between their prices, and neither loses to rounding: the seller gets at least its ask's
    ///         cost and the bidder pays at most `floor(notes * f * bidBps / 10_000)`, what a seller
    ///         hitting its bid would get (its allowance covers it); when no amount satisfies both
    ///         (equal prices, or a fill of a few units) it reverts with {NoteMarketSpreadTooThin}.
    ///         A book left crossed (a wallet can cross it by calling this contract directly) is
    ///         thereby uncrossed without either maker acting.
    /// @return cost What the bidder paid the seller.
    function matchOrders(uint256 listingId, uint256 bidId, uint256 notes) external returns (uint256 cost);

    /// @notice A listing (`seller` zero once it is closed: sold out or delisted).
    function listing(uint256 listingId) external view returns (Listing memory);

    /// @notice What buying `notes` of a listing costs now, at the loan's principal outstanding now
    ///         (0 for a closed listing).
    function costOf(uint256 listingId, uint256 notes) external view returns (uint256);

    /// @notice A bid (`bidder` zero once it is closed: filled or cancelled).
    function bidOf(uint256 bidId) external view returns (Bid memory);

    /// @notice What selling `notes` into a bid pays now, at the loan's principal outstanding now
    ///         (0 for a closed bid).
    function proceedsOf(uint256 bidId, uint256 notes) external view returns (uint256);
}
