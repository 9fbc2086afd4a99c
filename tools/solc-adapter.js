#!/usr/bin/env node
// A native-solc lookalike over npm `solc` (solcjs, wasm), so that py-solc-x, brownie and
// slither can drive the offline compiler. It understands the subset of the native CLI those
// tools use: --version, --standard-json, --combined-json, --allow-paths/--base-path/
// --include-path and remappings (prefix=target). Output goes through process.exitCode rather
// than process.exit(): exit() truncates stdout at 64 KiB when it is a pipe.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

function parseArgs(argv) {
  // Import lookup order follows native solc: base path, then include paths, then allowed
  // paths; the working directory comes last, as the implicit base path.
  const opts = { roots: [], remappings: [], files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const takeValue = () => (a.includes('=') && a.startsWith('--') ? a.split(/=(.*)/s)[1] : argv[++i]);
    if (a === '--version' || a === '-v') opts.version = true;
    else if (a === '--standard-json') opts.standardJson = true;
    else if (a.startsWith('--combined-json')) opts.combined = takeValue().split(',');
    else if (a.startsWith('--base-path')) opts.roots.unshift(takeValue());
    else if (a.startsWith('--include-path') || a.startsWith('--allow-paths')) opts.roots.push(...takeValue().split(','));
    else if (a.startsWith('--evm-version')) opts.evmVersion = takeValue();
    else if (a.startsWith('--optimize-runs')) opts.runs = Number(takeValue());
    else if (a === '--optimize') opts.optimize = true;
    else if (a === '--via-ir') opts.viaIR = true;
    else if (a.startsWith('--')) { /* flags with no effect on output here, e.g. --no-color */ }
    else if (/^[^=]+=.+/.test(a) && !fs.existsSync(a)) opts.remappings.push(a);
    else opts.files.push(a);
  }
  opts.roots.push(process.cwd());
  return opts;
}

function makeImportReader(roots) {
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.resolve(r, importPath));
    for (const file of candidates) {
      if (fs.existsSync(file) && fs.statSync(file).isFile()) return { contents: fs.readFileSync(file, 'utf8') };
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(', ')})` };
  };
}

function compileStandard(input, roots) {
  return JSON.parse(solc.compile(JSON.stringify(input), { import: makeImportReader(roots) }));
}

// --combined-json: translate to standard JSON and back into the shape native solc prints.
function combinedJson(opts) {
  const sources = {};
  for (const f of opts.files) sources[f] = { content: fs.readFileSync(f, 'utf8') };
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      remappings: opts.remappings,
      optimizer: { enabled: !!opts.optimize, runs: opts.runs || 200 },
      viaIR: !!opts.viaIR,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode', 'evm.deployedBytecode', 'evm.methodIdentifiers', 'userdoc', 'devdoc'], '': ['ast'] } },
    },
  };
  if (opts.evmVersion) input.settings.evmVersion = opts.evmVersion;
  const out = compileStandard(input, opts.roots);
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  for (const e of out.errors || []) process.stderr.write((e.formattedMessage || e.message) + '\n');
  if (errors.length) return 1;
  const contracts = {};
  for (const [file, byName] of Object.entries(out.contracts || {})) {
    for (const [name, c] of Object.entries(byName)) {
      contracts[`${file}:${name}`] = {
        abi: c.abi,
        bin: c.evm.bytecode.object,
        'bin-runtime': c.evm.deployedBytecode.object,
        srcmap: c.evm.bytecode.sourceMap || '',
        'srcmap-runtime': c.evm.deployedBytecode.sourceMap || '',
        hashes: c.evm.methodIdentifiers,
        userdoc: c.userdoc,
        devdoc: c.devdoc,
      };
    }
  }
  const sourceList = Object.keys(out.sources || {});
  const srcs = {};
  for (const f of sourceList) srcs[f] = { AST: out.sources[f].ast, id: out.sources[f].id };
  process.stdout.write(JSON.stringify({ contracts, sourceList, sources: srcs, version: solc.version() }));
  return 0;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return 0;
  }
  if (opts.standardJson) {
    const input = JSON.parse(fs.readFileSync(0, 'utf8'));
    process.stdout.write(JSON.stringify(compileStandard(input, opts.roots)));
    return 0;
  }
  if (opts.combined) return combinedJson(opts);
  process.stderr.write('solc-adapter: supported modes are --version, --standard-json and --combined-json\n');
  return 2;
}

process.exitCode = main();
