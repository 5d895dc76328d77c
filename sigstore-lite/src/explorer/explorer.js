// The explorer's only script: it re-checks, in the browser, the proofs the server showed
// (RFC 6962 / RFC 9162 inclusion and consistency proofs, SHA-256 with WebCrypto). Data comes
// from data- attributes; nothing is fetched and nothing from the log is turned into markup.
"use strict";

function hexToBytes(h) {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16);
  return out;
}
function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
function b64ToBytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
async function sha256(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const all = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}
const leafHash = (body) => sha256([new Uint8Array([0]), body]);
const nodeHash = (l, r) => sha256([new Uint8Array([1]), l, r]);
const odd = (x) => x % 2 === 1;
const half = (x) => Math.floor(x / 2);
function short(h) { return h.slice(0, 16) + "…"; }
function item(list, text) {
  const li = document.createElement("li");
  li.textContent = text;
  list.appendChild(li);
}

// RFC 9162 2.1.3.2, drawing each step from the leaf to the root.
async function checkInclusion(sec) {
  const verdict = document.getElementById("proof-verdict");
  const path = document.getElementById("path");
  const index = Number(sec.dataset.index), size = Number(sec.dataset.size);
  const root = sec.dataset.root.toLowerCase();
  const hashes = sec.dataset.hashes ? sec.dataset.hashes.split(",") : [];
  let r = await leafHash(b64ToBytes(sec.dataset.body));
  path.textContent = "";
  item(path, "leaf " + index + ": SHA-256(0x00 ‖ body) = " + short(bytesToHex(r)));
  let fn = index, sn = size - 1;
  if (index >= size) { verdict.textContent = "FAILED: the index is outside the tree"; return; }
  for (const [k, h] of hashes.entries()) {
    if (sn === 0) { verdict.textContent = "FAILED: the proof is too long"; return; }
    const p = hexToBytes(h);
    if (odd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      item(path, "level " + (k + 1) + ": SHA-256(0x01 ‖ left sibling " + short(h) + " ‖ node) = " + short(bytesToHex(r)));
      if (!odd(fn)) { while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); } }
    } else {
      r = await nodeHash(r, p);
      item(path, "level " + (k + 1) + ": SHA-256(0x01 ‖ node ‖ right sibling " + short(h) + ") = " + short(bytesToHex(r)));
    }
    fn = half(fn); sn = half(sn);
  }
  const got = bytesToHex(r);
  item(path, "root: " + got);
  const cpRoot = (sec.dataset.checkpointRoot || "").toLowerCase();
  const cpSize = Number(sec.dataset.checkpointSize || "0");
  if (sn !== 0 || got !== root) {
    verdict.textContent = "FAILED: the path leads to " + short(got) + ", not the root " + short(root);
    verdict.className = "bad";
  } else if (cpRoot && (cpRoot !== root || cpSize !== size)) {
    verdict.textContent = "FAILED: the proof's root is not the signed checkpoint's";
    verdict.className = "bad";
  } else {
    verdict.textContent = "verified: the path from this body leads to the root hash of the signed checkpoint (tree of " + size + ")";
    verdict.className = "good";
  }
}

// RFC 9162 2.1.4.2.
async function checkConsistency(sec) {
  const verdict = document.getElementById("consistency-verdict");
  const first = Number(sec.dataset.first), second = Number(sec.dataset.second);
  const r1 = sec.dataset.firstRoot.toLowerCase(), r2 = sec.dataset.secondRoot.toLowerCase();
  let proof = (sec.dataset.hashes ? sec.dataset.hashes.split(",") : []).map(hexToBytes);
  const fail = (why) => { verdict.textContent = "FAILED: " + why; verdict.className = "bad"; };
  if (first === 0 || first >= second) return fail("sizes out of order");
  if ((first & (first - 1)) === 0) proof = [hexToBytes(r1)].concat(proof);
  if (proof.length === 0) return fail("empty proof");
  let fn = first - 1, sn = second - 1;
  while (odd(fn)) { fn = half(fn); sn = half(sn); }
  let fr = proof[0], sr = proof[0];
  for (const c of proof.slice(1)) {
    if (sn === 0) return fail("the proof is too long");
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (!odd(fn)) { while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); } }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = half(fn); sn = half(sn);
  }
  if (sn !== 0 || bytesToHex(fr) !== r1 || bytesToHex(sr) !== r2) return fail("the trees are not consistent");
  verdict.textContent = "consistent: the tree of " + first + " is a prefix of the tree of " + second;
  verdict.className = "good";
}

window.addEventListener("DOMContentLoaded", () => {
  const p = document.getElementById("proof");
  if (p) checkInclusion(p).catch((e) => { document.getElementById("proof-verdict").textContent = "FAILED: " + e; });
  const c = document.getElementById("consistency");
  if (c) checkConsistency(c).catch((e) => { document.getElementById("consistency-verdict").textContent = "FAILED: " + e; });
});
