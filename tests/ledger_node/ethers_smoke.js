// ethers v6 against the ledger node: deploy Probe, send a tx, read, query logs, revert data.
// Usage: node ethers_smoke.js URL PRIVATE_KEY PROBE_JSON  (prints one JSON line)
const { ethers } = require("ethers");
const fs = require("fs");

async function main() {
  const [url, key, artifactPath] = process.argv.slice(2);
  const artifact = JSON.parse(fs.readFileSync(artifactPath, "utf8"));
  const provider = new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true });
  // ethers v6 caches identical RPC answers for 250 ms, so a second tx sent right after the
  // first is mined would reuse the stale "pending" nonce: NonceManager counts locally.
  const wallet = new ethers.NonceManager(new ethers.Wallet(key, provider));
  const factory = new ethers.ContractFactory(artifact.abi, artifact.bytecode, wallet);
  const probe = await factory.deploy();
  await probe.waitForDeployment();
  const tx = await probe.bump(9, "0x1234");
  const receipt = await tx.wait();
  const total = await probe.total();
  const logs = await provider.getLogs({ address: await probe.getAddress(), fromBlock: 0 });
  let revertName = null;
  try {
    await probe.bump.staticCall(5000, "0x");
  } catch (e) {
    revertName = e.revert ? e.revert.name : String(e.shortMessage || e.message);
  }
  const block = await provider.getBlock(receipt.blockNumber, true);
  console.log(JSON.stringify({
    status: receipt.status, total: total.toString(), logs: logs.length, revert: revertName,
    blockTxs: block.prefetchedTransactions.length, chainId: (await provider.getNetwork()).chainId.toString(),
  }));
}
main().catch((e) => { console.error(e); process.exit(1); });
