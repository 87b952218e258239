// Patient wallet: placeholder that proves the bundle (ethers v6 from node_modules) loads.
import { Wallet } from "ethers";

const root = document.getElementById("app");
root.textContent = `wallet ready (ethers ${Wallet.name})`;
root.dataset.ready = "true";
