// The `mizzen` executable's entry (bin/mizzen imports it: dist/js/cli/run.js compiled, or this file through tsx).
import { main } from './main.js';

const code = await main(process.argv);
if (code !== 0) process.exitCode = code;
