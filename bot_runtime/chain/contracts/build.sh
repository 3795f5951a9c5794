#!/bin/sh
# Reproduces FillEmitter.json (ABI + bytecode) from FillEmitter.sol with the npm solc package.
# Run from anywhere: sh bot_runtime/chain/contracts/build.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
cd "$WORK"
npm install --silent --no-audit --no-fund solc@0.8.28 >/dev/null
cat > compile.js <<'JS'
const solc = require('solc');
const fs = require('fs');
const src = fs.readFileSync(process.argv[2], 'utf8');
const input = {language: 'Solidity', sources: {'FillEmitter.sol': {content: src}},
  settings: {optimizer: {enabled: true, runs: 200}, viaIR: true, evmVersion: 'paris',
             outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}}}};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
for (const e of out.errors || []) { if (e.severity === 'error') { console.error(e.formattedMessage); process.exit(1); } }
const c = out.contracts['FillEmitter.sol']['FillEmitter'];
fs.writeFileSync(process.argv[3], JSON.stringify({contractName: 'FillEmitter', compiler: 'solc ' + solc.version(),
  settings: input.settings, abi: c.abi, bytecode: '0x' + c.evm.bytecode.object}, null, 1) + '\n');
JS
node compile.js "$HERE/FillEmitter.sol" "$HERE/FillEmitter.json"
rm -rf "$WORK"
echo "wrote $HERE/FillEmitter.json"
