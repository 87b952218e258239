// SPDX-License-Identifier: MIT
// Test-only contract for the ledger node's tests: storage, events, return data, reverts
// (custom error and Error(string)) and transient storage (must not leak across txs).
pragma solidity 0.8.37;

contract Probe {
    mapping(address => uint256) public counts;
    uint256 public total;
    event Bumped(address indexed who, uint256 indexed n, bytes note);
    error TooBig(uint256 n);

    function bump(uint256 n, bytes calldata note) external returns (uint256) {
        if (n > 1000) revert TooBig(n);
        require(n != 13, "unlucky");
        uint256 t;
        assembly {
            t := tload(0)
            tstore(0, add(t, 1))
        }
        counts[msg.sender] += n;
        total += n + t * 1000000;
        emit Bumped(msg.sender, n, note);
        return total;
    }

    function make(uint256 salt) external returns (address) {
        return address(new Child{salt: bytes32(salt)}(salt));
    }
}

contract Child {
    uint256 public value;
    constructor(uint256 v) { value = v; }
}
