// Sign-In with Ethereum (EIP-4361): the same message layout as sharing_api/auth/siwe.py.
import { api, setToken } from "./api.js";

function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function siweMessage({ domain, address, statement, uri, chainId, nonce, issuedAt, expiresAt }) {
  const lines = [`${domain} wants you to sign in with your Ethereum account:`, address, ""];
  if (statement) lines.push(statement, "");
  lines.push(
    `URI: ${uri}`,
    "Version: 1",
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Issued At: ${rfc3339(issuedAt)}`,
  );
  if (expiresAt) lines.push(`Expiration Time: ${rfc3339(expiresAt)}`);
  return lines.join("\n");
}

// Sign in with an ethers Signer; stores and returns the API's token response. `pseudonyms`:
// a patient's pairwise pseudonyms (Signers), each signing the same message, so the one
// token covers every one of them (POST /auth/login `pseudonyms`).
export async function signIn(signer, statement = "Sign in to AllianceLedger.", pseudonyms = []) {
  const { nonce, domain, chain_id: chainId } = await api("/auth/nonce", { method: "POST" });
  const now = new Date();
  const message = siweMessage({
    domain,
    address: await signer.getAddress(),
    statement,
    uri: window.location.origin,
    chainId,
    nonce,
    issuedAt: now,
    expiresAt: new Date(now.getTime() + 5 * 60 * 1000),
  });
  const signature = await signer.signMessage(message);
  const body = { message, signature };
  if (pseudonyms.length) {
    body.pseudonyms = await Promise.all(pseudonyms.map(async (p) => ({
      address: await p.getAddress(),
      signature: await p.signMessage(message),
    })));
  }
  const session = await api("/auth/login", { method: "POST", body });
  setToken(session.access_token);
  return session;
}
