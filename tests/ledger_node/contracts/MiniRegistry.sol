// SPDX-License-Identifier: MIT
// Test-only stand-in for AllianceRegistry's `isMember(address)`: the node's permissioning
// only relies on that one view.
pragma solidity 0.8.37;

contract MiniRegistry {
    mapping(address => bool) public isMember;

    constructor(address[] memory founders) {
        for (uint256 i = 0; i < founders.length; i++) isMember[founders[i]] = true;
    }

    function setMember(address account, bool member) external {
        require(isMember[msg.sender], "not a member");
        isMember[account] = member;
    }
}
