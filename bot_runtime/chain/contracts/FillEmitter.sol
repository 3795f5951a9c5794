// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// Test double of Polymarket's CTF / NegRisk exchanges: emits their fill events with the exact
/// signatures (V1 and V2 OrderFilled, OrdersMatched), so botfleet's on-chain watcher can be tested
/// against a real EVM. It moves no tokens. Build: see build.sh beside this file.
contract FillEmitter {
    // V1 (CTF Exchange 0x4bFb..., NegRisk CTF Exchange 0xC5d5...)
    event OrderFilled(
        bytes32 indexed orderHash, address indexed maker, address indexed taker,
        uint256 makerAssetId, uint256 takerAssetId, uint256 makerAmountFilled, uint256 takerAmountFilled,
        uint256 fee
    );
    // V2 (CTF Exchange 0xE111..., NegRisk Exchange 0xe222...)
    event OrderFilled(
        bytes32 indexed orderHash, address indexed maker, address indexed taker,
        uint8 side, uint256 tokenId, uint256 makerAmountFilled, uint256 takerAmountFilled, uint256 fee,
        bytes32 builder, bytes32 metadata
    );
    event OrdersMatched(
        bytes32 indexed takerOrderHash, address indexed takerOrderMaker,
        uint256 makerAssetId, uint256 takerAssetId, uint256 makerAmountFilled, uint256 takerAmountFilled
    );

    function fillV1(
        bytes32 orderHash, address maker, address taker, uint256 makerAssetId, uint256 takerAssetId,
        uint256 makerAmountFilled, uint256 takerAmountFilled, uint256 fee
    ) external {
        emit OrderFilled(orderHash, maker, taker, makerAssetId, takerAssetId, makerAmountFilled,
                         takerAmountFilled, fee);
    }

    function fillV2(
        bytes32 orderHash, address maker, address taker, uint8 side, uint256 tokenId,
        uint256 makerAmountFilled, uint256 takerAmountFilled, uint256 fee
    ) external {
        emit OrderFilled(orderHash, maker, taker, side, tokenId, makerAmountFilled, takerAmountFilled, fee,
                         bytes32(0), bytes32(0));
    }

    /// One V2 match as the exchange logs it: a fill per maker order (taker = the taker order's
    /// maker), then the taker order's own fill with taker = this exchange, then OrdersMatched.
    /// makerSide is the makers' side (0 BUY, 1 SELL); amounts are from each maker's point of view.
    function matchV2(
        bytes32 takerHash, address takerMaker, uint8 makerSide, uint256 tokenId,
        bytes32[] calldata makerHashes, address[] calldata makers,
        uint256[] calldata makerAmounts, uint256[] calldata takerAmounts
    ) external {
        uint256 sumMaker = 0;
        uint256 sumTaker = 0;
        for (uint256 i = 0; i < makers.length; i++) {
            emit OrderFilled(makerHashes[i], makers[i], takerMaker, makerSide, tokenId, makerAmounts[i],
                             takerAmounts[i], 0, bytes32(0), bytes32(0));
            sumMaker += makerAmounts[i];
            sumTaker += takerAmounts[i];
        }
        emit OrderFilled(takerHash, takerMaker, address(this), 1 - makerSide, tokenId, sumTaker, sumMaker, 0,
                         bytes32(0), bytes32(0));
        emit OrdersMatched(takerHash, takerMaker, makerSide == 0 ? tokenId : 0, makerSide == 0 ? 0 : tokenId,
                           sumTaker, sumMaker);
    }
}
