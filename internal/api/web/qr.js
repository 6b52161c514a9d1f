// A small QR code encoder for the cashier page: a provider's payment URL
// becomes a code the customer scans with a phone. No external assets, so the
// page keeps its strict CSP and works on a till without internet.
// Byte mode (UTF-8), error correction level M, versions 1-10 (up to 213
// bytes, more than any payment URL), one fixed mask (any mask is valid
// for readers; the lowest-penalty choice only helps poor print).
"use strict";
(function (root) {
  // Level M: [EC codewords per block, [blocks, data codewords]...] per version.
  const BLOCKS = [null,
    [10, [1, 16]], [16, [1, 28]], [26, [1, 44]], [18, [2, 32]], [24, [2, 43]],
    [16, [4, 27]], [18, [4, 31]], [22, [2, 38], [2, 39]], [22, [3, 36], [2, 37]], [26, [4, 43], [1, 44]]];
  const ALIGN = [null, [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]];
  const MASK = 0;

  function gfMul(x, y) {
    let z = 0;
    for (let i = 7; i >= 0; i--) {
      z = (z << 1) ^ ((z >>> 7) * 0x11d);
      z ^= ((y >>> i) & 1) * x;
    }
    return z & 0xff;
  }

  function rsDivisor(degree) {
    const r = new Array(degree).fill(0);
    r[degree - 1] = 1;
    let rootv = 1;
    for (let i = 0; i < degree; i++) {
      for (let j = 0; j < degree; j++) {
        r[j] = gfMul(r[j], rootv);
        if (j + 1 < degree) r[j] ^= r[j + 1];
      }
      rootv = gfMul(rootv, 2);
    }
    return r;
  }

  function rsRemainder(data, div) {
    const r = new Array(div.length).fill(0);
    for (const b of data) {
      const f = b ^ r.shift();
      r.push(0);
      for (let i = 0; i < div.length; i++) r[i] ^= gfMul(div[i], f);
    }
    return r;
  }

  function dataCapacity(v) {
    let n = 0;
    for (const [count, len] of BLOCKS[v].slice(1)) n += count * len;
    return n;
  }

  // codewords returns the version and the interleaved data and EC codewords.
  function codewords(bytes) {
    let v = 1;
    for (; v <= 10; v++) {
      const countBits = v < 10 ? 8 : 16;
      if (4 + countBits + bytes.length * 8 <= dataCapacity(v) * 8) break;
    }
    if (v > 10) throw new Error("QR: text too long");
    const cap = dataCapacity(v);
    const bits = [];
    const put = (val, n) => { for (let i = n - 1; i >= 0; i--) bits.push((val >>> i) & 1); };
    put(4, 4);
    put(bytes.length, v < 10 ? 8 : 16);
    for (const b of bytes) put(b, 8);
    put(0, Math.min(4, cap * 8 - bits.length));
    while (bits.length % 8) bits.push(0);
    const data = [];
    for (let i = 0; i < bits.length; i += 8) data.push(parseInt(bits.slice(i, i + 8).join(""), 2));
    for (let pad = 0xec; data.length < cap; pad ^= 0xec ^ 0x11) data.push(pad);

    const ecLen = BLOCKS[v][0];
    const div = rsDivisor(ecLen);
    const blocks = [];
    let k = 0;
    for (const [count, len] of BLOCKS[v].slice(1)) {
      for (let i = 0; i < count; i++) {
        const d = data.slice(k, k + len);
        k += len;
        blocks.push({ d, e: rsRemainder(d, div) });
      }
    }
    const out = [];
    const maxLen = Math.max(...blocks.map((b) => b.d.length));
    for (let i = 0; i < maxLen; i++) for (const b of blocks) if (i < b.d.length) out.push(b.d[i]);
    for (let i = 0; i < ecLen; i++) for (const b of blocks) out.push(b.e[i]);
    return { v, out };
  }

  // matrix returns the modules (true: dark) of text's QR code, without the
  // quiet zone.
  function matrix(text) {
    const { v, out } = codewords(Array.from(new TextEncoder().encode(text)));
    const size = v * 4 + 17;
    const mod = Array.from({ length: size }, () => new Array(size).fill(false));
    const fn = Array.from({ length: size }, () => new Array(size).fill(false));
    const set = (x, y, dark) => { mod[y][x] = dark; fn[y][x] = true; };

    for (let i = 0; i < size; i++) { set(6, i, i % 2 === 0); set(i, 6, i % 2 === 0); }
    for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]]) {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const x = cx + dx, y = cy + dy;
          if (x < 0 || y < 0 || x >= size || y >= size) continue;
          const d = Math.max(Math.abs(dx), Math.abs(dy));
          set(x, y, d !== 2 && d !== 4);
        }
      }
    }
    const al = ALIGN[v], last = al.length - 1;
    for (let i = 0; i < al.length; i++) {
      for (let j = 0; j < al.length; j++) {
        if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) continue;
        for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) set(al[i] + dx, al[j] + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }
    // Format information (level M is 00), both copies, and the dark module.
    const fdata = (0 << 3) | MASK;
    let rem = fdata;
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    const fbits = ((fdata << 10) | rem) ^ 0x5412;
    const fb = (i) => ((fbits >>> i) & 1) === 1;
    for (let i = 0; i <= 5; i++) set(8, i, fb(i));
    set(8, 7, fb(6)); set(8, 8, fb(7)); set(7, 8, fb(8));
    for (let i = 9; i < 15; i++) set(14 - i, 8, fb(i));
    for (let i = 0; i < 8; i++) set(size - 1 - i, 8, fb(i));
    for (let i = 8; i < 15; i++) set(8, size - 15 + i, fb(i));
    set(8, size - 8, true);
    if (v >= 7) {
      let r = v;
      for (let i = 0; i < 12; i++) r = (r << 1) ^ ((r >>> 11) * 0x1f25);
      const vbits = (v << 12) | r;
      for (let i = 0; i < 18; i++) {
        const bit = ((vbits >>> i) & 1) === 1, a = size - 11 + (i % 3), b = Math.floor(i / 3);
        set(a, b, bit); set(b, a, bit);
      }
    }
    // Data in the zigzag, two columns at a time from the right, masked.
    let i = 0;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (let vert = 0; vert < size; vert++) {
        for (let j = 0; j < 2; j++) {
          const x = right - j;
          const up = ((right + 1) & 2) === 0;
          const y = up ? size - 1 - vert : vert;
          if (fn[y][x]) continue;
          let dark = false;
          if (i < out.length * 8) { dark = ((out[i >>> 3] >>> (7 - (i & 7))) & 1) === 1; i++; }
          if ((x + y) % 2 === 0) dark = !dark; // mask 0
          mod[y][x] = dark;
        }
      }
    }
    return mod;
  }

  // svg returns an <svg> of text's code with a 4-module quiet zone, scale
  // pixels per module.
  function svg(text, scale) {
    const m = matrix(text);
    const n = m.length + 8;
    const NS = "http://www.w3.org/2000/svg";
    const s = document.createElementNS(NS, "svg");
    s.setAttribute("viewBox", "0 0 " + n + " " + n);
    s.setAttribute("width", String(n * scale));
    s.setAttribute("height", String(n * scale));
    s.setAttribute("shape-rendering", "crispEdges");
    s.setAttribute("aria-hidden", "true");
    const bg = document.createElementNS(NS, "rect");
    bg.setAttribute("width", String(n)); bg.setAttribute("height", String(n)); bg.setAttribute("fill", "#fff");
    let d = "";
    for (let y = 0; y < m.length; y++) for (let x = 0; x < m.length; x++) if (m[y][x]) d += "M" + (x + 4) + " " + (y + 4) + "h1v1h-1z";
    const p = document.createElementNS(NS, "path");
    p.setAttribute("d", d); p.setAttribute("fill", "#000");
    s.append(bg, p);
    return s;
  }

  const api = { matrix, svg };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.posdQR = api;
})(typeof window !== "undefined" ? window : globalThis);
