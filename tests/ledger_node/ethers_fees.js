// ethers v6's fee defaults against the ledger node, from a member holding no balance.
// Usage: node ethers_fees.js URL PRIVATE_KEY PROBE_JSON  (prints one JSON line)
const { ethers } = require("ethers");
const fs = require("fs");

async function main() {
  const [url, key, artifactPath] = process.argv.slice(2);
  const artifact = JSON.parse(fs.readFileSync(artifactPath, "utf8"));
  const provider = new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true });
  const wallet = new ethers.NonceManager(new ethers.Wallet(key, provider));
  const fees = await provider.getFeeData();
  const sink = "0x" + "22".repeat(20);
  // 1. nothing said about fees: ethers picks them (getFeeData)
  const plain = await (await wallet.sendTransaction({ to: sink })).wait();
  // 2. mainnet-style code: EIP-1559 with ethers' own default tip of 1 gwei
  const tip = ethers.parseUnits("1", "gwei");
  const tipped = await (
    await wallet.sendTransaction({ to: sink, type: 2, maxPriorityFeePerGas: tip, maxFeePerGas: 2n * tip })
  ).wait();
  // 3. a contract deployed and called with the defaults
  const probe = await new ethers.ContractFactory(artifact.abi, artifact.bytecode, wallet).deploy();
  await probe.waitForDeployment();
  const bumped = await (await probe.bump(3, "0x12")).wait();
  const balance = await provider.getBalance(await wallet.getAddress());
  console.log(JSON.stringify({
    statuses: [plain.status, tipped.status, bumped.status],
    tippedType: tipped.type,
    tippedPrice: tipped.gasPrice.toString(),
    total: (await probe.total()).toString(),
    balance: balance.toString(),
    feeData: { gasPrice: String(fees.gasPrice), maxFeePerGas: String(fees.maxFeePerGas) },
  }));
}
main().catch((e) => { console.error(e.shortMessage || e.message); process.exit(1); });
