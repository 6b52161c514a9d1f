// Encodes the receipt in receipt20.json N times with node-thermal-printer's
// buffer-building API (no device: the printer has no interface) and prints
// the rate, by wall clock and by process CPU time. Run by escpos-compare.sh.
'use strict';
const fs = require('fs');
const path = require('path');
const { ThermalPrinter, PrinterTypes, CharacterSet } = require(path.join(__dirname, 'node_modules', 'node-thermal-printer'));

const n = parseInt(process.argv[2] || '2000', 10);
const doc = JSON.parse(fs.readFileSync(process.argv[3] || path.join(__dirname, 'receipt20.json'), 'utf8'));

// Amounts are exact decimal strings: work in öre, as posd does.
const ore = (s) => { const neg = s.startsWith('-'); const [i, f = '0'] = s.replace('-', '').split('.'); const v = parseInt(i, 10) * 100 + parseInt((f + '00').slice(0, 2), 10); return neg ? -v : v; };
const fmt = (v) => { const neg = v < 0; v = Math.abs(v); return (neg ? '-' : '') + Math.floor(v / 100) + '.' + String(v % 100).padStart(2, '0'); };
const vatPart = (gross, rate) => Math.floor((2 * gross * rate + (100 + rate)) / (2 * (100 + rate)));
const dateFmt = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });

const p = new ThermalPrinter({ type: PrinterTypes.EPSON, characterSet: CharacterSet.PC858_EURO, width: 48 });

function build() {
  p.clear();
  p.alignCenter();
  p.bold(true);
  p.setTextQuadArea();
  p.println(doc.header[0]);
  p.setTextNormal();
  p.bold(false);
  for (const h of doc.header.slice(1)) p.println(h);
  p.alignLeft();
  p.newLine();
  p.leftRight(dateFmt.format(new Date(doc.time)), 'Kvitto ' + doc.saleId);
  p.drawLine();
  const perRate = new Map();
  for (const r of doc.rows) {
    const total = ore(r.total);
    p.leftRight(r.description, fmt(total) + ' ' + (r.taxRate + '%').padStart(3));
    if (r.quantity !== '1') p.println('  ' + r.quantity + ' x ' + r.unitPrice);
    const rate = parseInt(r.taxRate, 10);
    perRate.set(rate, (perRate.get(rate) || 0) + total);
  }
  p.drawLine();
  p.bold(true);
  p.setTextDoubleHeight();
  p.leftRight('TOTALT ' + doc.currency, doc.total);
  p.setTextNormal();
  p.bold(false);
  p.newLine();
  p.tableCustom([{ text: 'Moms %', align: 'LEFT', cols: 12 }, { text: 'Moms', align: 'RIGHT', cols: 12 }, { text: 'Netto', align: 'RIGHT', cols: 12 }, { text: 'Brutto', align: 'RIGHT', cols: 12 }]);
  for (const [rate, gross] of [...perRate.entries()].sort((a, b) => b[0] - a[0])) {
    const vat = vatPart(gross, rate);
    p.tableCustom([{ text: String(rate), align: 'LEFT', cols: 12 }, { text: fmt(vat), align: 'RIGHT', cols: 12 }, { text: fmt(gross - vat), align: 'RIGHT', cols: 12 }, { text: fmt(gross), align: 'RIGHT', cols: 12 }]);
  }
  p.drawLine();
  for (const pay of doc.payments) {
    p.leftRight(pay.method, pay.amount);
    if (pay.reference) p.println('  Ref ' + pay.reference);
  }
  p.newLine();
  p.alignCenter();
  if (doc.barcode) p.code128(doc.barcode, { hriPos: 2, width: 2, height: 80 });
  p.newLine();
  for (const f of doc.footer || []) p.println(f);
  p.alignLeft();
  p.partialCut();
  return p.getBuffer();
}

for (let i = 0; i < 200; i++) build(); // warm up the JIT
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let len = 0;
for (let i = 0; i < n; i++) len = build().length;
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const c = process.cpuUsage(cpu0);
const cpu = (c.user + c.system) / 1e6;
console.log(`node-thermal-printer ${require(path.join(__dirname, 'node_modules', 'node-thermal-printer', 'package.json')).version}: ${n} receipts (${len} bytes each) in ${wall.toFixed(3)} s wall, ${cpu.toFixed(3)} s cpu`);
console.log(`node_rate_wall=${(n / wall).toFixed(0)}`);
console.log(`node_rate_cpu=${(n / cpu).toFixed(0)}`);
