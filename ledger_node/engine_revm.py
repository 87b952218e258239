"""The node's execution engine: revm through pyrevm 0.3.7, made deterministic.

pyrevm is a simulation harness (see FACTS): it keeps nonces and fees to us, keeps warm
accounts/slots for its whole life, leaks transient storage across calls, reports reverts
only in exception text and dumps no state. This module owns all of that:

* nonces and fees are written after every transaction; transient storage is cleared;
* every transaction starts cold, as on Ethereum (EIP-2929): afterwards its writes are read
  from the journal, the journal is reverted (which unloads, i.e. cools, everything) and the
  writes go into the database. Gas is then per-transaction Ethereum gas: it never depends
  on what ran before (which an observer could read, and estimates would miss);
* every read and eth_call runs inside ``snapshot()``/``revert()`` so it warms nothing;
* ``touched()`` is the sum of those writes since the last checkpoint, for the state
  commitment; the journal's Debug text is the only full view pyrevm gives.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from pyrevm import EVM, BlockEnv, CfgEnv, Env
from pyrevm import AccountInfo as _AccountInfo

from ledger_node.abc import BlockContext, ExecutionEngine, LogEntry, Message, Outcome
from ledger_node.state import Account, StateDelta, WorldState
from ledger_node.txcodec import create_address, keccak

_ACCOUNT_HEAD = ": Account { info: AccountInfo { balance: "
_ACCOUNT_RE = re.compile(
    r"0x([0-9a-fA-F]{40}): Account \{ info: AccountInfo \{ balance: (\d+), nonce: (\d+), "
    r"code_hash: 0x([0-9a-f]{64}), code: "
)
_CODE_RE = re.compile(r"Some\(Bytecode \{ bytecode: 0x([0-9a-f]*)")
_SLOT_RE = re.compile(
    r"(\d+): StorageSlot \{ previous_or_original_value: \d+, present_value: (\d+)"
)
_REVERT_RE = re.compile(r"^Revert \{ gas_used: (\d+), output: 0x([0-9a-f]*) \}")
_HALT_RE = re.compile(r"^Halt \{ reason: (.*), gas_used: (\d+) \}")
_EMPTY_CODE_HASH = keccak(b"").hex()
# The 0.3.7 stub omits the real constructor's ``balance`` argument.
AccountInfo: Any = _AccountInfo


def _hex(addr: bytes) -> str:
    return "0x" + addr.hex()


def trim_code(padded: bytes, code_hash: bytes) -> bytes:
    """pyrevm pads analysed code with up to 33 zero bytes: cut back to the hashed length."""
    for cut in range(0, 34):
        candidate = padded[: len(padded) - cut] if cut else padded
        if keccak(candidate) == code_hash:
            return candidate
        if cut and padded[len(padded) - cut] != 0:
            break
    raise ValueError("code does not match its hash")


class RevmEngine(ExecutionEngine):
    def __init__(self, chain_id: int, gas_limit: int, state: WorldState | None = None) -> None:
        env = Env(cfg=CfgEnv(chain_id=chain_id))
        self.gas_limit = gas_limit
        self.evm = EVM(env=env, gas_limit=gas_limit, spec_id="Cancun")
        self._coinbase = "0x" + "00" * 20
        # Code already in pyrevm's database, both ways: a transaction's writes name their
        # contract's code by hash, so it is neither re-parsed, re-hashed nor re-inserted.
        self._code_by_hash: dict[bytes, bytes] = {}
        self._hash_by_code: dict[bytes, bytes] = {}
        self._since = StateDelta()
        if state is not None:
            self._load(state.accounts, state.storage)
        # Every transaction runs inside this snapshot: reverting it unloads (cools) all it
        # touched, once its writes are safe in the database (see _settle).
        self._base = self.evm.snapshot()

    def _load(self, accounts: dict[bytes, Account], storage: dict[bytes, dict[int, int]]) -> None:
        """Write accounts and slots into pyrevm's database, leaving them cold."""
        evm = self.evm
        for addr, acct in accounts.items():
            info: Any = AccountInfo(balance=acct.balance, nonce=acct.nonce)
            if acct.code:
                known = self._hash_by_code.get(acct.code)
                if known is not None:
                    info = AccountInfo(balance=acct.balance, nonce=acct.nonce, code_hash=known)
                else:
                    info = AccountInfo(balance=acct.balance, nonce=acct.nonce, code=acct.code)
                    code_hash = keccak(acct.code)
                    self._hash_by_code[acct.code] = code_hash
                    self._code_by_hash[code_hash] = acct.code
            evm.insert_account_info(_hex(addr), info)
        snapshot, insert, revert = evm.snapshot, evm.insert_account_storage, evm.revert
        for addr, slots in storage.items():
            a = _hex(addr)
            for slot, value in slots.items():
                # insert_account_storage loads (warms) the account; the snapshot/revert
                # around it unloads it again so the engine really starts cold.
                snap = snapshot()
                insert(a, slot, value)
                revert(snap)

    def _settle(self) -> None:
        """End a transaction as Ethereum does: keep its writes, forget what it warmed.

        Reverting the snapshot unloads every account and slot the transaction touched (and
        frees the journal); writing its writes into the database keeps them, cold.
        """
        delta = self._journal_delta()
        self.evm.revert(self._base)
        self._load(delta.accounts, delta.storage)
        self._base = self.evm.snapshot()
        self._since.accounts.update(delta.accounts)
        for addr, slots in delta.storage.items():
            self._since.storage.setdefault(addr, {}).update(slots)

    def mark_checkpoint(self) -> None:
        """The chain stored a checkpoint: ``touched`` starts again from empty."""
        self._since = StateDelta()

    # -- blocks and transactions ---------------------------------------------------------
    def begin_block(self, ctx: BlockContext) -> None:
        self._coinbase = _hex(ctx.coinbase)
        self.evm.set_block_env(
            BlockEnv(
                number=ctx.number,
                coinbase=self._coinbase,
                timestamp=ctx.timestamp,
                gas_limit=ctx.gas_limit,
                basefee=0,
                difficulty=0,
                prevrandao=b"\x00" * 32,
            )
        )

    def _run(self, m: Message) -> Outcome:
        evm = self.evm
        sender = _hex(m.sender)
        try:
            if m.to is None:
                created = evm.deploy(sender, m.data, value=m.value, gas=m.gas)
                res = evm.result
                assert res is not None
                return Outcome(True, res.gas_used, b"", _logs(res.logs), bytes.fromhex(created[2:]))
            out = evm.message_call(
                sender, _hex(m.to), m.data, value=m.value, gas=m.gas, gas_price=m.gas_price
            )
            res = evm.result
            assert res is not None
            return Outcome(True, res.gas_used, bytes(out), _logs(res.logs))
        except RuntimeError as exc:
            text = str(exc)
            if (rm := _REVERT_RE.match(text)) is not None:
                return Outcome(False, int(rm.group(1)), bytes.fromhex(rm.group(2)), error="revert")
            if (hm := _HALT_RE.match(text)) is not None:
                return Outcome(False, int(hm.group(2)), error=f"halt: {hm.group(1)}")
            return Outcome(False, min(m.intrinsic_gas, m.gas), error=text)

    def execute(self, msg: Message) -> Outcome:
        evm = self.evm
        sender = _hex(msg.sender)
        before = evm.basic(sender)  # loads the sender so the writes below hit the journal
        if msg.to is None and before.nonce != msg.nonce:
            evm.insert_account_info(sender, AccountInfo(balance=before.balance, nonce=msg.nonce))
        outcome = self._run(msg)
        evm.reset_transient_storage()
        if msg.to is None and outcome.contract_address is None:
            outcome.contract_address = create_address(msg.sender, msg.nonce)
        fee = outcome.gas_used * msg.gas_price
        after = evm.basic(sender)
        balance = max(after.balance - fee, 0)
        evm.insert_account_info(sender, AccountInfo(balance=balance, nonce=msg.nonce + 1))
        if fee:
            evm.set_balance(
                self._coinbase, evm.get_balance(self._coinbase) + (after.balance - balance)
            )
        self._settle()
        return outcome

    def call(self, msg: Message) -> Outcome:
        snap = self.evm.snapshot()
        try:
            outcome = self._run(msg)
            if msg.to is None and outcome.success and outcome.contract_address:
                code = self.evm.get_code(_hex(outcome.contract_address))
                outcome.output = bytes(code or b"")
            return outcome
        finally:
            self.evm.revert(snap)
            self.evm.reset_transient_storage()

    def estimate_gas_steps(self, msg: Message) -> Generator[None, None, Outcome]:
        """``estimate_gas`` by binary search, pausing after every probe: each probe may run
        up to the gas cap, so the node's call queue runs other work between them."""
        top = self.call(_with_gas(msg, min(msg.gas, self.gas_limit)))
        if not top.success:
            return top
        lo, hi = max(msg.intrinsic_gas, top.gas_used) - 1, min(msg.gas, self.gas_limit)
        while hi - lo > 1:
            yield
            mid = (lo + hi) // 2
            if self.call(_with_gas(msg, mid)).success:
                hi = mid
            else:
                lo = mid
        top.gas_used = hi
        return top

    # -- reads ---------------------------------------------------------------------------
    def account(self, addr: bytes) -> Account:
        snap = self.evm.snapshot()
        try:
            info = self.evm.basic(_hex(addr))
            code = b""
            if info.code_hash is not None and bytes(info.code_hash).hex() != _EMPTY_CODE_HASH:
                raw = self.evm.get_code(_hex(addr))
                code = trim_code(bytes(raw or b""), bytes(info.code_hash))
            return Account(int(info.balance), int(info.nonce), code)
        finally:
            self.evm.revert(snap)

    def storage_at(self, addr: bytes, slot: int) -> int:
        snap = self.evm.snapshot()
        try:
            return int(self.evm.storage(_hex(addr), slot))
        finally:
            self.evm.revert(snap)

    def touched(self) -> StateDelta:
        return self._since

    def _journal_delta(self) -> StateDelta:
        """Every account and slot in the journal (touched since ``_base``), new values.

        The text holds every touched contract's code in hex: accounts are found with
        ``str.find`` and each account's tail with ``rfind``, so no regex scans the code.
        """
        text = self.evm.journal_str
        end = text.find(", transient_storage: {")
        end = end if end > 0 else len(text)
        heads = []
        at = text.find(_ACCOUNT_HEAD, 0, end)
        while at >= 0:
            heads.append(at - 42)  # the address ("0x" and 40 hex digits) comes just before
            at = text.find(_ACCOUNT_HEAD, at + len(_ACCOUNT_HEAD), end)
        delta = StateDelta()
        for i, head in enumerate(heads):
            stop = heads[i + 1] if i + 1 < len(heads) else end
            m = _ACCOUNT_RE.match(text, head, stop)
            if m is None:
                raise RuntimeError("pyrevm's journal text has an unexpected form")
            addr = bytes.fromhex(m.group(1))
            code = b""
            if m.group(4) != _EMPTY_CODE_HASH:
                code_hash = bytes.fromhex(m.group(4))
                code = self._code_by_hash.get(code_hash, b"")
                if not code and (cm := _CODE_RE.match(text, m.end(), stop)) is not None:
                    code = trim_code(bytes.fromhex(cm.group(1)), code_hash)
            status_at = text.rfind("status: AccountStatus(", head, stop)
            if "SelfDestructed" in text[status_at:stop]:
                delta.accounts[addr] = Account(0, 0, b"")
                continue
            delta.accounts[addr] = Account(int(m.group(2)), int(m.group(3)), code)
            store_at = text.rfind("storage: {", head, status_at)
            if store_at >= 0:
                slots = {int(k): int(v) for k, v in _SLOT_RE.findall(text, store_at, status_at)}
                if slots:
                    delta.storage[addr] = slots
        return delta


def _with_gas(msg: Message, gas: int) -> Message:
    return Message(
        msg.sender, msg.to, msg.data, msg.value, gas, msg.gas_price, msg.nonce, msg.intrinsic_gas
    )


def _logs(logs: Any) -> list[LogEntry]:
    out = []
    for log in logs:
        topics, data = log.data
        addr = bytes.fromhex(log.address[2:])
        out.append(LogEntry(addr, [bytes(t) for t in topics], bytes(data)))
    return out
