// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IKYCRegistry} from "./interfaces/IKYCRegistry.sol";
import {ILoanBook} from "./interfaces/ILoanBook.sol";
import {INoteMarket} from "./interfaces/INoteMarket.sol";

/// @title NoteMarket
/// @notice See {INoteMarket}. Every entry point checks, then records, then logs, then moves money
///         and notes, under a reentrancy guard (the ERC-1155 transfer calls a contract buyer back).
///         Asks (`list`/`buy`) and bids (`bid`/`sell`) mirror each other line for line;
///         `matchOrders` fills one of each against the other.
contract NoteMarket is INoteMarket, AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    uint16 public constant MAX_PRICE_BPS = 20_000;
    uint256 private constant BPS = 10_000;

    ILoanBook public immutable loanBook;
    IERC20 public immutable asset;
    /// @notice LoanBook's KYC registry (immutable there too), read once here to check bidders.
    IKYCRegistry public immutable kycRegistry;
    uint256 public listingCount;
    uint256 public bidCount;

    mapping(uint256 listingId => Listing) private _listings;
    mapping(uint256 bidId => Bid) private _bids;

    /// @param admin Gets DEFAULT_ADMIN_ROLE and PAUSER_ROLE.
    /// @param loanBook_ The LoanBook whose notes trade here.
    /// @param asset_ LoanBook's loan asset: buyers pay in it.
    constructor(address admin, ILoanBook loanBook_, IERC20 asset_) {
        if (admin == address(0) || address(loanBook_) == address(0) || address(asset_) == address(0)) {
            revert NoteMarketZeroAddress();
        }
        address loanBookAsset = address(loanBook_.asset());
        if (loanBookAsset != address(asset_)) revert NoteMarketAssetMismatch(address(asset_), loanBookAsset);
        loanBook = loanBook_;
        asset = asset_;
        kycRegistry = loanBook_.kycRegistry();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    /// @inheritdoc INoteMarket
    function list(uint256 loanId, uint256 notes, uint16 priceBps, uint40 expiresAt)
        external
        whenNotPaused
        returns (uint256 listingId)
    {
        _checkTerms(loanId, notes, priceBps, expiresAt);
        _activeLoan(loanId);
        uint256 held = IERC1155(address(loanBook)).balanceOf(msg.sender, loanId);
        if (held < notes) revert NoteMarketInsufficientNotes(loanId, held, notes);
        if (!IERC1155(address(loanBook)).isApprovedForAll(msg.sender, address(this))) {
            revert NoteMarketNotApproved(msg.sender);
        }

        listingId = ++listingCount;
        // Both casts hold for any real listing (see {Listing}); a forged id or amount reverts.
        _listings[listingId] = Listing({
            seller: msg.sender,
            priceBps: priceBps,
            loanId: SafeCast.toUint80(loanId),
            notes: SafeCast.toUint128(notes),
            expiresAt: expiresAt
        });
        emit Listed(listingId, msg.sender, loanId, notes, priceBps, expiresAt);
    }

    /// @inheritdoc INoteMarket
    function delist(uint256 listingId) external {
        Listing storage l = _open(listingId);
        if (l.seller != msg.sender) revert NoteMarketNotSeller(listingId, msg.sender);

        uint256 left = l.notes;
        delete _listings[listingId];
        emit Delisted(listingId, left);
    }

    /// @inheritdoc INoteMarket
    function reprice(uint256 listingId, uint16 priceBps) external whenNotPaused {
        Listing storage l = _open(listingId);
        if (l.seller != msg.sender) revert NoteMarketNotSeller(listingId, msg.sender);
        _checkPrice(priceBps);

        l.priceBps = priceBps;
        emit Repriced(listingId, priceBps);
    }

    /// @inheritdoc INoteMarket
    function buy(uint256 listingId, uint256 notes, uint256 maxCost)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 cost)
    {
        Listing storage l = _open(listingId);
        if (notes == 0) revert NoteMarketZeroNotes(l.loanId);
        if (notes > l.notes) revert NoteMarketNotEnoughListed(listingId, l.notes, notes);
        _requireLive(listingId, l.expiresAt);
        address seller = l.seller;
        if (seller == msg.sender) revert NoteMarketSelfTrade(listingId);
        uint256 loanId = l.loanId;
        cost = _amount(_activeLoan(loanId), notes * l.priceBps, Math.Rounding.Ceil);
        // The seller may have repriced, or a repayment lowered what the notes stand for, since the
        // buyer was quoted (in the mempool, even ahead of this call).
        if (cost > maxCost) revert NoteMarketPriceMoved(listingId, cost, maxCost);

        // cannot underflow: notes <= l.notes was checked above
        uint256 left;
        unchecked {
            left = l.notes - notes;
        }
        if (left == 0) delete _listings[listingId];
        else l.notes = uint128(left); // cannot truncate: left < l.notes, a uint128
        emit Sold(listingId, loanId, msg.sender, seller, notes, cost, left);

        asset.safeTransferFrom(msg.sender, seller, cost);
        // LoanBook enforces its transfer rules here (verified buyer, never the borrower).
        IERC1155(address(loanBook)).safeTransferFrom(seller, msg.sender, loanId, notes, "");
    }

    /// @inheritdoc INoteMarket
    function bid(uint256 loanId, uint256 notes, uint16 priceBps, uint40 expiresAt)
        external
        whenNotPaused
        returns (uint256 bidId)
    {
        _checkTerms(loanId, notes, priceBps, expiresAt);
        ILoanBook.Loan memory loan = _activeLoan(loanId);
        // LoanBook's rule for whoever receives notes, applied now: a bid it would refuse to fill
        // would only stand in the book, and in front of bids that can fill.
        if (msg.sender == loan.borrower) revert NoteMarketBidderIsBorrower(loanId, msg.sender);
        uint8 level = loanBook.investorKycLevel();
        if (!kycRegistry.isVerified(msg.sender, level)) revert NoteMarketBidderNotVerified(msg.sender, level);
        _requireAllowance(loan, notes, priceBps);

        bidId = ++bidCount;
        // Both casts hold for any real bid (see {Bid}); a forged id or amount reverts.
        _bids[bidId] = Bid({
            bidder: msg.sender,
            priceBps: priceBps,
            loanId: SafeCast.toUint80(loanId),
            notes: SafeCast.toUint128(notes),
            expiresAt: expiresAt
        });
        emit BidPlaced(bidId, msg.sender, loanId, notes, priceBps, expiresAt);
    }

    /// @inheritdoc INoteMarket
    function cancelBid(uint256 bidId) external {
        Bid storage b = _openBid(bidId);
        if (b.bidder != msg.sender) revert NoteMarketNotBidder(bidId, msg.sender);

        uint256 left = b.notes;
        delete _bids[bidId];
        emit BidCancelled(bidId, left);
    }

    /// @inheritdoc INoteMarket
    function repriceBid(uint256 bidId, uint16 priceBps) external whenNotPaused {
        Bid storage b = _openBid(bidId);
        if (b.bidder != msg.sender) revert NoteMarketNotBidder(bidId, msg.sender);
        _checkPrice(priceBps);
        _requireAllowance(loanBook.loan(b.loanId), b.notes, priceBps);

        b.priceBps = priceBps;
        emit BidRepriced(bidId, priceBps);
    }

    /// @inheritdoc INoteMarket
    function sell(uint256 bidId, uint256 notes, uint256 minProceeds)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 proceeds)
    {
        Bid storage b = _openBid(bidId);
        if (notes == 0) revert NoteMarketZeroNotes(b.loanId);
        if (notes > b.notes) revert NoteMarketNotEnoughBid(bidId, b.notes, notes);
        _requireLive(bidId, b.expiresAt);
        address bidder = b.bidder;
        if (bidder == msg.sender) revert NoteMarketSelfTrade(bidId);
        uint256 loanId = b.loanId;
        ILoanBook.Loan memory loan = _activeLoan(loanId);
        if (!IERC1155(address(loanBook)).isApprovedForAll(msg.sender, address(this))) {
            revert NoteMarketNotApproved(msg.sender);
        }
        // Rounded down: the seller is the taker here (see {INoteMarket}).
        proceeds = _amount(loan, notes * b.priceBps, Math.Rounding.Floor);
        // The bidder may have repriced since the seller was quoted (a `repriceBid` to 1 bps ahead of
        // this call would otherwise take the notes for almost nothing), or a repayment lowered
        // what the notes stand for (the seller keeps that repayment).
        if (proceeds < minProceeds) revert NoteMarketPriceMoved(bidId, proceeds, minProceeds);

        // cannot underflow: notes <= b.notes was checked above
        uint256 left;
        unchecked {
            left = b.notes - notes;
        }
        if (left == 0) delete _bids[bidId];
        else b.notes = uint128(left); // cannot truncate: left < b.notes, a uint128
        emit BidFilled(bidId, loanId, bidder, msg.sender, notes, proceeds, left);

        // `from` is the bidder, not the caller, by design: the bidder approved this contract and
        // placed this bid; a seller takes at most what the bid still wants, at its price, and only
        // by handing over the notes in the same transaction.
        // slither-disable-next-line arbitrary-send-erc20
        asset.safeTransferFrom(bidder, msg.sender, proceeds);
        // LoanBook enforces its transfer rules here (verified bidder, never the borrower).
        IERC1155(address(loanBook)).safeTransferFrom(msg.sender, bidder, loanId, notes, "");
    }

    /// @inheritdoc INoteMarket
    function matchOrders(uint256 listingId, uint256 bidId, uint256 notes)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 cost)
    {
        Listing storage l = _open(listingId);
        Bid storage b = _openBid(bidId);
        if (notes == 0) revert NoteMarketZeroNotes(b.loanId);
        if (notes > l.notes) revert NoteMarketNotEnoughListed(listingId, l.notes, notes);
        if (notes > b.notes) revert NoteMarketNotEnoughBid(bidId, b.notes, notes);
        _requireLive(listingId, l.expiresAt);
        _requireLive(bidId, b.expiresAt);
        uint256 loanId = l.loanId;
        if (b.loanId != loanId) revert NoteMarketLoanMismatch(listingId, bidId, loanId, b.loanId);
        if (b.priceBps < l.priceBps) revert NoteMarketNotCrossed(listingId, bidId, l.priceBps, b.priceBps);
        address seller = l.seller;
        address buyer = b.bidder;
        if (seller == buyer) revert NoteMarketSelfMatch(listingId, bidId, seller);
        cost = _matchCost(_activeLoan(loanId), listingId, bidId, notes, l.priceBps, b.priceBps);

        // cannot underflow: notes <= l.notes and notes <= b.notes were checked above
        uint256 listingLeft;
        uint256 bidLeft;
        unchecked {
            listingLeft = l.notes - notes;
            bidLeft = b.notes - notes;
        }
        if (listingLeft == 0) delete _listings[listingId];
        else l.notes = uint128(listingLeft); // cannot truncate: below l.notes, a uint128
        if (bidLeft == 0) delete _bids[bidId];
        else b.notes = uint128(bidLeft); // cannot truncate: below b.notes, a uint128
        emit Matched(listingId, bidId, loanId, buyer, seller, notes, cost, listingLeft, bidLeft);

        // `from` is the bidder, not the caller, as in {sell}: the bidder approved this contract and
        // placed this bid, and pays at most its own price, only against the notes in the same call.
        // slither-disable-next-line arbitrary-send-erc20
        asset.safeTransferFrom(buyer, seller, cost);
        // LoanBook enforces its transfer rules here, and the seller's operator approval.
        IERC1155(address(loanBook)).safeTransferFrom(seller, buyer, loanId, notes, "");
    }

    /// @notice Stop listing, bidding, repricing, buying and selling (delisting and cancelling stay open).
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resume listing, bidding, repricing, buying and selling.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc INoteMarket
    function listing(uint256 listingId) external view returns (Listing memory) {
        return _listings[listingId];
    }

    /// @inheritdoc INoteMarket
    function costOf(uint256 listingId, uint256 notes) external view returns (uint256) {
        Listing storage l = _listings[listingId];
        return _quote(l.loanId, notes, l.priceBps, Math.Rounding.Ceil);
    }

    /// @inheritdoc INoteMarket
    function bidOf(uint256 bidId) external view returns (Bid memory) {
        return _bids[bidId];
    }

    /// @inheritdoc INoteMarket
    function proceedsOf(uint256 bidId, uint256 notes) external view returns (uint256) {
        Bid storage b = _bids[bidId];
        return _quote(b.loanId, notes, b.priceBps, Math.Rounding.Floor);
    }

    /// @dev What the bidder pays in {matchOrders}. Both are makers there, so neither may lose to
    ///      rounding: the seller gets at least what a buy of `notes` would pay it (rounded up), the
    ///      bidder pays at most what a sale into its bid would take (rounded down, which its
    ///      allowance covers). A fill too small for both has no price.
    function _matchCost(
        ILoanBook.Loan memory loan,
        uint256 listingId,
        uint256 bidId,
        uint256 notes,
        uint16 askBps,
        uint16 bidBps
    ) private pure returns (uint256) {
        uint256 minCost = _amount(loan, notes * askBps, Math.Rounding.Ceil);
        uint256 maxCost = _amount(loan, notes * bidBps, Math.Rounding.Floor);
        if (minCost > maxCost) revert NoteMarketSpreadTooThin(listingId, bidId, minCost, maxCost);
        // The midpoint, rounded down (so never above maxCost): floor(floor(x / d) / 2) is
        // floor(x / 2d), the sum of both prices over twice the denominator. Lifted to minCost
        // where that rounding put it below.
        return Math.max(_amount(loan, notes * (uint256(askBps) + bidBps), Math.Rounding.Floor) / 2, minCost);
    }

    /// @dev `notesBps` (notes times a price in bps) at that price of the principal the notes still
    ///      stand for: a note is one unit of the principal funded, of which the share
    ///      `principalOutstanding / principal` is still owed (every repayment of principal went to
    ///      whoever held the note then), so the price applies to that share, and an order keeps its
    ///      meaning however far the loan has amortized. `notesBps` fits: notes are below 2^128 and
    ///      prices below 2^16; mulDiv keeps the product with the outstanding principal exact.
    function _amount(ILoanBook.Loan memory loan, uint256 notesBps, Math.Rounding rounding)
        private
        pure
        returns (uint256)
    {
        return Math.mulDiv(notesBps, loan.principalOutstanding, uint256(loan.principal) * BPS, rounding);
    }

    /// @dev {_amount} for the views, of an order's loan as it stands (not necessarily Active):
    ///      0 for a closed order, whose loan id reads as the never-created loan 0.
    function _quote(uint256 loanId, uint256 notes, uint16 priceBps, Math.Rounding rounding)
        private
        view
        returns (uint256)
    {
        ILoanBook.Loan memory loan = loanBook.loan(loanId);
        return loan.principal == 0 ? 0 : _amount(loan, notes * priceBps, rounding);
    }

    function _openBid(uint256 bidId) private view returns (Bid storage b) {
        b = _bids[bidId];
        if (b.bidder == address(0)) revert NoteMarketBidClosed(bidId);
    }

    function _open(uint256 listingId) private view returns (Listing storage l) {
        l = _listings[listingId];
        if (l.seller == address(0)) revert NoteMarketListingClosed(listingId);
    }

    /// @dev What a new listing and a new bid must both satisfy.
    function _checkTerms(uint256 loanId, uint256 notes, uint16 priceBps, uint40 expiresAt) private view {
        if (notes == 0) revert NoteMarketZeroNotes(loanId);
        _checkPrice(priceBps);
        if (expiresAt != 0 && expiresAt <= block.timestamp) revert NoteMarketExpiryInPast(expiresAt, block.timestamp);
    }

    function _checkPrice(uint16 priceBps) private pure {
        if (priceBps == 0 || priceBps > MAX_PRICE_BPS) revert NoteMarketPriceOutOfRange(priceBps, MAX_PRICE_BPS);
    }

    /// @dev The caller lets this contract take what a bid for `notes` at `priceBps` pays in full
    ///      now; no later fill pays more, as the principal outstanding only falls while Active.
    function _requireAllowance(ILoanBook.Loan memory loan, uint256 notes, uint16 priceBps) private view {
        uint256 needed = _amount(loan, notes * priceBps, Math.Rounding.Floor);
        uint256 allowance = asset.allowance(msg.sender, address(this));
        if (allowance < needed) revert NoteMarketAllowanceTooLow(msg.sender, allowance, needed);
    }

    function _requireLive(uint256 orderId, uint40 expiresAt) private view {
        if (expiresAt != 0 && block.timestamp >= expiresAt) revert NoteMarketOrderExpired(orderId, expiresAt);
    }

    /// @dev The loan, which must be Active with principal outstanding: its notes are exactly its
    ///      principal, and a price is a share of what is outstanding. An Active loan can have none
    ///      left while it still owes late fees (LoanBook closes a loan only once they are paid):
    ///      its notes would then trade for nothing although they still earn those fees. Nor may it
    ///      be past `defaultableAt`: LoanBook keeps it Active until someone calls `markDefault`,
    ///      which anyone may, so a fill would price its notes at a principal the borrower stopped
    ///      paying and the reserve covers only in part.
    function _activeLoan(uint256 loanId) private view returns (ILoanBook.Loan memory l) {
        l = loanBook.loan(loanId);
        if (l.status != ILoanBook.LoanStatus.Active) revert NoteMarketLoanNotActive(loanId, uint8(l.status));
        if (l.principalOutstanding == 0) revert NoteMarketNothingOutstanding(loanId, l.feesDue);
        uint256 defaultable = loanBook.defaultableAt(loanId);
        if (block.timestamp > defaultable) revert NoteMarketLoanDefaultable(loanId, defaultable);
    }
}
