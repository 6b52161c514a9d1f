// Reads QR symbols with jsQR, a third-party decoder, for TestQRWithJSQR.
// Input (stdin): JSON [{"size": n, "modules": "0101..."}] row by row.
// Output: JSON [{"data": text, "eci": [numbers], "version": v}] or null
// for a symbol jsQR cannot read.
'use strict';
const path = require('path');
const jsQR = require(path.join(__dirname, 'node_modules', 'jsqr'));
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map(({ size, modules }) => {
    const scale = 4, quiet = 4, w = (size + 2 * quiet) * scale;
    const img = new Uint8ClampedArray(w * w * 4).fill(255);
    for (let y = 0; y < w; y++) {
      for (let x = 0; x < w; x++) {
        const mx = Math.floor(x / scale) - quiet, my = Math.floor(y / scale) - quiet;
        if (mx >= 0 && my >= 0 && mx < size && my < size && modules[my * size + mx] === '1') {
          const o = (y * w + x) * 4;
          img[o] = img[o + 1] = img[o + 2] = 0;
        }
      }
    }
    const r = jsQR(img, w, w);
    if (!r) return null;
    return { data: r.data, eci: r.chunks.filter((c) => c.type === 'eci').map((c) => c.assignmentNumber), version: r.version };
  });
  process.stdout.write(JSON.stringify(out));
});
