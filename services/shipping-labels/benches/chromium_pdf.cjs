// The "ERP via headless browser" baseline for labels: one warm Chromium and page, then
// setContent(html) + page.pdf() in a loop for a fixed time. Prints one JSON line.
//
// Usage: NODE_PATH=<dir>/node_modules node chromium_pdf.cjs <labels.html> <seconds> <width> <height> [out.pdf]
// (the Rust bench installs playwright-core@1 into a temporary prefix and runs this.)
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

async function main() {
  const [htmlPath, seconds = '5', width = '100mm', height = '180mm', outPath] = process.argv.slice(2);
  const html = fs.readFileSync(htmlPath, 'utf8');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  const page = await browser.newPage();
  const print = async () => {
    await page.setContent(html);
    return page.pdf({ width, height, printBackground: true });
  };
  let pdf;
  for (let i = 0; i < 3; i++) pdf = await print();
  const start = performance.now();
  const end = start + Number(seconds) * 1000;
  let count = 0;
  while (performance.now() < end) {
    pdf = await print();
    count++;
  }
  const elapsed = (performance.now() - start) / 1000;
  if (outPath) fs.writeFileSync(outPath, pdf);
  await browser.close();
  console.log(JSON.stringify({ rate: count / elapsed, count, seconds: elapsed, pdf_bytes: pdf.length }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
