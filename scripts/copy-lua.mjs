// Lua scripts are read at run time next to the compiled dedup-store, so copy them into dist.
import { cpSync } from 'node:fs';
cpSync(new URL('../src/store/lua', import.meta.url), new URL('../dist/src/store/lua', import.meta.url), { recursive: true });
