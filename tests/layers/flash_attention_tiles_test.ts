/**
 * The GPU form of flash attention at head size 8 with every tile form (see _flash_gpu.ts): the launcher's tiles,
 * 64-column blocks (KPT = 8), the tiles of a 48 KiB device (the production path: 64-row forward), and 16 and 32 threads
 * per row group. A file of its own so that `deno test --parallel` compiles these shaders beside the other files'.
 */
import { flashGpuTest } from "./_flash_gpu.ts";

flashGpuTest(8);
