// Compiles Cairn's contracts with the pinned solcjs (package-lock.json) and writes one artifact
// per contract to contracts/artifacts/<Name>.json: { contractName, abi, bytecode, deployedBytecode }.
//
//   node contracts/build.mjs           write the artifacts
//   node contracts/build.mjs --check   exit 1 if the checked-in artifacts differ from the sources
//
// Run through `cargo xtask contracts` (which also installs the npm tools first).
import { readFileSync, writeFileSync, readdirSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const srcDir = join(here, "src");
const outDir = join(here, "artifacts");
const CONTRACTS = ["CairnToken", "Registry", "StorageMarket"];

const sources = {};
for (const file of readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[`src/${file}`] = { content: readFileSync(join(srcDir, file), "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "ipfs" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

function findImports(path) {
  for (const base of [here, join(root, "node_modules")]) {
    const candidate = join(base, path);
    if (existsSync(candidate)) return { contents: readFileSync(candidate, "utf8") };
  }
  return { error: `import not found: ${path} (run \`cargo xtask setup\` to install @openzeppelin/contracts)` };
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
// Dependencies' warnings are theirs to fix; ours are printed.
for (const e of output.errors ?? []) {
  if (e.severity === "error" || (e.sourceLocation?.file ?? "").startsWith("src/")) console.error(e.formattedMessage);
}
if (errors.length > 0) {
  console.error(`solc ${solc.version()}: ${errors.length} error(s)`);
  process.exit(1);
}

const check = process.argv.includes("--check");
let stale = [];
mkdirSync(outDir, { recursive: true });
for (const name of CONTRACTS) {
  const compiled = output.contracts[`src/${name}.sol`]?.[name];
  if (!compiled) {
    console.error(`no contract ${name} in the compiler output`);
    process.exit(1);
  }
  const artifact = {
    contractName: name,
    compiler: `solc ${solc.version()}`,
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
  };
  const text = JSON.stringify(artifact, null, 2) + "\n";
  const path = join(outDir, `${name}.json`);
  if (check) {
    const current = existsSync(path) ? readFileSync(path, "utf8") : "";
    if (current !== text) stale.push(path);
  } else {
    writeFileSync(path, text);
    console.log(`${name}: ${(compiled.evm.deployedBytecode.object.length / 2) | 0} bytes deployed -> ${path}`);
  }
}
if (check) {
  if (stale.length > 0) {
    console.error(`stale artifacts (sources changed; run \`cargo xtask contracts\`):\n  ${stale.join("\n  ")}`);
    process.exit(1);
  }
  console.log("contract artifacts match the sources");
}
