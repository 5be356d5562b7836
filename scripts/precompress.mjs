// Writes a brotli (FILE.br) and a gzip (FILE.gz) copy beside every file
// under DIR, for the frontend to serve as the browser accepts
// (frontend/src/assets). Node's zlib: no package to install, and offline.
//
// Usage: node scripts/precompress.mjs DIR [fast]
// `fast` (dev builds) trades ~20% size for seconds instead of a minute.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const [dir, mode] = process.argv.slice(2);
if (!dir) {
    console.error("usage: precompress.mjs DIR [fast]");
    process.exit(2);
}
const fast = mode === "fast";

for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || /\.(br|gz)$/.test(entry.name)) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    const data = readFileSync(path);
    writeFileSync(`${path}.br`, brotliCompressSync(data, {
        params: {
            [constants.BROTLI_PARAM_QUALITY]: fast ? 5 : constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
            [constants.BROTLI_PARAM_LGWIN]: constants.BROTLI_MAX_WINDOW_BITS,
        },
    }));
    writeFileSync(`${path}.gz`, gzipSync(data, { level: fast ? 6 : 9 }));
}
